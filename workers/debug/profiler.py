"""CaptureProfile: torch.profiler over whole training steps, exported as a Chrome trace."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from mtl.v1 import debug_pb2

TRACE_CHUNK_BYTES = 1 << 20
TOP_OPS = 20


class ProfileCapture:
    """A profiler started after one step and stopped after `num_steps` more.

    Each step is a `ProfilerStep#N` range in the trace (N the training step),
    so the trace covers whole steps: forward, backward, weighting and update.
    """

    def __init__(
        self, correlation_id: str, request: debug_pb2.CaptureProfileRequest, after_step: int
    ) -> None:
        self.correlation_id = correlation_id
        self.num_steps = request.num_steps
        self.first_step = after_step + 1
        activities = [ProfilerActivity.CPU]
        if torch.cuda.is_available():
            activities.append(ProfilerActivity.CUDA)
        self._profiler = profile(
            activities=activities,
            record_shapes=request.record_shapes,
            profile_memory=request.profile_memory,
            with_stack=request.with_stack,
        )
        self._profiler.__enter__()
        self._last_step = after_step
        self._range = self._open_range(self.first_step)

    def step_finished(self, step: int) -> bool:
        """Mark the end of `step`; True once the requested steps are covered."""
        self._range.__exit__(None, None, None)
        self._last_step = step
        if step - self.first_step + 1 >= self.num_steps:
            return True
        self._range = self._open_range(step + 1)
        return False

    def abandon(self) -> None:
        self._range.__exit__(None, None, None)
        self._profiler.__exit__(None, None, None)

    @staticmethod
    def _open_range(step: int) -> record_function:
        step_range = record_function(f"ProfilerStep#{step}")
        step_range.__enter__()
        return step_range

    def finish(self) -> Iterator[debug_pb2.CaptureProfileResponse]:
        """Stop, then the trace JSON in chunks and a summary of the top operators."""
        self._profiler.__exit__(None, None, None)
        trace = _export(self._profiler)
        for offset in range(0, len(trace), TRACE_CHUNK_BYTES):
            chunk = trace[offset : offset + TRACE_CHUNK_BYTES]
            yield debug_pb2.CaptureProfileResponse(trace_chunk=chunk)
        yield debug_pb2.CaptureProfileResponse(
            summary=debug_pb2.ProfileSummary(
                first_step=self.first_step,
                last_step=self._last_step,
                top_ops=_top_ops(self._profiler),
                trace_bytes=len(trace),
            )
        )


def _export(profiler: profile) -> bytes:
    descriptor, path = tempfile.mkstemp(suffix=".json", prefix="mtl-trace-")
    os.close(descriptor)
    try:
        profiler.export_chrome_trace(path)
        with open(path, "rb") as file:
            return file.read()
    finally:
        os.unlink(path)


def _top_ops(profiler: profile) -> list[debug_pb2.ProfiledOp]:
    averages = sorted(
        profiler.key_averages(), key=lambda event: event.self_cpu_time_total, reverse=True
    )
    return [
        debug_pb2.ProfiledOp(
            name=event.key,
            calls=event.count,
            self_cpu_seconds=event.self_cpu_time_total / 1e6,
            cpu_seconds=event.cpu_time_total / 1e6,
            self_device_seconds=getattr(event, "self_device_time_total", 0.0) / 1e6,
        )
        for event in averages[:TOP_OPS]
    ]
