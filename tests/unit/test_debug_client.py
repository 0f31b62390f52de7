"""Specification of the client side of the debug API: stream assembly and the requests it sends."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import torch

from mtl.v1 import debug_pb2, debug_types_pb2, job_pb2
from mtl_service.client import ClientError, MtlClient, Snapshot
from mtl_service.client.debug_client import assemble_profile
from mtl_service.client.tensor_files import load_tensors

CHUNK_BYTES = 7  # odd, so chunks end mid-element for every dtype wider than a byte


def original_tensors() -> dict[str, torch.Tensor]:
    return {
        "param:trunk.0.weight": torch.randn(3, 5),
        "grad:trunk.0.weight": torch.randn(3, 5).bfloat16(),
        "activation:head": torch.randn(2, 3).half(),
        "batch:targets.category": torch.randint(-5, 5, (9,)),
        "batch:mask": torch.tensor([True, False, True, True, False]),
        "loss:value": torch.tensor(2.5, dtype=torch.float64),
        "activation:empty": torch.zeros(0, 4),
    }


def raw_bytes(tensor: torch.Tensor) -> bytes:
    return tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def snapshot_stream(
    tensors: dict[str, torch.Tensor], *, step: int = 42, include_data: bool = True
) -> Iterator[debug_pb2.SnapshotTensorsResponse]:
    """What the service sends: the step, then each tensor's info followed by its chunks."""
    yield debug_pb2.SnapshotTensorsResponse(step=step)
    for name, tensor in tensors.items():
        data = raw_bytes(tensor) if include_data else b""
        info = debug_types_pb2.TensorInfo(
            name=name,
            dtype=str(tensor.dtype).removeprefix("torch."),
            shape=list(tensor.shape),
            stats=debug_types_pb2.TensorStats(l2_norm=float(tensor.float().norm())),
            num_bytes=len(data),
        )
        yield debug_pb2.SnapshotTensorsResponse(tensor=info)
        for offset in range(0, len(data), CHUNK_BYTES):
            chunk = debug_types_pb2.TensorChunk(
                name=name, offset=offset, data=data[offset : offset + CHUNK_BYTES]
            )
            yield debug_pb2.SnapshotTensorsResponse(chunk=chunk)


def assert_same_tensors(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert list(actual) == list(expected)
    for name, tensor in expected.items():
        assert actual[name].dtype == tensor.dtype, name
        assert actual[name].shape == tensor.shape, name
        assert torch.equal(actual[name], tensor), name


def test_snapshot_assembled_from_odd_sized_chunks_equals_the_original_tensors():
    tensors = original_tensors()
    snapshot = Snapshot.from_responses(snapshot_stream(tensors), include_data=True)
    assert snapshot.step == 42
    assert snapshot.infos["grad:trunk.0.weight"].dtype == "bfloat16"
    assert snapshot.num_bytes == sum(len(raw_bytes(t)) for t in tensors.values())
    assert_same_tensors(snapshot.tensors(), tensors)


def test_snapshot_tensors_are_copies_independent_of_the_snapshot():
    snapshot = Snapshot.from_responses(snapshot_stream(original_tensors()), include_data=True)
    snapshot.tensors()["param:trunk.0.weight"].zero_()
    assert snapshot.tensors()["param:trunk.0.weight"].abs().sum() > 0


@pytest.mark.parametrize("extension", [".safetensors", ".pt"])
def test_saved_snapshot_loads_back_as_the_original_tensors(tmp_path, extension):
    tensors = original_tensors()
    snapshot = Snapshot.from_responses(snapshot_stream(tensors), include_data=True)
    snapshot.save(tmp_path / f"snapshot{extension}")
    loaded = load_tensors(tmp_path / f"snapshot{extension}")
    assert_same_tensors({name: loaded[name] for name in tensors}, tensors)


def test_snapshot_without_data_has_statistics_but_no_tensors():
    stream = snapshot_stream(original_tensors(), include_data=False)
    snapshot = Snapshot.from_responses(stream, include_data=False)
    assert snapshot.data is None and snapshot.num_bytes == 0
    assert snapshot.infos["loss:value"].stats.l2_norm == pytest.approx(2.5)
    with pytest.raises(ValueError, match="include_data=True"):
        snapshot.tensors()


def _without(responses: list[Any], index: int) -> list[Any]:
    return responses[:index] + responses[index + 1 :]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: r[1:], "without its step"),
        (lambda r: r[:-1], "bytes of"),
        (lambda r: _without(r, 2), "at offset 7, expected 0"),
        (lambda r: _without(r, 1), "before its TensorInfo"),
        (lambda r: r[:2] + r[1:], "twice"),
    ],
    ids=["no_step", "last_chunk_missing", "first_chunk_missing", "no_info", "info_twice"],
)
def test_a_broken_snapshot_stream_is_a_data_loss_error(damage, message):
    responses = list(snapshot_stream({"param:w": torch.randn(4)}))
    with pytest.raises(ClientError, match=message) as raised:
        Snapshot.from_responses(damage(responses), include_data=True)
    assert raised.value.code == grpc.StatusCode.DATA_LOSS


