"""DebugService: validate the request, forward it to the job's worker, return the reply."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import grpc

from mtl.v1 import debug_pb2, debug_pb2_grpc, job_pb2
from mtl_service.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from mtl_service.server.audit import breakpoint_changed
from mtl_service.server.auth import current_caller
from mtl_service.server.debug_broker import DebugBroker
from mtl_service.server.job_records import TERMINAL_STATES
from mtl_service.server.jobs import JobManager
from mtl_service.spec.breakpoints import (
    MAX_BREAKPOINTS_PER_JOB,
    armed,
    breakpoint_violations,
    selector_violation,
)

MAX_PROFILE_STEPS = 100
DEFAULT_SNAPSHOT_MAX_BYTES = 1 << 30
LONG_TIMEOUT_SECONDS = 600.0


def _invalid(field: str, description: str) -> InvalidArgument:
    return InvalidArgument.from_violations([FieldViolation(field, description)])


def _deadline(context: grpc.aio.ServicerContext) -> float:
    """The caller's remaining deadline, capped; for commands that span steps."""
    remaining = context.time_remaining()
    return LONG_TIMEOUT_SECONDS if remaining is None else min(remaining, LONG_TIMEOUT_SECONDS)


class DebugServicer(debug_pb2_grpc.DebugServiceServicer):
    def __init__(self, jobs: JobManager, broker: DebugBroker) -> None:
        self.jobs = jobs
        self.broker = broker
        self._profiling: set[str] = set()

    async def SetBreakpoint(
        self, request: debug_pb2.SetBreakpointRequest, context: grpc.aio.ServicerContext
    ) -> debug_pb2.SetBreakpointResponse:
        job = await self.jobs.get(request.job_id)
        violations = list(breakpoint_violations(request.breakpoint, job.spec.tasks, "breakpoint"))
        if violations:
            raise InvalidArgument.from_violations(violations)
        job = await self._changeable_job(request.job_id)
        if len(job.breakpoints) >= MAX_BREAKPOINTS_PER_JOB:
            raise _invalid("breakpoint", f"a job holds at most {MAX_BREAKPOINTS_PER_JOB}")
        breakpoint = armed(request.breakpoint, job.num_breakpoints_set + 1)
        if job.state != job_pb2.JOB_STATE_QUEUED:
            await self.broker.call(job.id, "set_breakpoint", breakpoint)

        def add(stored: job_pb2.Job) -> list[job_pb2.JobEvent]:
            stored.breakpoints.append(breakpoint)
            stored.num_breakpoints_set = max(
                stored.num_breakpoints_set, job.num_breakpoints_set + 1
            )
            return [breakpoint_changed(breakpoint, armed=True, caller=current_caller())]

        await self.jobs.update(job.id, add)
        return debug_pb2.SetBreakpointResponse(breakpoint=breakpoint)

    async def ListBreakpoints(
        self, request: debug_pb2.ListBreakpointsRequest, context: grpc.aio.ServicerContext
    ) -> debug_pb2.ListBreakpointsResponse:
        job = await self.jobs.get(request.job_id)
        return debug_pb2.ListBreakpointsResponse(breakpoints=job.breakpoints)

    async def DeleteBreakpoint(
        self, request: debug_pb2.DeleteBreakpointRequest, context: grpc.aio.ServicerContext
    ) -> debug_pb2.DeleteBreakpointResponse:
        job = await self._changeable_job(request.job_id)
        if request.breakpoint_id not in {b.id for b in job.breakpoints}:
            raise NotFound(
                f"job {job.id} has no breakpoint {request.breakpoint_id!r}; "
                f"it has {[b.id for b in job.breakpoints]}"
            )
        if job.state != job_pb2.JOB_STATE_QUEUED:
            await self.broker.call(job.id, "delete_breakpoint", request)

        def remove(stored: job_pb2.Job) -> list[job_pb2.JobEvent]:
            removed = [b for b in stored.breakpoints if b.id == request.breakpoint_id]
            kept = [b for b in stored.breakpoints if b.id != request.breakpoint_id]
            del stored.breakpoints[:]
            stored.breakpoints.extend(kept)
            caller = current_caller()
            return [breakpoint_changed(b, armed=False, caller=caller) for b in removed]

        await self.jobs.update(job.id, remove)
        return debug_pb2.DeleteBreakpointResponse()

    async def PauseJob(
        self, request: debug_pb2.PauseJobRequest, context: grpc.aio.ServicerContext
    ) -> debug_pb2.PauseJobResponse:
        return (await self.broker.call(request.job_id, "pause", request)).paused

    async def ResumeJob(
        self, request: debug_pb2.ResumeJobRequest, context: grpc.aio.ServicerContext
    ) -> debug_pb2.ResumeJobResponse:
        return (await self.broker.call(request.job_id, "resume", request)).resumed

    async def StepJob(
        self, request: debug_pb2.StepJobRequest, context: grpc.aio.ServicerContext
    ) -> debug_pb2.StepJobResponse:
        if request.num_steps <= 0:
            raise _invalid("num_steps", f"must be > 0, got {request.num_steps}")
        reply = await self.broker.call(
            request.job_id, "step", request, timeout_seconds=_deadline(context)
        )
        return reply.stepped

    async def SnapshotTensors(
        self, request: debug_pb2.SnapshotTensorsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[debug_pb2.SnapshotTensorsResponse]:
        if not request.selectors:
            raise _invalid("selectors", "give at least one selector, e.g. param:* or loss:*")
        for index, selector in enumerate(request.selectors):
            if (problem := selector_violation(selector)) is not None:
                raise _invalid(f"selectors[{index}]", problem)
        if request.max_bytes < 0:
            raise _invalid("max_bytes", f"must be >= 0, got {request.max_bytes}")
        if request.rank:
            world_size = (await self.jobs.get(request.job_id)).spec.distributed.world_size
            if not 0 <= request.rank < max(world_size, 1):
                raise _invalid(
                    "rank",
                    f"must be in [0, {max(world_size, 1) - 1}] (the job's ranks), "
                    f"got {request.rank}",
                )
        forwarded = debug_pb2.SnapshotTensorsRequest()
        forwarded.CopyFrom(request)
        forwarded.max_bytes = request.max_bytes or DEFAULT_SNAPSHOT_MAX_BYTES
        async for reply in self.broker.stream(request.job_id, "snapshot", forwarded):
            if reply.snapshot.HasField("chunk"):
                self.jobs.metrics.snapshot_streamed(request.job_id, len(reply.snapshot.chunk.data))
            yield reply.snapshot

    async def AdjustLossWeights(
        self, request: debug_pb2.AdjustLossWeightsRequest, context: grpc.aio.ServicerContext
    ) -> debug_pb2.AdjustLossWeightsResponse:
        job = await self.jobs.get(request.job_id)
        if not request.weights:
            raise _invalid(
                "weights", f"give at least one task=weight; tasks: {list(job.spec.tasks)}"
            )
        violations = [
            FieldViolation(f"weights.{task}", problem)
            for task, weight in sorted(request.weights.items())
            if (problem := _weight_problem(task, weight, list(job.spec.tasks))) is not None
        ]
        if violations:
            raise InvalidArgument.from_violations(violations)
        return (await self.broker.call(job.id, "adjust_loss_weights", request)).loss_weights

    async def SetLearningRate(
        self, request: debug_pb2.SetLearningRateRequest, context: grpc.aio.ServicerContext
    ) -> debug_pb2.SetLearningRateResponse:
        if not math.isfinite(request.learning_rate) or request.learning_rate <= 0:
            raise _invalid("learning_rate", f"must be finite and > 0, got {request.learning_rate}")
        return (await self.broker.call(request.job_id, "set_learning_rate", request)).learning_rate

    async def CaptureProfile(
        self, request: debug_pb2.CaptureProfileRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[debug_pb2.CaptureProfileResponse]:
        if not 1 <= request.num_steps <= MAX_PROFILE_STEPS:
            raise _invalid(
                "num_steps", f"must be in [1, {MAX_PROFILE_STEPS}], got {request.num_steps}"
            )
        if request.job_id in self._profiling:
            raise FailedPrecondition(f"a profile of job {request.job_id} is already being captured")
        self._profiling.add(request.job_id)
        try:
            async for reply in self.broker.stream(
                request.job_id, "capture_profile", request, timeout_seconds=_deadline(context)
            ):
                yield reply.profile
            self.jobs.metrics.profile_captured(request.job_id)
        finally:
            self._profiling.discard(request.job_id)

    async def GetTaskStats(
        self, request: debug_pb2.GetTaskStatsRequest, context: grpc.aio.ServicerContext
    ) -> debug_pb2.GetTaskStatsResponse:
        return (await self.broker.call(request.job_id, "task_stats", request)).task_stats

    async def _changeable_job(self, job_id: str) -> job_pb2.Job:
        job = await self.jobs.get(job_id)
        if job.state in TERMINAL_STATES or job.state == job_pb2.JOB_STATE_STARTING:
            state = job_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_")
            hint = "retry when it is RUNNING" if state == "STARTING" else "it has ended"
            raise FailedPrecondition(f"job {job_id} is {state}; {hint}")
        return job


def _weight_problem(task: str, weight: float, tasks: list[str]) -> str | None:
    if task not in tasks:
        return f"unknown task; the job trains {tasks}"
    if not math.isfinite(weight) or weight < 0:
        return f"must be finite and >= 0, got {weight}"
    return None
