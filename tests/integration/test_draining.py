"""A worker that is shutting down (draining) hands its job back and takes no other."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from mtl.v1 import job_pb2, worker_pb2, worker_pb2_grpc
from mtl_service.client import MtlClient
from mtl_service.launcher import ServiceProcess
from tests.jobs import quick_job

pytestmark = pytest.mark.integration

ENDLESS_JOB = quick_job(steps=100_000, checkpoint_interval=100_000)
QUEUED, RUNNING = job_pb2.JOB_STATE_QUEUED, job_pb2.JOB_STATE_RUNNING


@pytest.fixture()
def service(tmp_path: Path) -> Iterator[ServiceProcess]:
    """A service without local workers: each test brings its own."""
    process = ServiceProcess.start(data_dir=tmp_path / "data", num_workers=0)
    yield process
    assert process.stop() == 0, process.output


def _start_worker(service: ServiceProcess, worker_id: str) -> subprocess.Popen[bytes]:
    """A real `mtl-worker` process, logging to a file beside the data dir."""
    command = [
        sys.executable, "-m", "workers.main", "--service", service.target,
        "--worker-id", worker_id, "--data-dir", str(service.data_dir),
        "--device", "cpu", "--num-threads", "1",
    ]  # fmt: skip
    with open(service.data_dir.parent / f"{worker_id}.log", "wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def _wait_for(
    client: MtlClient, job_id: str, condition: Callable[[job_pb2.JobEvent], bool]
) -> job_pb2.JobEvent:
    for event in client.watch(job_id):
        if condition(event):
            return event
    raise AssertionError(f"job {job_id} ended first: {client.get(job_id)}")


def _reached_step(step: int) -> Callable[[job_pb2.JobEvent], bool]:
    return lambda event: event.HasField("step_report") and event.step_report.steps[-1].step >= step


def _state_change(to_state: int, reason: str = "") -> Callable[[job_pb2.JobEvent], bool]:
    def matches(event: job_pb2.JobEvent) -> bool:
        change = event.state_change
        return (
            event.HasField("state_change")
            and change.to_state == to_state
            and reason in change.reason
        )

    return matches


def _history(client: MtlClient, job_id: str) -> list[tuple[str, str, int]]:
    """(to state, reason, attempt) of each state change of an ended job."""
    changes = [e.state_change for e in client.watch(job_id) if e.HasField("state_change")]
    return [(job_pb2.JobState.Name(c.to_state), c.reason, c.attempt) for c in changes]


def test_sigterm_worker_hands_back_its_job_and_is_given_no_other(
    service: ServiceProcess,
) -> None:
    draining = _start_worker(service, "worker-draining")
    fresh: subprocess.Popen[bytes] | None = None
    try:
        with MtlClient(service.target) as client:
            first = client.submit_text(ENDLESS_JOB)
            _wait_for(client, first.id, _reached_step(20))
            second = client.submit_text(ENDLESS_JOB)  # queued: the only worker is busy
            draining.send_signal(signal.SIGTERM)
            assert draining.wait(60) == 0
            _wait_for(client, first.id, _state_change(QUEUED, "SIGTERM"))
            fresh = _start_worker(service, "worker-fresh")
            resumed = _wait_for(
                client, first.id, _state_change(job_pb2.JOB_STATE_RUNNING, "resumed")
            )
            client.cancel(first.id, "test over")
            _wait_for(client, second.id, _state_change(RUNNING))
            client.cancel(second.id, "test over")
            first_history = _history(client, first.id)
            second_history = _history(client, second.id)
    finally:
        for worker in (draining, fresh):
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(60)
    assert int(resumed.state_change.reason.split()[-1]) >= 20  # from the SIGTERM checkpoint
    assert [(state, attempt) for state, _, attempt in first_history] == [
        ("JOB_STATE_QUEUED", 1),
        ("JOB_STATE_STARTING", 1),
        ("JOB_STATE_RUNNING", 1),
        ("JOB_STATE_QUEUED", 2),
        ("JOB_STATE_STARTING", 2),
        ("JOB_STATE_RUNNING", 2),
        ("JOB_STATE_CANCELLED", 2),
    ], first_history
    assert first_history[4][1] == "assigned to worker worker-fresh"
    assert second_history == [
        ("JOB_STATE_QUEUED", "submitted", 1),
        ("JOB_STATE_STARTING", "assigned to worker worker-fresh", 1),
        ("JOB_STATE_RUNNING", "training", 1),
        ("JOB_STATE_CANCELLED", "test over", 1),
    ]
    draining_lines = [
        line for line in service.json_lines() if line.get("worker_id") == "worker-draining"
    ]
    assert any(line["event"] == "worker_draining" for line in draining_lines)


class _FakeWorker:
    """The worker side of WorkerService.Connect, driven by the test message by message."""

    def __init__(self, channel: grpc.Channel, worker_id: str) -> None:
        self._outgoing: queue.Queue[worker_pb2.WorkerMessage | None] = queue.Queue()
        self.send(
            worker_pb2.WorkerMessage(
                register=worker_pb2.RegisterWorker(worker_id=worker_id, device="cpu")
            )
        )
        stub = worker_pb2_grpc.WorkerServiceStub(channel)
        self._incoming = stub.Connect(iter(self._outgoing.get, None), timeout=60)
        assert next(self._incoming).HasField("registered")

    def send(self, message: worker_pb2.WorkerMessage) -> None:
        self._outgoing.put(message)

    def receive(self) -> worker_pb2.ServiceMessage:
        return next(self._incoming)

    def close(self) -> list[worker_pb2.ServiceMessage]:
        """End the stream; returns every message the service had still sent."""
        self._outgoing.put(None)
        return list(self._incoming)


def test_the_service_never_assigns_a_job_to_a_draining_worker(service: ServiceProcess) -> None:
    """Deterministic: the draining worker keeps its stream open as long as the test likes."""
    with grpc.insecure_channel(service.target) as channel, MtlClient(service.target) as client:
        draining = _FakeWorker(channel, "fake-draining")
        first = client.submit_text(ENDLESS_JOB)
        assert draining.receive().assign_job.job_id == first.id
        second = client.submit_text(ENDLESS_JOB)
        draining.send(worker_pb2.WorkerMessage(draining=worker_pb2.Draining(reason="SIGTERM")))
        draining.send(
            worker_pb2.WorkerMessage(
                job_finished=worker_pb2.JobFinished(
                    job_id=first.id, state=job_pb2.JOB_STATE_QUEUED, message="handed back"
                )
            )
        )
        _wait_for(client, first.id, _state_change(QUEUED, "handed back"))
        # A fresh worker takes the oldest queued job; had the draining worker counted
        # as idle, the scheduler would have given it that job first.
        fresh = _FakeWorker(channel, "fake-fresh")
        assert fresh.receive().assign_job.job_id == first.id
        late = draining.close()
        fresh.close()
        client.cancel(first.id, "test over")
        client.cancel(second.id, "test over")
    assert [m.WhichOneof("payload") for m in late] == []
