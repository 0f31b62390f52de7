"""Crash recovery with real SIGKILLs: workers and the service die, jobs still finish exactly."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from mtl.v1 import job_pb2
from mtl_service.client import MtlClient
from mtl_service.launcher import ServiceProcess
from tests.jobs import quick_job
from workers.checkpoint import read_checkpoint

pytestmark = pytest.mark.integration

STEPS = 200
SPEC = quick_job(steps=STEPS, checkpoint_interval=40) + "max_attempts: 5\n"

Trigger = Callable[[job_pb2.JobEvent], bool]


def _reached_step(step: int) -> Trigger:
    return lambda event: event.HasField("step_report") and event.step_report.steps[-1].step >= step


def _checkpoint_saved(event: job_pb2.JobEvent) -> bool:
    return event.HasField("checkpoint_saved")


def _running(event: job_pb2.JobEvent) -> bool:
    return (
        event.HasField("state_change") and event.state_change.to_state == job_pb2.JOB_STATE_RUNNING
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    data_dir = tmp_path_factory.mktemp("crash")
    process = ServiceProcess.start(
        data_dir=data_dir, num_workers=1, log_path=data_dir / "service.log"
    )
    yield process
    assert process.stop() == 0, process.output


@pytest.fixture(scope="module")
def reference_model(service: ServiceProcess) -> dict[str, torch.Tensor]:
    """The final parameters of an uninterrupted run of SPEC."""
    with MtlClient(service.target) as client:
        job = client.submit_text(SPEC)
        _follow(client, job.id)
    return _final_model(service.data_dir, job.id)


def _follow(
    client: MtlClient, job_id: str, on_event: Callable[[job_pb2.JobEvent], None] = lambda e: None
) -> None:
    for event in client.watch(job_id):
        on_event(event)
    assert client.get(job_id).state == job_pb2.JOB_STATE_SUCCEEDED, client.get(job_id).message


def _final_model(data_dir: Path, job_id: str) -> dict[str, torch.Tensor]:
    path = data_dir / "checkpoints" / job_id / f"step-{STEPS:09d}.ckpt"
    return read_checkpoint(path)["model"]


def _assert_bit_identical(model: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]):
    assert model.keys() == reference.keys()
    for name, tensor in model.items():
        assert torch.equal(tensor, reference[name]), name


def _worker_pids(service: ServiceProcess) -> list[int]:
    """Pids of the service's local worker processes, in start order."""
    started = ("local_worker_started", "local_worker_restarted")
    return [line["pid"] for line in service.json_lines() if line.get("event") in started]


def _kill_current_worker(service: ServiceProcess) -> None:
    os.kill(_worker_pids(service)[-1], signal.SIGKILL)


def _resumed_steps(client: MtlClient, job_id: str) -> list[int]:
    reasons = [e.state_change.reason for e in client.watch(job_id) if e.HasField("state_change")]
    return [int(r.split()[-1]) for r in reasons if r.startswith("resumed from step")]


def test_worker_killed_three_times_resumes_bit_identically(
    service: ServiceProcess, reference_model: dict[str, torch.Tensor]
) -> None:
    # Mid checkpoint interval, right after a checkpoint, and right after a resume.
    kill_on_attempt: dict[int, Trigger] = {1: _reached_step(50), 2: _checkpoint_saved, 3: _running}
    killed: list[int] = []
    attempt = 1

    def on_event(event: job_pb2.JobEvent) -> None:
        nonlocal attempt
        if event.HasField("state_change"):
            attempt = event.state_change.attempt
        trigger = kill_on_attempt.get(attempt)
        if trigger is not None and attempt not in killed and trigger(event):
            _kill_current_worker(service)
            killed.append(attempt)

    with MtlClient(service.target) as client:
        job = client.submit_text(SPEC)
        _follow(client, job.id, on_event)
        assert killed == [1, 2, 3]
        assert client.get(job.id).attempt == 4
        assert any(step > 0 for step in _resumed_steps(client, job.id))
    assert any(line.get("event") == "local_worker_restarted" for line in service.json_lines())
    _assert_bit_identical(_final_model(service.data_dir, job.id), reference_model)


