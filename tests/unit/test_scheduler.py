"""Placement: FIFO over real JobManager, store and worker registry, with multi-rank jobs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import CollectorRegistry

from mtl.v1 import job_pb2
from mtl_service.server.event_bus import EventBus
from mtl_service.server.jobs import JobManager
from mtl_service.server.metrics import ServiceMetrics
from mtl_service.server.scheduler import Scheduler
from mtl_service.server.store import JobStore
from mtl_service.server.worker_registry import WorkerConnection, WorkerRegistry
from mtl_service.spec.jobspec import parse_spec_text
from tests.jobs import quick_job


def _spec(world_size: int) -> str:
    return quick_job() + f"distributed: {{world_size: {world_size}}}\n"


def _assignments(worker: WorkerConnection) -> list[tuple[str, int]]:
    """(job id, rank) of every AssignJob waiting in the worker's outbox."""
    found = []
    while not worker.outbox.empty():
        message = worker.outbox.get_nowait()
        if message is not None and message.HasField("assign_job"):
            found.append((message.assign_job.job_id, message.assign_job.rank))
    return found


async def _placement(tmp_path: Path, world_sizes: list[int], num_workers: int):
    store = JobStore(tmp_path / "db.sqlite3")
    await store.open()
    workers = WorkerRegistry()
    jobs = JobManager(
        store=store,
        bus=EventBus(),
        metrics=ServiceMetrics(CollectorRegistry()),
        workers=workers,
        job_retention_seconds=60,
    )
    submitted = [(await jobs.submit(parse_spec_text(_spec(n)))).id for n in world_sizes]
    connected = [
        WorkerConnection(worker_id=f"w{index}", hostname="h", device="cpu", device_name="cpu")
        for index in range(num_workers)
    ]
    for worker in connected:
        workers.add(worker)
    await Scheduler(jobs, workers).schedule_once()
    placed = {worker.worker_id: _assignments(worker) for worker in connected}
    stored = {job_id: await jobs.get(job_id) for job_id in submitted}
    await store.close()
    return submitted, placed, stored


def test_a_two_rank_job_takes_two_workers_rank_0_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        [job_id], placed, stored = await _placement(tmp_path, [2], num_workers=3)
        assert placed == {"w0": [(job_id, 0)], "w1": [(job_id, 1)], "w2": []}
        job = stored[job_id]
        assert job.state == job_pb2.JOB_STATE_STARTING
        assert (job.worker_id, list(job.rank_worker_ids)) == ("w0", ["w0", "w1"])

    asyncio.run(scenario())


def test_a_job_waiting_for_idle_workers_holds_up_the_jobs_behind_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        (small, large, later), placed, stored = await _placement(tmp_path, [1, 2, 1], num_workers=2)
        assert placed == {"w0": [(small, 0)], "w1": []}
        assert stored[large].state == stored[later].state == job_pb2.JOB_STATE_QUEUED

    asyncio.run(scenario())


def test_a_job_larger_than_the_fleet_does_not_block_the_queue(tmp_path: Path) -> None:
    async def scenario() -> None:
        (huge, small), placed, stored = await _placement(tmp_path, [4, 1], num_workers=2)
        assert placed == {"w0": [(small, 0)], "w1": []}
        assert stored[huge].state == job_pb2.JOB_STATE_QUEUED

    asyncio.run(scenario())
