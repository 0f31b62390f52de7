"""Distributed jobs through the service: two CPU ranks (gloo) on two local workers."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import torch

from mtl.v1 import job_pb2
from mtl_service.client import ClientError, MtlClient
from mtl_service.launcher import ServiceProcess
from tests.jobs import quick_job
from tests.replay import cpu_trainer
from workers.checkpoint import read_checkpoint
from workers.hooks import StepBoundary, TrainerHook
from workers.trainer import Trainer

STEPS = 30
PAUSE_AT = 10
NEW_WEIGHTS = {"value": 0.4}
NEW_LEARNING_RATE = 0.001
# Two half-batch gradients averaged by an all-reduce sum in another order than
# one full-batch gradient; Adam carries those rounding differences along.
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}


def _spec_text(world_size: int, *, steps: int = STEPS, checkpoint_interval: int = 10) -> str:
    return (
        quick_job(steps=steps, report_interval=5, checkpoint_interval=checkpoint_interval)
        + f"distributed: {{world_size: {world_size}, backend: gloo}}\n"
    )


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    process = ServiceProcess.start(data_dir=tmp_path_factory.mktemp("dist"), num_workers=2)
    yield process
    assert process.stop() == 0, process.output
    # What the ranks print (torch.distributed and gloo included) is JSON too.
    lines = process.json_lines()
    assert all({"event", "level", "timestamp"} <= line.keys() for line in lines)
    rank_lines = [line for line in lines if "rank" in line]
    assert {line["rank"] for line in rank_lines} == {0, 1}
    assert all("job_id" in line and "worker_id" in line for line in rank_lines)


class _ChangeAt(TrainerHook):
    """What the debug API does at the pause: new loss weights from the next
    step, a new learning rate from this step's update."""

    def on_step_boundary(self, trainer: Trainer, boundary: StepBoundary) -> None:
        if boundary.step == PAUSE_AT:
            trainer.user_weights.update(NEW_WEIGHTS)
            for group in trainer.optimizer.param_groups:
                group["lr"] = NEW_LEARNING_RATE


def _single_process_model(scratch: Path) -> dict[str, torch.Tensor]:
    trainer = cpu_trainer(_spec_text(1), scratch, [_ChangeAt()])
    assert trainer.run().state == job_pb2.JOB_STATE_SUCCEEDED
    return trainer.model.state_dict()


def _wait_for_state(client: MtlClient, job_id: str, state: int) -> None:
    for event in client.watch(job_id):
        if event.HasField("state_change") and event.state_change.to_state == state:
            return
    raise AssertionError(f"{job_id} ended as {client.get(job_id).state} before reaching {state}")


def _params(client: MtlClient, job_id: str, rank: int) -> tuple[int, dict[str, torch.Tensor]]:
    snapshot = client.snapshot(job_id, ["param:*"], include_data=True, rank=rank)
    return snapshot.step, snapshot.tensors()


def test_two_ranks_match_a_single_process_and_obey_pause_step_and_weights(
    two_workers: ServiceProcess, tmp_path: Path
) -> None:
    spec = _spec_text(2) + f"breakpoints: [{{condition: 'step == {PAUSE_AT}'}}]\n"
    with MtlClient(two_workers.target) as client:
        job = client.submit_text(spec)
        _wait_for_state(client, job.id, job_pb2.JOB_STATE_PAUSED)
        assert len(client.get(job.id).rank_worker_ids) == 2

        # Both ranks wait at the same boundary with the same parameters.
        step0, rank0 = _params(client, job.id, rank=0)
        step1, rank1 = _params(client, job.id, rank=1)
        assert step0 == step1 == PAUSE_AT
        assert rank0.keys() == rank1.keys()
        assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)

        client.adjust_loss_weights(job.id, NEW_WEIGHTS)
        client.set_learning_rate(job.id, NEW_LEARNING_RATE)
        assert client.step(job.id, 2) == PAUSE_AT + 2
        step0, rank0 = _params(client, job.id, rank=0)
        step1, rank1 = _params(client, job.id, rank=1)
        assert step0 == step1 == PAUSE_AT + 2
        assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)

        client.resume(job.id)
        _wait_for_state(client, job.id, job_pb2.JOB_STATE_SUCCEEDED)
        final = client.get(job.id)
        assert final.step == STEPS

    path = two_workers.data_dir / "checkpoints" / job.id / f"step-{STEPS:09d}.ckpt"
    distributed = read_checkpoint(path)["model"]
    reference = _single_process_model(tmp_path)
    assert distributed.keys() == reference.keys()
    for name, tensor in distributed.items():
        torch.testing.assert_close(tensor, reference[name], **TOLERANCE, msg=name)


def test_a_bad_rank_is_invalid_and_a_cancel_frees_every_rank(
    two_workers: ServiceProcess,
) -> None:
    with MtlClient(two_workers.target) as client:
        job = client.submit_text(_spec_text(2, steps=2000))
        with pytest.raises(ClientError) as raised:
            client.snapshot(job.id, ["param:*"], rank=2)
        assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [field for field, _ in raised.value.violations] == ["rank"]
        client.cancel(job.id)
        # Both workers let go of the cancelled job (however far its ranks got
        # in meeting each other), so the next 2-rank job can run.
        following = client.submit_text(_spec_text(2, steps=5, checkpoint_interval=-1))
        _wait_for_state(client, following.id, job_pb2.JOB_STATE_SUCCEEDED)
        assert client.get(job.id).state == job_pb2.JOB_STATE_CANCELLED