def test_corrupt_checkpoints_are_skipped_for_the_previous_one(
    service: ServiceProcess, reference_model: dict[str, torch.Tensor]
) -> None:
    with MtlClient(service.target) as client:
        job = client.submit_text(SPEC)
        for event in client.watch(job.id):
            if _checkpoint_saved(event) and event.checkpoint_saved.step >= 120:
                _kill_current_worker(service)
                break
        directory = service.data_dir / "checkpoints" / job.id
        newest, second, third = sorted(directory.glob("step-*.ckpt"), reverse=True)[:3]
        flipped = bytearray(newest.read_bytes())
        flipped[len(flipped) // 2] ^= 0x01
        newest.write_bytes(bytes(flipped))
        second.write_bytes(second.read_bytes()[: second.stat().st_size // 2])
        _follow(client, job.id)
        assert _resumed_steps(client, job.id) == [int(third.stem.removeprefix("step-"))]
    skipped = [
        line["path"] for line in service.json_lines() if line["event"] == "checkpoint_skipped"
    ]
    assert str(newest) in skipped and str(second) in skipped
    _assert_bit_identical(_final_model(service.data_dir, job.id), reference_model)


def test_job_survives_a_service_sigkill_and_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = ServiceProcess.start(data_dir=data_dir, num_workers=1)
    orphans = _worker_pids(first)
    restarted: ServiceProcess | None = None
    try:
        with MtlClient(first.target) as client:
            job = client.submit_text(quick_job(steps=300))
            for event in client.watch(job.id):
                if _reached_step(60)(event):
                    break
            client.pause(job.id)  # so the job is still mid-way whenever the worker is back
        first.kill()
        # Same port: the orphaned local worker reconnects and re-attaches its job.
        restarted = ServiceProcess.start(data_dir=data_dir, num_workers=1, port=first.port)
        with MtlClient(restarted.target) as client:
            for event in client.watch(job.id):
                if event.HasField("state_change") and "re-attached" in event.state_change.reason:
                    break
            assert client.get(job.id).state == job_pb2.JOB_STATE_PAUSED
            client.resume(job.id)
            _follow(client, job.id)
            events = list(client.watch(job.id))
            assert client.get(job.id).attempt == 1
    finally:
        for pid in orphans:
            os.kill(pid, signal.SIGKILL)
        if restarted is not None:
            assert restarted.stop() == 0, restarted.output
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    reasons = [e.state_change.reason for e in events if e.HasField("state_change")]
    assert any("the service restarted" in reason for reason in reasons), reasons


def test_job_fails_when_its_worker_is_lost_more_than_max_attempts(service: ServiceProcess) -> None:
    with MtlClient(service.target) as client:
        job = client.submit_text(quick_job(steps=2_000) + "max_attempts: 1\n")
        for event in client.watch(job.id):
            if _running(event):
                _kill_current_worker(service)
        failed = client.get(job.id)
    assert failed.state == job_pb2.JOB_STATE_FAILED
    assert failed.attempt == 1
    assert "disconnected" in failed.message and "max_attempts 1" in failed.message


def test_sigterm_worker_checkpoints_hands_back_its_job_and_is_restarted(
    service: ServiceProcess,
) -> None:
    with MtlClient(service.target) as client:
        job = client.submit_text(quick_job(steps=100_000, checkpoint_interval=50_000))
        states, terminated = [], False
        for event in client.watch(job.id):
            if _reached_step(60)(event) and not terminated:
                os.kill(_worker_pids(service)[-1], signal.SIGTERM)
                terminated = True
            if event.HasField("state_change"):
                states.append(event.state_change)
                if event.state_change.reason.startswith("resumed from step"):
                    break
        client.cancel(job.id, "test over")
    handed_back = [s for s in states if "SIGTERM" in s.reason]
    assert handed_back and handed_back[0].to_state == job_pb2.JOB_STATE_QUEUED
    assert int(states[-1].reason.split()[-1]) >= 60  # the checkpoint SIGTERM wrote
    restarts = [line for line in service.json_lines() if line["event"] == "local_worker_restarted"]
    assert restarts[-1]["exit_code"] == 0
