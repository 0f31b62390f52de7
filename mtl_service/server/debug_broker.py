"""Forward debug commands to the worker running a job and correlate its replies."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from google.protobuf.message import Message

from mtl.v1 import job_pb2, worker_pb2
from mtl_service.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    Unavailable,
    error_for_code,
)
from mtl_service.server.auth import current_caller
from mtl_service.server.jobs import JobManager
from mtl_service.server.worker_registry import WorkerConnection, WorkerRegistry

DEFAULT_TIMEOUT_SECONDS = 30.0
DEBUGGABLE_STATES = (job_pb2.JOB_STATE_RUNNING, job_pb2.JOB_STATE_PAUSED)
_GONE = worker_pb2.DebugReply(
    failure=worker_pb2.DebugFailure(code="UNAVAILABLE", message="the job's worker went away")
)


@dataclass(slots=True)
class _Pending:
    worker_id: str
    replies: asyncio.Queue[worker_pb2.DebugReply] = field(default_factory=asyncio.Queue)


class DebugBroker:
    """Sends a command with a correlation id and waits for the matching replies."""

    def __init__(self, jobs: JobManager, workers: WorkerRegistry) -> None:
        self.jobs = jobs
        self.workers = workers
        self._pending: dict[str, _Pending] = {}

    async def call(
        self,
        job_id: str,
        command: str,
        request: Message,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> worker_pb2.DebugReply:
        """Send one command and return its single reply."""
        async for reply in self.stream(job_id, command, request, timeout_seconds=timeout_seconds):
            return reply
        raise Unavailable(f"the worker of job {job_id} closed the command without a reply")

    async def stream(
        self,
        job_id: str,
        command: str,
        request: Message,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> AsyncIterator[worker_pb2.DebugReply]:
        """Send one command and yield its replies until the last.

        FailedPrecondition unless the job is RUNNING or PAUSED; Unavailable when
        its worker is gone; DeadlineExceeded when a reply takes longer than
        `timeout_seconds`; a failure the worker reports raises its own status.
        """
        worker = await self._worker_of(job_id)
        correlation_id = uuid.uuid4().hex
        pending = _Pending(worker_id=worker.worker_id)
        self._pending[correlation_id] = pending
        try:
            debug_command = worker_pb2.DebugCommand(
                correlation_id=correlation_id, job_id=job_id, caller=current_caller()
            )
            getattr(debug_command, command).CopyFrom(request)
            worker.send(worker_pb2.ServiceMessage(debug_command=debug_command))
            while True:
                reply = await self._next(pending, job_id, command, timeout_seconds)
                if reply.HasField("failure"):
                    raise error_for_code(reply.failure.code, reply.failure.message)
                yield reply
                if not reply.more:
                    return
        finally:
            del self._pending[correlation_id]

    def deliver(self, reply: worker_pb2.DebugReply) -> None:
        """A reply arrived from a worker; a late one (after a timeout) is dropped."""
        pending = self._pending.get(reply.correlation_id)
        if pending is not None:
            pending.replies.put_nowait(reply)

    def worker_gone(self, worker_id: str) -> None:
        """Fail every command waiting on `worker_id` with UNAVAILABLE."""
        for pending in self._pending.values():
            if pending.worker_id == worker_id:
                pending.replies.put_nowait(_GONE)

    async def _worker_of(self, job_id: str) -> WorkerConnection:
        job = await self.jobs.get(job_id)
        if job.state not in DEBUGGABLE_STATES:
            state = job_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_")
            raise FailedPrecondition(
                f"job {job_id} is {state}; debug commands need a RUNNING or PAUSED job"
            )
        worker = self.workers.get(job.worker_id)
        if worker is None or worker.job_id != job_id:
            raise Unavailable(
                f"the worker of job {job_id} is gone; the job will be requeued, retry then"
            )
        return worker

    @staticmethod
    async def _next(
        pending: _Pending, job_id: str, command: str, timeout_seconds: float
    ) -> worker_pb2.DebugReply:
        try:
            return await asyncio.wait_for(pending.replies.get(), timeout_seconds)
        except TimeoutError:
            raise DeadlineExceeded(
                f"job {job_id} did not answer {command} within {timeout_seconds:.0f} s; "
                "a step may be slow — retry with a longer deadline"
            ) from None