def test_a_tensor_whose_bytes_do_not_fit_its_shape_is_refused():
    info = debug_types_pb2.TensorInfo(name="param:w", dtype="float32", shape=[3], num_bytes=8)
    snapshot = Snapshot(step=1, infos={"param:w": info}, data={"param:w": bytearray(8)})
    with pytest.raises(ValueError, match="8 bytes for a float32 tensor of shape \\[3\\]"):
        snapshot.tensors()


def profile_stream(trace: bytes, summary: debug_pb2.ProfileSummary) -> list[Any]:
    chunks = [trace[i : i + 5] for i in range(0, len(trace), 5)]
    return [debug_pb2.CaptureProfileResponse(trace_chunk=chunk) for chunk in chunks] + [
        debug_pb2.CaptureProfileResponse(summary=summary)
    ]


def test_profile_trace_is_its_chunks_joined_in_order():
    trace = b'{"traceEvents": [{"name": "aten::mm", "ph": "X"}]}'
    summary = debug_pb2.ProfileSummary(first_step=3, last_step=5, trace_bytes=len(trace))
    assert assemble_profile(profile_stream(trace, summary)) == (trace, summary)


@pytest.mark.parametrize(
    ("responses", "message"),
    [
        (profile_stream(b"abcdefgh", debug_pb2.ProfileSummary(trace_bytes=8))[:-1], "summary"),
        (profile_stream(b"abcdefgh", debug_pb2.ProfileSummary(trace_bytes=9)), "8 of 9"),
        (
            profile_stream(b"abcdefgh", debug_pb2.ProfileSummary(trace_bytes=3))[1:]
            + [debug_pb2.CaptureProfileResponse(trace_chunk=b"x")],
            "after its summary",
        ),
    ],
    ids=["no_summary", "short_trace", "chunk_after_summary"],
)
def test_a_broken_profile_stream_is_a_data_loss_error(responses, message):
    with pytest.raises(ClientError, match=message) as raised:
        assemble_profile(responses)
    assert raised.value.code == grpc.StatusCode.DATA_LOSS


class RecordingStub:
    """Stands in for a generated stub: records (rpc, request, timeout), answers from `replies`."""

    def __init__(self, replies: dict[str, Any]) -> None:
        self.replies = replies
        self.calls: list[tuple[str, Any, float | None]] = []

    def __getattr__(self, rpc: str) -> Any:
        def method(request: Any, timeout: float | None = None, metadata: Any = ()) -> Any:
            self.calls.append((rpc, request, timeout))
            reply = self.replies[rpc]
            if isinstance(reply, Exception):
                raise reply
            return reply

        return method


