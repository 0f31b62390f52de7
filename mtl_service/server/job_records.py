"""The durable side of jobs: per-job locks, saves with their events, state
transitions and requeues, and the in-memory copy of unfinished jobs.

Every change to a job is one store transaction (the job and its new events)
under the job's lock, then published to watchers and folded into metrics.
`JobManager` builds the job operations on these.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence

import structlog

from mtl.v1 import job_pb2, worker_pb2
from mtl_service.errors import FieldViolation, InvalidArgument, NotFound
from mtl_service.server.audit import log_setting_changes
from mtl_service.server.event_bus import EventBus
from mtl_service.server.metrics import ServiceMetrics
from mtl_service.server.pause_accounting import apply_resume
from mtl_service.server.store import JobStore, now_timestamp
from mtl_service.server.worker_registry import WorkerConnection, WorkerRegistry
from mtl_service.spec.jobspec import DEFAULT_MAX_ATTEMPTS

log = structlog.get_logger(__name__)

TERMINAL_STATES = frozenset(
    {job_pb2.JOB_STATE_SUCCEEDED, job_pb2.JOB_STATE_FAILED, job_pb2.JOB_STATE_CANCELLED}
)
ACTIVE_STATES = frozenset(
    {job_pb2.JOB_STATE_STARTING, job_pb2.JOB_STATE_RUNNING, job_pb2.JOB_STATE_PAUSED}
)


class JobRecords:
    """Jobs as stored, changed one at a time under their locks."""

    def __init__(
        self,
        *,
        store: JobStore,
        bus: EventBus,
        metrics: ServiceMetrics,
        workers: WorkerRegistry,
        job_retention_seconds: float,
    ) -> None:
        self.store = store
        self.bus = bus
        self.metrics = metrics
        self.workers = workers
        self.job_retention_seconds = job_retention_seconds
        self.on_change: Callable[[], None] = lambda: None
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        # Unfinished jobs as last saved, so that reading one (GetJob, a debug
        # call, a step report) skips the store thread, which writes keep busy.
        self._live: dict[str, job_pb2.Job] = {}

    async def get(self, job_id: str) -> job_pb2.Job:
        """The job, or NotFound."""
        if not job_id:
            raise InvalidArgument.from_violations([FieldViolation("job_id", "must be set")])
        job = await self._load(job_id)
        if job is None:
            raise NotFound(f"job {job_id!r} not found; `mtlctl list` shows the jobs there are")
        return job

    async def _load(self, job_id: str) -> job_pb2.Job | None:
        """A copy of the job as last saved: from memory while it is unfinished
        (no store round trip per step report or debug call), else from the store."""
        live = self._live.get(job_id)
        if live is not None:
            return copy_job(live)
        return await self.store.get_job(job_id)

    async def refresh_job_counts(self) -> None:
        self.metrics.set_job_counts(await self.store.count_by_state())

    async def _owned_job(self, worker: WorkerConnection, job_id: str) -> job_pb2.Job | None:
        """The job if `worker` holds it; a stale report from elsewhere is dropped."""
        job = await self._load(job_id)
        if job is None or job.worker_id != worker.worker_id:
            log.warning("stale_worker_report", job_id=job_id, worker_id=worker.worker_id)
            return None
        return job

    async def _requeue(self, job: job_pb2.Job, reason: str, *, worker_lost: bool = False) -> None:
        max_attempts = job.spec.max_attempts or DEFAULT_MAX_ATTEMPTS
        if worker_lost:
            self._stop_holders(job, reason)  # the surviving ranks of a distributed job
        if worker_lost and job.attempt >= max_attempts:
            reason = f"{reason}; gave up after attempt {job.attempt} of max_attempts {max_attempts}"
            await self._transition(job, job_pb2.JOB_STATE_FAILED, reason)
            return
        job.attempt += 1
        job.worker_id = ""
        del job.rank_worker_ids[:]
        await self._transition(job, job_pb2.JOB_STATE_QUEUED, reason)

    def _stop_holders(self, job: job_pb2.Job, reason: str) -> None:
        """Tell the workers still running the job (every rank of a distributed
        job) to stop it."""
        for worker_id in list(job.rank_worker_ids) or [job.worker_id]:
            worker = self.workers.get(worker_id)
            if worker is not None and worker.job_id == job.id:
                stop = worker_pb2.StopJob(job_id=job.id, reason=reason)
                worker.send(worker_pb2.ServiceMessage(stop_job=stop))

    async def _transition(
        self,
        job: job_pb2.Job,
        to_state: int,
        reason: str,
        *,
        message: str = "",
        before: Sequence[job_pb2.JobEvent] = (),
    ) -> None:
        """Move the job to `to_state`, storing `before` events then the state change."""
        from_state = job.state
        if from_state == job_pb2.JOB_STATE_PAUSED:
            apply_resume(job)
            self.metrics.job_resumed(job.id)
        job.state = to_state
        if to_state in TERMINAL_STATES:
            job.end_time.CopyFrom(now_timestamp())
            if to_state != job_pb2.JOB_STATE_SUCCEEDED:
                job.message = message or reason
        await self._save(job, [*before, state_event(from_state, job, reason)])
        log.info(
            "job_state_changed",
            job_id=job.id,
            from_state=state_name(from_state),
            to_state=state_name(to_state),
            reason=reason,
            attempt=job.attempt,
        )
        if to_state in TERMINAL_STATES:
            self._locks.pop(job.id, None)
            loop = asyncio.get_running_loop()
            loop.call_later(self.job_retention_seconds, self.metrics.forget_job, job.id)

    async def _save(self, job: job_pb2.Job, events: list[job_pb2.JobEvent]) -> None:
        stored = await self.store.save(job, events)
        if job.state in TERMINAL_STATES:
            self._live.pop(job.id, None)
        else:
            self._live[job.id] = copy_job(job)
        self.bus.publish(job.id, stored)
        log_setting_changes(job.id, stored)

    async def _after_change(self) -> None:
        await self.refresh_job_counts()
        self.on_change()


def copy_job(job: job_pb2.Job) -> job_pb2.Job:
    """A copy callers may change without touching the cached job."""
    copied = job_pb2.Job()
    copied.CopyFrom(job)
    return copied


def state_event(from_state: int, job: job_pb2.Job, reason: str) -> job_pb2.JobEvent:
    """The StateChange event of `job` having moved from `from_state` to its state."""
    return job_pb2.JobEvent(
        state_change=job_pb2.StateChange(
            from_state=from_state, to_state=job.state, reason=reason, attempt=job.attempt
        )
    )


def state_name(state: int) -> str:
    """A job state's short name, e.g. "RUNNING"."""
    return job_pb2.JobState.Name(state).removeprefix("JOB_STATE_")
