"""WorkerService.Connect: one bidirectional stream per worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import structlog

from mtl.v1 import worker_pb2, worker_pb2_grpc
from mtl_service.server.debug_broker import DebugBroker
from mtl_service.server.jobs import JobManager
from mtl_service.server.worker_registry import WorkerConnection, WorkerRegistry

log = structlog.get_logger(__name__)


class WorkerChannelServicer(worker_pb2_grpc.WorkerServiceServicer):
    """Registers workers, hands them jobs and turns their reports into job changes."""

    def __init__(
        self,
        *,
        jobs: JobManager,
        workers: WorkerRegistry,
        broker: DebugBroker,
        heartbeat_interval_seconds: float,
    ) -> None:
        self.jobs = jobs
        self.workers = workers
        self.broker = broker
        self.heartbeat_interval_seconds = heartbeat_interval_seconds
        self._cleanups: set[asyncio.Future[None]] = set()

    async def Connect(
        self,
        request_iterator: AsyncIterator[worker_pb2.WorkerMessage],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[worker_pb2.ServiceMessage]:
        first = await anext(aiter(request_iterator), None)
        if first is None or not first.HasField("register"):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the first message must be a RegisterWorker"
            )
        connection = await self._register(first.register)
        yield worker_pb2.ServiceMessage(
            registered=worker_pb2.WorkerRegistered(
                heartbeat_interval_seconds=self.heartbeat_interval_seconds
            )
        )
        reader = asyncio.create_task(self._read(connection, request_iterator))
        try:
            while (message := await connection.outbox.get()) is not None:
                yield message
        finally:
            reader.cancel()
            await self._unregister_shielded(connection)

    async def _unregister_shielded(self, connection: WorkerConnection) -> None:
        """Unregister even when the stream ends by cancellation: a requeue cut off
        half-way would leave the job with a dead worker, or queued unscheduled."""
        cleanup = asyncio.ensure_future(self._unregister(connection))
        self._cleanups.add(cleanup)  # the loop keeps only weak references to tasks
        cleanup.add_done_callback(self._cleanups.discard)
        await asyncio.shield(cleanup)

    async def _register(self, register: worker_pb2.RegisterWorker) -> WorkerConnection:
        connection = WorkerConnection(
            worker_id=register.worker_id,
            hostname=register.hostname,
            device=register.device,
            device_name=register.device_name,
            draining=register.draining,
        )
        previous = self.workers.add(connection)
        structlog.contextvars.bind_contextvars(worker_id=connection.worker_id)
        log.info("worker_registered", device=register.device, hostname=register.hostname)
        if previous is not None:
            await self._replaced(previous, register.running_job_id)
        if register.running_job_id:
            await self._reattach(connection, register.running_job_id)
        self.jobs.on_change()
        return connection

    async def _replaced(self, previous: WorkerConnection, running_job_id: str) -> None:
        """The worker reconnected before its old stream was seen to end; a job the
        old stream held that the worker no longer runs was lost with it."""
        previous.disconnect()
        if previous.job_id is not None and previous.job_id != running_job_id:
            reason = f"worker {previous.worker_id} restarted without its job"
            await self.jobs.requeue(previous.job_id, reason, worker_lost=True)

    async def _reattach(self, connection: WorkerConnection, job_id: str) -> None:
        """A reconnecting worker keeps its job if the service still gives it to it."""
        if await self.jobs.reattach(connection, job_id):
            return
        connection.send(
            worker_pb2.ServiceMessage(
                stop_job=worker_pb2.StopJob(job_id=job_id, reason="the service reassigned it")
            )
        )

    async def _read(
        self,
        connection: WorkerConnection,
        request_iterator: AsyncIterator[worker_pb2.WorkerMessage],
    ) -> None:
        try:
            async for message in request_iterator:
                connection.last_seen_monotonic = time.monotonic()
                await self._handle(connection, message)
        except (grpc.aio.AioRpcError, asyncio.CancelledError):
            pass  # the stream ended; _unregister handles the worker's job
        finally:
            connection.disconnect()

    async def _handle(
        self, connection: WorkerConnection, message: worker_pb2.WorkerMessage
    ) -> None:
        kind = message.WhichOneof("payload")
        if kind == "job_started":
            await self.jobs.job_started(connection, message.job_started)
        elif kind == "step_report":
            await self.jobs.steps_reported(connection, message.step_report)
        elif kind == "checkpoint_saved":
            await self.jobs.checkpoint_saved(connection, message.checkpoint_saved)
        elif kind == "job_finished":
            await self.jobs.job_finished(connection, message.job_finished)
        elif kind == "debug_reply":
            self.broker.deliver(message.debug_reply)
        elif kind == "job_event":
            await self.jobs.event_reported(connection, message.job_event)
        elif kind == "rendezvous":
            await self.jobs.rendezvous_reported(connection, message.rendezvous)
        elif kind == "draining":
            connection.draining = True
            log.info("worker_draining", reason=message.draining.reason)
            self.jobs.on_change()
        elif kind == "register":
            log.warning("duplicate_register_ignored")
        elif kind == "heartbeat":
            self.jobs.metrics.observe_heartbeat(
                connection.worker_id, connection.device, message.heartbeat
            )

    async def _unregister(self, connection: WorkerConnection) -> None:
        if not self.workers.remove(connection):
            return
        self.broker.worker_gone(connection.worker_id)
        lost = connection.job_id is not None or self._missed_heartbeats(connection)
        self.jobs.metrics.worker_gone(connection.worker_id, lost=lost)
        log.info("worker_disconnected", worker_id=connection.worker_id, job_id=connection.job_id)
        if connection.job_id is not None:
            await self.jobs.requeue(
                connection.job_id, f"worker {connection.worker_id} disconnected", worker_lost=True
            )
        self.jobs.on_change()

    async def watch_heartbeats(self) -> None:
        """Disconnect workers that stopped sending anything for 3 intervals."""
        while True:
            await asyncio.sleep(self.heartbeat_interval_seconds)
            for connection in self.workers.all():
                if self._missed_heartbeats(connection):
                    log.warning("worker_heartbeat_missed", worker_id=connection.worker_id)
                    connection.disconnect()

    def _missed_heartbeats(self, connection: WorkerConnection) -> bool:
        """The worker sent nothing for 3 heartbeat intervals."""
        silent_seconds = time.monotonic() - connection.last_seen_monotonic
        return silent_seconds > 3 * self.heartbeat_interval_seconds
