"""The DebugService calls of MtlClient, and the snapshots and profiles they assemble from streams.

Torch is imported only inside `Snapshot.tensors()` and `Snapshot.save()`, so the
client package imports (and every other call works) on machines without torch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from mtl.v1 import debug_pb2, debug_pb2_grpc, debug_types_pb2
from mtl_service.client.errors import ClientError
from mtl_service.client.tensor_files import save_tensors

if TYPE_CHECKING:
    from torch import Tensor

BREAKPOINT_ACTIONS = {
    "pause": debug_types_pb2.BREAKPOINT_ACTION_PAUSE,
    "snapshot": debug_types_pb2.BREAKPOINT_ACTION_SNAPSHOT,
    "log": debug_types_pb2.BREAKPOINT_ACTION_LOG,
}


def _broken_stream(what: str) -> ClientError:
    return ClientError(grpc.StatusCode.DATA_LOSS, f"{what}; try the call again", [])


@dataclass(slots=True)
class Snapshot:
    """Tensors of a job at one step boundary: statistics always, raw data when asked for.

    `infos` maps prefixed names ("grad:trunk.0.weight") to dtype, shape and
    statistics; `data` holds each tensor's raw bytes (C order, little endian),
    or is None when the snapshot was taken without data.

    Example:
        >>> snapshot = client.snapshot(job_id, ["grad:trunk.*"], include_data=True)
        >>> snapshot.infos["grad:trunk.0.weight"].stats.l2_norm
        >>> snapshot.save("grads.safetensors")
    """

    step: int
    infos: dict[str, debug_types_pb2.TensorInfo]
    data: dict[str, bytearray] | None = None

    @classmethod
    def from_responses(
        cls, responses: Iterable[debug_pb2.SnapshotTensorsResponse], *, include_data: bool
    ) -> Snapshot:
        """Assemble a SnapshotTensors stream: `step` first, then each tensor's
        TensorInfo followed by its chunks in offset order. ClientError (DATA_LOSS)
        when the stream breaks that order or delivers the wrong number of bytes."""
        step: int | None = None
        infos: dict[str, debug_types_pb2.TensorInfo] = {}
        buffers: dict[str, bytearray] = {}
        for response in responses:
            kind = response.WhichOneof("payload")
            if kind == "step":
                step = response.step
            elif kind == "tensor":
                if response.tensor.name in infos:
                    raise _broken_stream(f"snapshot sent tensor {response.tensor.name!r} twice")
                infos[response.tensor.name] = response.tensor
                buffers[response.tensor.name] = bytearray()
            elif kind == "chunk":
                _append_chunk(buffers, response.chunk)
        if step is None:
            raise _broken_stream("snapshot stream ended without its step")
        for name, info in infos.items():
            if include_data and len(buffers[name]) != info.num_bytes:
                raise _broken_stream(
                    f"snapshot sent {len(buffers[name])} of {info.num_bytes} bytes of {name!r}"
                )
        return cls(step=step, infos=infos, data=buffers if include_data else None)

    @property
    def num_bytes(self) -> int:
        """Bytes of tensor data the snapshot holds (0 without data)."""
        return sum(len(raw) for raw in (self.data or {}).values())

    def tensors(self) -> dict[str, Tensor]:
        """The tensors by name, on the CPU, as copies independent of this snapshot."""
        if self.data is None:
            raise ValueError("this snapshot has no data: take it with include_data=True")
        return {name: _to_tensor(self.infos[name], raw) for name, raw in self.data.items()}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the tensors to a `.safetensors` or `.pt` file (see tensor_files)."""
        save_tensors(path, self.tensors())


def _append_chunk(buffers: dict[str, bytearray], chunk: debug_types_pb2.TensorChunk) -> None:
    buffer = buffers.get(chunk.name)
    if buffer is None:
        raise _broken_stream(f"snapshot sent data of {chunk.name!r} before its TensorInfo")
    if chunk.offset != len(buffer):
        raise _broken_stream(
            f"snapshot sent {chunk.name!r} at offset {chunk.offset}, expected {len(buffer)}"
        )
    buffer.extend(chunk.data)


def _to_tensor(info: debug_types_pb2.TensorInfo, raw: bytearray) -> Tensor:
    import torch

    dtype = getattr(torch, info.dtype, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"{info.name}: unknown dtype {info.dtype!r}")
    shape = tuple(info.shape)
    expected_bytes = math.prod(shape) * dtype.itemsize
    if len(raw) != expected_bytes:
        raise ValueError(
            f"{info.name}: {len(raw)} bytes for a {info.dtype} tensor of shape {list(shape)}, "
            f"expected {expected_bytes}"
        )
    if not raw:
        return torch.empty(shape, dtype=dtype)
    # torch reads the buffer in native order; every platform torch ships for is little endian.
    return torch.frombuffer(raw, dtype=dtype).reshape(shape).clone()


def assemble_profile(
    responses: Iterable[debug_pb2.CaptureProfileResponse],
) -> tuple[bytes, debug_pb2.ProfileSummary]:
    """Join a CaptureProfile stream: trace chunks in order, then the summary last."""
    chunks: list[bytes] = []
    summary: debug_pb2.ProfileSummary | None = None
    for response in responses:
        if summary is not None:
            raise _broken_stream("profile stream went on after its summary")
        if response.HasField("summary"):
            summary = response.summary
        else:
            chunks.append(response.trace_chunk)
    if summary is None:
        raise _broken_stream("profile stream ended without its summary")
    trace = b"".join(chunks)
    if len(trace) != summary.trace_bytes:
        raise _broken_stream(f"profile sent {len(trace)} of {summary.trace_bytes} trace bytes")
    return trace, summary