def _worker_pid(service: ServiceProcess, worker_id: str) -> int:
    """Pid of the local worker `worker_id` (ids end in -local-<index>)."""
    index = int(worker_id.rsplit("-", 1)[1])
    started = ("local_worker_started", "local_worker_restarted")
    pids = [
        line["pid"]
        for line in service.json_lines()
        if line.get("event") in started and line.get("index") == index
    ]
    return pids[-1]


def test_losing_one_rank_requeues_the_whole_job_from_its_checkpoint(
    two_workers: ServiceProcess,
) -> None:
    spec = _spec_text(2, steps=60) + "breakpoints: [{condition: 'step == 25'}]\n"
    killed: list[str] = []
    changes: list[job_pb2.StateChange] = []
    with MtlClient(two_workers.target) as client:
        job = client.submit_text(spec)
        for event in client.watch(job.id):
            if not event.HasField("state_change"):
                continue
            changes.append(event.state_change)
            if event.state_change.to_state != job_pb2.JOB_STATE_PAUSED:
                continue
            if killed:  # the replayed step 25 meets the breakpoint again
                client.resume(job.id)
            else:
                killed.append(client.get(job.id).rank_worker_ids[1])
                os.kill(_worker_pid(two_workers, killed[0]), signal.SIGKILL)
        final = client.get(job.id)
    assert final.state == job_pb2.JOB_STATE_SUCCEEDED, final.message
    assert final.attempt == 2
    requeued = [c for c in changes if c.to_state == job_pb2.JOB_STATE_QUEUED and c.attempt == 2]
    assert requeued and killed[0] in requeued[0].reason, requeued
    # Checkpoints every 10 steps: the second attempt starts from step 20.
    assert "resumed from step 20" in [c.reason for c in changes]


def test_sigterm_of_rank_0_checkpoints_every_rank_out_and_the_job_resumes_there(
    two_workers: ServiceProcess,
) -> None:
    spec = _spec_text(2, steps=1500, checkpoint_interval=5000)  # no periodic checkpoint
    changes: list[job_pb2.StateChange] = []
    with MtlClient(two_workers.target) as client:
        job = client.submit_text(spec)
        stopped_after = 0
        for event in client.watch(job.id):
            if event.HasField("state_change"):
                changes.append(event.state_change)
            reached = event.step_report.steps[-1].step if event.HasField("step_report") else 0
            if reached > 100 and not stopped_after:
                stopped_after = reached
                leader = client.get(job.id).rank_worker_ids[0]
                os.kill(_worker_pid(two_workers, leader), signal.SIGTERM)
        final = client.get(job.id)
    assert (final.state, final.attempt, final.step) == (job_pb2.JOB_STATE_SUCCEEDED, 2, 1500)
    resumed = [c.reason for c in changes if c.reason.startswith("resumed from step")]
    # Both ranks stopped at the same boundary and rank 0 checkpointed it.
    assert len(resumed) == 1 and int(resumed[0].split()[-1]) >= stopped_after


def test_a_distributed_job_survives_a_service_sigkill_and_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = ServiceProcess.start(data_dir=data_dir, num_workers=2)
    orphans = [_worker_pid(first, f"-local-{index}") for index in range(2)]
    restarted: ServiceProcess | None = None
    try:
        with MtlClient(first.target) as client:
            job = client.submit_text(_spec_text(2) + "breakpoints: [{condition: 'step == 15'}]\n")
            _wait_for_state(client, job.id, job_pb2.JOB_STATE_PAUSED)
            ranks = list(client.get(job.id).rank_worker_ids)
        first.kill()
        # Same port, no workers of its own: both orphaned ranks reconnect and re-attach.
        restarted = ServiceProcess.start(data_dir=data_dir, num_workers=0, port=first.port)
        with MtlClient(restarted.target) as client:
            reattached: set[str] = set()
            for event in client.watch(job.id):
                reason = event.state_change.reason if event.HasField("state_change") else ""
                reattached |= {
                    worker for worker in ranks if f"worker {worker} re-attached" in reason
                }
                if reattached == set(ranks):
                    break
            assert client.get(job.id).state == job_pb2.JOB_STATE_PAUSED
            assert client.snapshot(job.id, ["loss:*"], rank=1).step == 15
            client.resume(job.id)
            _wait_for_state(client, job.id, job_pb2.JOB_STATE_SUCCEEDED)
            final = client.get(job.id)
    finally:
        for pid in orphans:
            os.kill(pid, signal.SIGKILL)
        if restarted is not None:
            assert restarted.stop() == 0, restarted.output
    assert (final.attempt, final.step) == (1, STEPS)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_two_gpu_ranks_train_with_nccl(tmp_path: Path) -> None:
    service = ServiceProcess.start(data_dir=tmp_path, num_workers=2)
    try:
        with MtlClient(service.target) as client:
            spec = _spec_text(2, steps=20).replace("backend: gloo", "backend: nccl")
            job = client.submit_text(spec + "device: cuda\n")
            _wait_for_state(client, job.id, job_pb2.JOB_STATE_SUCCEEDED)
            assert client.get(job.id).step == 20
    finally:
        assert service.stop() == 0, service.output
