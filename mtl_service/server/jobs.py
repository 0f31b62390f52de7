"""Job lifecycle: submit, cancel, placement, the state changes workers
report, and re-attachment after a restart (on top of `JobRecords`)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Sequence

import structlog

from mtl.v1 import debug_types_pb2, job_pb2, spec_pb2, worker_pb2
from mtl_service.errors import FailedPrecondition, FieldViolation, InvalidArgument
from mtl_service.server.job_records import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    JobRecords,
    copy_job,
    state_event,
    state_name,
)
from mtl_service.server.page_tokens import decode_page_token, encode_page_token
from mtl_service.server.pause_accounting import apply_pause, apply_resume, count_hit
from mtl_service.server.store import now_timestamp
from mtl_service.server.worker_registry import WorkerConnection
from mtl_service.spec.breakpoints import armed
from mtl_service.spec.jobspec import spec_sha256, validate_spec, with_defaults

log = structlog.get_logger(__name__)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class JobManager(JobRecords):
    """The domain logic behind JobService and the worker channel."""

    async def submit(
        self, spec: spec_pb2.JobSpec, fork_origin: job_pb2.ForkOrigin | None = None
    ) -> job_pb2.Job:
        """Validate and queue a job; InvalidArgument names each bad field."""
        spec = with_defaults(spec)
        validate_spec(spec)
        job = job_pb2.Job(
            id=f"job-{secrets.token_hex(6)}",
            spec=spec,
            state=job_pb2.JOB_STATE_QUEUED,
            attempt=1,
            create_time=now_timestamp(),
            spec_sha256=spec_sha256(spec),
        )
        if fork_origin is not None:
            job.fork_origin.CopyFrom(fork_origin)
        for number, breakpoint in enumerate(spec.breakpoints, start=1):
            job.breakpoints.append(armed(breakpoint, number))
        job.num_breakpoints_set = len(spec.breakpoints)
        reason = f"forked from {fork_origin.parent_job_id}" if fork_origin else "submitted"
        event = state_event(job_pb2.JOB_STATE_UNSPECIFIED, job, reason)
        await self.store.create_job(job, event)
        self._live[job.id] = copy_job(job)
        self.bus.publish(job.id, [event])
        log.info("job_submitted", job_id=job.id, name=spec.name, problem=spec.problem.name)
        await self._after_change()
        return job

    async def list(
        self, *, states: Sequence[int], page_size: int, page_token: str
    ) -> tuple[list[job_pb2.Job], str]:
        """One page of jobs, newest first, and the token of the next page."""
        if page_size < 0 or page_size > MAX_PAGE_SIZE:
            raise InvalidArgument.from_violations(
                [FieldViolation("page_size", f"must be in [0, {MAX_PAGE_SIZE}], got {page_size}")]
            )
        for index, state in enumerate(states):
            if state not in job_pb2.JobState.values() or state == job_pb2.JOB_STATE_UNSPECIFIED:
                raise InvalidArgument.from_violations(
                    [FieldViolation(f"states[{index}]", f"unknown job state {state}")]
                )
        page = await self.store.list_jobs(
            states=states,
            page_size=page_size or DEFAULT_PAGE_SIZE,
            before_position=decode_page_token(page_token),
        )
        return page.jobs, encode_page_token(page.next_position)

    async def cancel(self, job_id: str, reason: str) -> job_pb2.Job:
        """Cancel a queued or active job; FailedPrecondition when it already ended."""
        async with self._locks[job_id]:
            job = await self.get(job_id)
            if job.state in TERMINAL_STATES:
                raise FailedPrecondition(
                    f"job {job_id} already ended as {state_name(job.state)}; nothing to cancel"
                )
            self._stop_holders(job, reason)
            await self._transition(
                job, job_pb2.JOB_STATE_CANCELLED, reason or "cancelled by user", message=reason
            )
        await self._after_change()
        return job

    async def assign(self, job: job_pb2.Job, workers: Sequence[WorkerConnection]) -> None:
        """Give a queued job to idle workers, one per rank, rank 0 first
        (called by the scheduler)."""
        async with self._locks[job.id]:
            current = await self._load(job.id)
            if current is None or current.state != job_pb2.JOB_STATE_QUEUED:
                return
            checkpoint = await self.store.latest_checkpoint(job.id)
            # No await from this check to `worker.job_id = ...`: a worker may have
            # left, taken a job or started draining while the scheduler looked.
            if any(
                self.workers.get(w.worker_id) is not w or w.job_id is not None or w.draining
                for w in workers
            ):
                return
            current.worker_id = workers[0].worker_id
            current.rank_worker_ids[:] = [w.worker_id for w in workers] if len(workers) > 1 else []
            for worker in workers:
                worker.job_id = job.id
            names = ", ".join(w.worker_id for w in workers)
            reason = f"assigned to worker{'s' if len(workers) > 1 else ''} {names}"
            await self._transition(current, job_pb2.JOB_STATE_STARTING, reason)
            for rank, worker in enumerate(workers):
                worker.send(
                    worker_pb2.ServiceMessage(
                        assign_job=worker_pb2.AssignJob(
                            job_id=job.id,
                            spec=current.spec,
                            attempt=current.attempt,
                            resume_checkpoint_path=checkpoint or "",
                            breakpoints=current.breakpoints,
                            fork_origin=current.fork_origin
                            if current.HasField("fork_origin")
                            else None,
                            rank=rank,
                        )
                    )
                )
        await self._after_change()

    async def rendezvous_reported(
        self, worker: WorkerConnection, message: worker_pb2.JobRendezvous
    ) -> None:
        """Rank 0's store listens: tell the job's other ranks where."""
        async with self._locks[message.job_id]:
            job = await self._owned_job(worker, message.job_id)
            if job is None or job.state in TERMINAL_STATES or job.attempt != message.attempt:
                return
            for worker_id in job.rank_worker_ids[1:]:
                follower = self.workers.get(worker_id)
                if follower is not None and follower.job_id == job.id:
                    follower.send(worker_pb2.ServiceMessage(rendezvous=message))

    async def job_started(self, worker: WorkerConnection, message: worker_pb2.JobStarted) -> None:
        async with self._locks[message.job_id]:
            job = await self._owned_job(worker, message.job_id)
            if job is None or job.state != job_pb2.JOB_STATE_STARTING:
                return
            job.environment.CopyFrom(message.environment)
            if not job.HasField("start_time"):
                job.start_time.CopyFrom(now_timestamp())
            resumed = message.resumed_from_step
            reason = f"resumed from step {resumed}" if resumed else "training"
            await self._transition(job, job_pb2.JOB_STATE_RUNNING, reason)
        await self._after_change()

    async def steps_reported(
        self, worker: WorkerConnection, message: worker_pb2.JobStepReport
    ) -> None:
        if not message.steps:
            return
        async with self._locks[message.job_id]:
            job = await self._owned_job(worker, message.job_id)
            if job is None or job.state in TERMINAL_STATES:
                return
            last = message.steps[-1]
            job.step = last.step
            job.task_losses.clear()
            job.task_losses.update(last.task_losses)
            job.task_weights.clear()
            job.task_weights.update(last.task_weights)
            event = job_pb2.JobEvent(step_report=job_pb2.StepReport(steps=message.steps))
            await self._save(job, [event])
        self.metrics.observe_steps(message.job_id, message.steps)

    async def checkpoint_saved(
        self, worker: WorkerConnection, message: worker_pb2.JobCheckpointSaved
    ) -> None:
        async with self._locks[message.job_id]:
            job = await self._owned_job(worker, message.job_id)
            if job is None:
                return
            checkpoint = message.checkpoint
            await self.store.add_checkpoint(
                job.id, checkpoint.step, checkpoint.path, checkpoint.size_bytes
            )
            await self._save(job, [job_pb2.JobEvent(checkpoint_saved=checkpoint)])
        self.metrics.checkpoint_saved(message.job_id, message.checkpoint)

    async def job_finished(self, worker: WorkerConnection, message: worker_pb2.JobFinished) -> None:
        """The worker let go of the job and is free again; the job ends or is
        requeued. Of a distributed job, rank 0 says how the job ended; another
        rank that stopped early (its worker left, or it failed) takes the whole
        job back to the queue."""
        async with self._locks[message.job_id]:
            if worker.job_id == message.job_id:
                worker.job_id = None
            job = await self._load(message.job_id)
            if job is not None and job.state not in TERMINAL_STATES:
                if job.worker_id != worker.worker_id:
                    await self._follower_finished(job, worker, message)
                elif message.state == job_pb2.JOB_STATE_QUEUED:
                    reason = message.message or "stopped by its worker"
                    await self._requeue(job, reason, worker_lost=message.rank_lost)
                elif message.state in TERMINAL_STATES:
                    job.step = max(job.step, message.final_step)
                    reason = message.message or state_name(message.state).lower()
                    await self._transition(job, message.state, reason, message=message.message)
        await self._after_change()

    async def _follower_finished(
        self, job: job_pb2.Job, worker: WorkerConnection, message: worker_pb2.JobFinished
    ) -> None:
        if worker.worker_id not in job.rank_worker_ids:
            return  # the job moved on to other workers meanwhile
        if message.state in (job_pb2.JOB_STATE_QUEUED, job_pb2.JOB_STATE_FAILED):
            rank = list(job.rank_worker_ids).index(worker.worker_id)
            state = state_name(message.state).lower()
            reason = f"rank {rank} (worker {worker.worker_id}) stopped ({state}): {message.message}"
            lost = message.rank_lost or message.state == job_pb2.JOB_STATE_FAILED
            await self._requeue(job, reason, worker_lost=lost)

    async def requeue(self, job_id: str, reason: str, *, worker_lost: bool = False) -> None:
        """Put an active job back in the queue; with `worker_lost` (its worker
        crashed or vanished) the job FAILS instead once it used up max_attempts."""
        async with self._locks[job_id]:
            job = await self._load(job_id)
            if job is not None and job.state in ACTIVE_STATES:
                await self._requeue(job, reason, worker_lost=worker_lost)
        await self._after_change()

    async def reattach(self, worker: WorkerConnection, job_id: str) -> bool:
        """A reconnecting worker still runs `job_id`: give it back to that worker
        if the job is active on it, or queued and not yet placed elsewhere."""
        async with self._locks[job_id]:
            job = await self._load(job_id)
            if job is None or job.state in TERMINAL_STATES:
                return False
            distributed = len(job.rank_worker_ids) > 1
            if job.state == job_pb2.JOB_STATE_QUEUED and not distributed:
                job.worker_id = worker.worker_id
                reason = f"worker {worker.worker_id} re-attached (still running it)"
                await self._transition(job, job_pb2.JOB_STATE_RUNNING, reason)
            elif job.state in ACTIVE_STATES and (
                job.worker_id == worker.worker_id or worker.worker_id in job.rank_worker_ids
            ):
                reason = f"worker {worker.worker_id} re-attached"
                await self._save(job, [state_event(job.state, job, reason)])
            else:
                return False
            worker.job_id = job_id
        log.info("worker_reattached", job_id=job_id, worker_id=worker.worker_id)
        await self._after_change()
        return True

    async def hold_for_reattach(self, grace_seconds: float) -> list[str]:
        """After a restart, active jobs stay with their workers for `grace_seconds`
        (an event says so); returns their ids for `release_unclaimed`."""
        held = []
        for job in await self.store.jobs_in_states(sorted(ACTIVE_STATES)):
            async with self._locks[job.id]:
                reason = (
                    f"the service restarted; waiting {grace_seconds:g} s for worker "
                    f"{job.worker_id} to re-attach"
                )
                await self._save(job, [state_event(job.state, job, reason)])
            held.append(job.id)
        return held

    async def release_unclaimed(self, job_ids: Sequence[str], grace_seconds: float) -> None:
        """Requeue the held jobs whose worker did not re-attach within the grace period."""
        await asyncio.sleep(grace_seconds)
        for job_id in job_ids:
            job = await self.get(job_id)
            missing = [
                worker_id
                for worker_id in list(job.rank_worker_ids) or [job.worker_id]
                if (worker := self.workers.get(worker_id)) is None or worker.job_id != job_id
            ]
            if missing:
                names = ", ".join(missing)
                reason = f"worker {names} did not re-attach after the service restarted"
                await self.requeue(job_id, reason, worker_lost=True)

    async def update(
        self, job_id: str, change: Callable[[job_pb2.Job], list[job_pb2.JobEvent]]
    ) -> job_pb2.Job:
        """Apply `change` to the stored job under its lock and save it with the
        events `change` returns; NotFound when there is no such job."""
        async with self._locks[job_id]:
            job = await self.get(job_id)
            events = change(job)
            await self._save(job, events)
        return job

    async def event_reported(
        self, worker: WorkerConnection, report: worker_pb2.JobEventReport
    ) -> None:
        """Store an event the worker observed, with the state change it implies."""
        async with self._locks[report.job_id]:
            job = await self._owned_job(worker, report.job_id)
            if job is None or job.state in TERMINAL_STATES:
                return
            event = report.event
            kind = event.WhichOneof("payload")
            if kind == "paused" and job.state == job_pb2.JOB_STATE_RUNNING:
                apply_pause(job, event.paused)
                reason = f"paused at step {event.paused.step}"
                await self._transition(job, job_pb2.JOB_STATE_PAUSED, reason, before=[event])
                self.metrics.job_paused(job.id, _pause_reason_label(event.paused.reason))
            elif kind == "resumed" and job.state == job_pb2.JOB_STATE_PAUSED:
                apply_resume(job)
                reason = f"resumed at step {event.resumed.step}"
                await self._transition(job, job_pb2.JOB_STATE_RUNNING, reason, before=[event])
                self.metrics.job_resumed(job.id)
            else:
                if kind == "breakpoint_hit":
                    count_hit(job, event.breakpoint_hit.breakpoint_id)
                    self.metrics.breakpoint_hit(job.id)
                await self._save(job, [event])
        await self._after_change()

    async def requeue_all_active(self, reason: str) -> None:
        """Requeue every active job: at startup after a crash, or at shutdown."""
        for job in await self.store.jobs_in_states(sorted(ACTIVE_STATES)):
            await self.requeue(job.id, reason)


def _pause_reason_label(reason: int) -> str:
    return debug_types_pb2.PauseReason.Name(reason).removeprefix("PAUSE_REASON_").lower()