class DebugCalls:
    """The DebugService calls; MtlClient mixes them in and supplies the stub and the wrappers.

    Every call runs at the job's next step boundary (a slow step delays the
    answer), so they use `debug_timeout_seconds`, at least two minutes.
    """

    debug: debug_pb2_grpc.DebugServiceStub
    debug_timeout_seconds: float
    _call: Callable[..., Any]
    _stream: Callable[..., Iterator[Any]]

    def set_breakpoint(
        self,
        job_id: str,
        condition: str,
        *,
        action: str = "pause",
        snapshot_selectors: Sequence[str] = (),
        max_hits: int = 0,
        every_n_steps: int = 0,
    ) -> debug_types_pb2.Breakpoint:
        """Arm `condition` (e.g. "loss.depth > 3") with action pause, snapshot or log."""
        if action not in BREAKPOINT_ACTIONS:
            choices = ", ".join(BREAKPOINT_ACTIONS)
            raise ValueError(f"unknown action {action!r}; choose from {choices}")
        breakpoint = debug_types_pb2.Breakpoint(
            condition=condition,
            action=BREAKPOINT_ACTIONS[action],
            snapshot_selectors=list(snapshot_selectors),
            max_hits=max_hits,
            every_n_steps=every_n_steps,
        )
        request = debug_pb2.SetBreakpointRequest(job_id=job_id, breakpoint=breakpoint)
        return self._debug_call(self.debug.SetBreakpoint, request).breakpoint

    def list_breakpoints(self, job_id: str) -> list[debug_types_pb2.Breakpoint]:
        request = debug_pb2.ListBreakpointsRequest(job_id=job_id)
        return list(self._debug_call(self.debug.ListBreakpoints, request).breakpoints)

    def delete_breakpoint(self, job_id: str, breakpoint_id: str) -> None:
        request = debug_pb2.DeleteBreakpointRequest(job_id=job_id, breakpoint_id=breakpoint_id)
        self._debug_call(self.debug.DeleteBreakpoint, request)

    def pause(self, job_id: str) -> int:
        """Pause at the next step boundary; the step it paused at."""
        request = debug_pb2.PauseJobRequest(job_id=job_id)
        return self._debug_call(self.debug.PauseJob, request).step

    def resume(self, job_id: str, *, skip_optimizer_step: bool = False) -> int:
        """Let a paused job go on, optionally dropping the paused step's optimizer update."""
        request = debug_pb2.ResumeJobRequest(job_id=job_id, skip_optimizer_step=skip_optimizer_step)
        return self._debug_call(self.debug.ResumeJob, request).step

    def step(self, job_id: str, num_steps: int, *, skip_optimizer_step: bool = False) -> int:
        """Run a paused job `num_steps` steps; the step it paused at again."""
        request = debug_pb2.StepJobRequest(
            job_id=job_id, num_steps=num_steps, skip_optimizer_step=skip_optimizer_step
        )
        return self._debug_call(self.debug.StepJob, request).step

    def snapshot(
        self,
        job_id: str,
        selectors: Sequence[str],
        *,
        include_data: bool = False,
        max_bytes: int = 0,
        rank: int = 0,
    ) -> Snapshot:
        """Statistics (and with include_data, the data) of the tensors `selectors` pick,
        e.g. ["grad:trunk.*", "loss:*"]; max_bytes 0 means the service's default;
        `rank` picks the rank of a distributed job."""
        request = debug_pb2.SnapshotTensorsRequest(
            job_id=job_id,
            selectors=list(selectors),
            include_data=include_data,
            max_bytes=max_bytes,
            rank=rank,
        )
        responses = self._stream(
            self.debug.SnapshotTensors, request, timeout_seconds=self.debug_timeout_seconds
        )
        return Snapshot.from_responses(responses, include_data=include_data)

    def adjust_loss_weights(
        self, job_id: str, weights: Mapping[str, float]
    ) -> debug_pb2.AdjustLossWeightsResponse:
        """Set user loss weights by task from the next optimizer step; others keep theirs."""
        request = debug_pb2.AdjustLossWeightsRequest(job_id=job_id, weights=dict(weights))
        return self._debug_call(self.debug.AdjustLossWeights, request)

    def set_learning_rate(
        self, job_id: str, learning_rate: float
    ) -> debug_pb2.SetLearningRateResponse:
        request = debug_pb2.SetLearningRateRequest(job_id=job_id, learning_rate=learning_rate)
        return self._debug_call(self.debug.SetLearningRate, request)

    def capture_profile(
        self,
        job_id: str,
        num_steps: int,
        *,
        record_shapes: bool = False,
        profile_memory: bool = False,
        with_stack: bool = False,
    ) -> tuple[bytes, debug_pb2.ProfileSummary]:
        """Profile the next `num_steps` steps: the Chrome/Perfetto trace JSON and its summary."""
        request = debug_pb2.CaptureProfileRequest(
            job_id=job_id,
            num_steps=num_steps,
            record_shapes=record_shapes,
            profile_memory=profile_memory,
            with_stack=with_stack,
        )
        responses = self._stream(
            self.debug.CaptureProfile, request, timeout_seconds=self.debug_timeout_seconds
        )
        return assemble_profile(responses)

    def task_stats(self, job_id: str) -> debug_pb2.GetTaskStatsResponse:
        """Per-task losses, weights, gradient norms and the task-gradient cosine matrix."""
        request = debug_pb2.GetTaskStatsRequest(job_id=job_id)
        return self._debug_call(self.debug.GetTaskStats, request)

    def _debug_call(self, method: Callable[..., Any], request: object) -> Any:
        return self._call(method, request, timeout_seconds=self.debug_timeout_seconds)
