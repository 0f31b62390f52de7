"""JobService: thin conversion between requests and the JobManager."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from mtl.v1 import job_pb2, job_pb2_grpc
from mtl_service.errors import FieldViolation, InvalidArgument, ResourceExhausted
from mtl_service.server.debug_broker import DebugBroker
from mtl_service.server.event_bus import EventBus
from mtl_service.server.forking import fork_job
from mtl_service.server.job_records import TERMINAL_STATES
from mtl_service.server.jobs import JobManager
from mtl_service.spec.jobspec import MAX_SPEC_TEXT_BYTES, MAX_TASKS, parse_spec_text

HISTORY_PAGE_EVENTS = 32


class JobServicer(job_pb2_grpc.JobServiceServicer):
    def __init__(self, jobs: JobManager, bus: EventBus, broker: DebugBroker) -> None:
        self.jobs = jobs
        self.bus = bus
        self.broker = broker

    async def ForkJob(
        self, request: job_pb2.ForkJobRequest, context: grpc.aio.ServicerContext
    ) -> job_pb2.ForkJobResponse:
        return job_pb2.ForkJobResponse(job=await fork_job(self.jobs, self.broker, request))

    async def SubmitJob(
        self, request: job_pb2.SubmitJobRequest, context: grpc.aio.ServicerContext
    ) -> job_pb2.SubmitJobResponse:
        has_spec, has_text = request.HasField("spec"), bool(request.spec_text)
        if has_spec == has_text:
            raise InvalidArgument.from_violations(
                [FieldViolation("spec", "set exactly one of spec and spec_text")]
            )
        if len(request.spec_text.encode()) > MAX_SPEC_TEXT_BYTES:
            raise _too_large("spec_text", f"is larger than {MAX_SPEC_TEXT_BYTES} bytes")
        spec = request.spec if has_spec else parse_spec_text(request.spec_text)
        if len(spec.tasks) > MAX_TASKS:
            raise _too_large("tasks", f"must list at most {MAX_TASKS} tasks")
        return job_pb2.SubmitJobResponse(job=await self.jobs.submit(spec))

    async def GetJob(
        self, request: job_pb2.GetJobRequest, context: grpc.aio.ServicerContext
    ) -> job_pb2.GetJobResponse:
        return job_pb2.GetJobResponse(job=await self.jobs.get(request.job_id))

    async def ListJobs(
        self, request: job_pb2.ListJobsRequest, context: grpc.aio.ServicerContext
    ) -> job_pb2.ListJobsResponse:
        jobs, token = await self.jobs.list(
            states=list(request.states), page_size=request.page_size, page_token=request.page_token
        )
        return job_pb2.ListJobsResponse(jobs=jobs, next_page_token=token)

    async def CancelJob(
        self, request: job_pb2.CancelJobRequest, context: grpc.aio.ServicerContext
    ) -> job_pb2.CancelJobResponse:
        return job_pb2.CancelJobResponse(job=await self.jobs.cancel(request.job_id, request.reason))

    async def WatchJob(
        self, request: job_pb2.WatchJobRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[job_pb2.WatchJobResponse]:
        """History from the store, then live events, until the job ends."""
        job = await self.jobs.get(request.job_id)
        last = max(request.after_sequence, 0)
        with self.bus.subscribe(job.id) as subscription:
            while True:
                # The history in pages: a watcher that hangs up early (or reads
                # slowly) never makes the store decode a long history at once.
                page = await self.jobs.store.events(job.id, last, limit=HISTORY_PAGE_EVENTS)
                for event in page:
                    last = event.sequence
                    yield job_pb2.WatchJobResponse(event=event)
                    if _ends_job(event):
                        return
                if len(page) == HISTORY_PAGE_EVENTS:
                    continue
                if self.bus.closed:
                    return
                subscription.overflowed = False
                while not subscription.overflowed:
                    event = await subscription.queue.get()
                    if event is None or event.sequence <= last:
                        continue
                    if event.sequence > last + 1:
                        break  # a gap: read the missing events from the store
                    last = event.sequence
                    yield job_pb2.WatchJobResponse(event=event)
                    if _ends_job(event):
                        return


def _too_large(field: str, description: str) -> ResourceExhausted:
    violation = FieldViolation(field, description)
    return ResourceExhausted(f"request too large: {violation}", violations=[violation])


def _ends_job(event: job_pb2.JobEvent) -> bool:
    return event.HasField("state_change") and event.state_change.to_state in TERMINAL_STATES
