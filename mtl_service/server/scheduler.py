"""FIFO scheduling: the oldest queued job goes to the next idle worker slots."""

from __future__ import annotations

import asyncio

import structlog

from mtl.v1 import job_pb2
from mtl_service.server.jobs import JobManager
from mtl_service.server.worker_registry import WorkerRegistry

log = structlog.get_logger(__name__)


class Scheduler:
    """Runs a scheduling pass whenever something changed (a job or a worker)."""

    def __init__(self, jobs: JobManager, workers: WorkerRegistry) -> None:
        self.jobs = jobs
        self.workers = workers
        self._wakeup = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        """Stop placing jobs (shutdown); safe to call twice."""
        self._stopping = True
        self._wakeup.set()

    async def run(self) -> None:
        """Schedule until stopped."""
        while not self._stopping:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._stopping:
                await self.schedule_once()

    async def schedule_once(self) -> None:
        """Assign queued jobs, oldest first, to idle workers.

        A distributed job takes `world_size` idle workers at once. When it
        needs more than are idle, the jobs behind it wait too, so that small
        jobs cannot starve it; a job needing more workers than are connected at
        all (draining ones aside) does not hold up the queue.
        """
        idle = self.workers.idle()
        connected = self.workers.all()
        draining = sum(1 for w in connected if w.draining and w.job_id is None)
        busy = len(connected) - len(idle) - draining
        self.jobs.metrics.set_worker_counts(busy=busy, idle=len(idle), draining=draining)
        if not idle:
            return
        staying = sum(1 for w in connected if not w.draining)
        for job in await self.jobs.store.jobs_in_states([job_pb2.JOB_STATE_QUEUED]):
            needed = max(job.spec.distributed.world_size, 1)
            if needed > staying:
                continue
            if needed > len(idle):
                return
            placed, idle = idle[:needed], idle[needed:]
            log.info("job_scheduled", job_id=job.id, worker_ids=[w.worker_id for w in placed])
            await self.jobs.assign(job, placed)
            if not idle:
                return