class FailedRpc(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.FAILED_PRECONDITION

    def details(self) -> str:
        return "job job-1 is not paused"

    def trailing_metadata(self) -> None:
        return None


@pytest.fixture
def client() -> Iterator[MtlClient]:
    # The channel connects lazily: nothing listens on this port and nothing tries to.
    with MtlClient("localhost:1", timeout_seconds=30) as connected:
        connected.debug = RecordingStub({})  # type: ignore[assignment]
        connected.jobs = RecordingStub({})  # type: ignore[assignment]
        yield connected


def test_set_breakpoint_sends_the_condition_with_its_action_and_limits(client):
    armed = debug_types_pb2.Breakpoint(id="bp-1", condition="loss.a > 3")
    client.debug.replies["SetBreakpoint"] = debug_pb2.SetBreakpointResponse(breakpoint=armed)
    result = client.set_breakpoint(
        "job-1", "loss.a > 3", action="snapshot", snapshot_selectors=["grad:*"], max_hits=2
    )
    assert result == armed
    [(rpc, request, timeout)] = client.debug.calls
    assert rpc == "SetBreakpoint" and request.job_id == "job-1"
    assert request.breakpoint == debug_types_pb2.Breakpoint(
        condition="loss.a > 3",
        action=debug_types_pb2.BREAKPOINT_ACTION_SNAPSHOT,
        snapshot_selectors=["grad:*"],
        max_hits=2,
    )


def test_an_unknown_breakpoint_action_is_refused_with_the_choices(client):
    with pytest.raises(ValueError, match="choose from pause, snapshot, log"):
        client.set_breakpoint("job-1", "step > 3", action="stop")


def test_debug_calls_wait_at_least_two_minutes_for_the_step_boundary(client):
    client.debug.replies["StepJob"] = debug_pb2.StepJobResponse(step=13)
    assert client.step("job-1", 3, skip_optimizer_step=True) == 13
    [(_, request, timeout)] = client.debug.calls
    assert (request.num_steps, request.skip_optimizer_step, timeout) == (3, True, 120.0)


def test_snapshot_streams_and_assembles_the_tensors(client):
    tensors = {"param:w": torch.arange(6.0).reshape(2, 3)}
    client.debug.replies["SnapshotTensors"] = snapshot_stream(tensors)
    snapshot = client.snapshot("job-1", ["param:*"], include_data=True, max_bytes=100)
    assert_same_tensors(snapshot.tensors(), tensors)
    [(_, request, _)] = client.debug.calls
    assert (list(request.selectors), request.include_data, request.max_bytes) == (
        ["param:*"],
        True,
        100,
    )


def test_fork_sends_only_the_overrides_it_is_given(client):
    client.jobs.replies["ForkJob"] = job_pb2.ForkJobResponse(job=job_pb2.Job(id="job-2"))
    assert client.fork("job-1", loss_weights={"a": 0.5}, strategy="uw").id == "job-2"
    [(rpc, request, _)] = client.jobs.calls
    assert rpc == "ForkJob"
    assert dict(request.loss_weights) == {"a": 0.5}
    assert request.weighting.strategy == "uw" and request.learning_rate == 0 and not request.name
    client.fork("job-1")
    assert not client.jobs.calls[-1][1].HasField("weighting")


def test_failed_calls_raise_client_error_with_the_status(client):
    client.debug.replies["ResumeJob"] = FailedRpc()
    with pytest.raises(ClientError, match="not paused") as raised:
        client.resume("job-1")
    assert raised.value.code == grpc.StatusCode.FAILED_PRECONDITION


def test_a_stream_failing_midway_raises_client_error(client):
    def failing() -> Iterator[debug_pb2.CaptureProfileResponse]:
        yield debug_pb2.CaptureProfileResponse(trace_chunk=b"{")
        raise FailedRpc()

    client.debug.replies["CaptureProfile"] = failing()
    with pytest.raises(ClientError) as raised:
        client.capture_profile("job-1", 2)
    assert raised.value.code == grpc.StatusCode.FAILED_PRECONDITION


def test_client_and_cli_import_and_take_statistics_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['safetensors'] = None\n"
        "from mtl.v1 import debug_pb2\n"
        "from mtl_service.client import Snapshot\n"
        "import mtl_service.cli.main\n"
        "stream = [debug_pb2.SnapshotTensorsResponse(step=3)]\n"
        "assert Snapshot.from_responses(stream, include_data=False).step == 3\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
