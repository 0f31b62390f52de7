"""The worker's stream to the service, on its own thread, reconnecting with backoff."""

from __future__ import annotations

import queue
import random
import threading
from collections.abc import Callable, Iterator

import grpc
import structlog

from mtl.v1 import worker_pb2, worker_pb2_grpc

log = structlog.get_logger(__name__)

_CLOSE = object()  # sentinel in the outbox: end the request stream (half-close)


class ServiceConnection:
    """Keeps `WorkerService.Connect` open and hands received messages to `on_message`.

    `send` is thread-safe; messages queue while disconnected and go out after
    the next registration. `register` is called for every (re)connection, so
    it can report the job the worker is still running.
    """

    def __init__(
        self,
        *,
        address: str,
        worker_id: str,
        register: Callable[[], worker_pb2.RegisterWorker],
        on_message: Callable[[worker_pb2.ServiceMessage], None],
        heartbeat: Callable[[], worker_pb2.Heartbeat] = worker_pb2.Heartbeat,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self.address = address
        self.worker_id = worker_id
        self.register = register
        self.on_message = on_message
        self.heartbeat = heartbeat
        self.max_backoff_seconds = max_backoff_seconds
        self.heartbeat_interval_seconds = 5.0
        self.connected = threading.Event()
        self._outbox: queue.Queue[object] = queue.Queue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="service-connection", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def send(self, message: worker_pb2.WorkerMessage) -> None:
        self._outbox.put(message)

    def close(self, timeout_seconds: float) -> None:
        """Send what is queued, half-close the stream and stop reconnecting."""
        self._closing.set()
        self._outbox.put(_CLOSE)
        self._thread.join(timeout_seconds)

    def _run(self) -> None:
        backoff = 0.5
        structlog.contextvars.bind_contextvars(worker_id=self.worker_id)
        while not self._closing.is_set():
            with grpc.insecure_channel(self.address) as channel:
                stub = worker_pb2_grpc.WorkerServiceStub(channel)
                try:
                    for message in stub.Connect(self._requests()):
                        if message.HasField("registered"):
                            self._registered(message.registered)
                            backoff = 0.5
                        else:
                            self.on_message(message)
                except grpc.RpcError as error:
                    log.warning("service_connection_lost", code=str(error.code()))
                finally:
                    self.connected.clear()
            if self._closing.is_set():
                return
            delay = backoff * (1 + random.random())
            log.info("service_reconnecting", delay_seconds=round(delay, 2))
            self._closing.wait(delay)
            backoff = min(backoff * 2, self.max_backoff_seconds)

    def _registered(self, registered: worker_pb2.WorkerRegistered) -> None:
        if registered.heartbeat_interval_seconds > 0:
            self.heartbeat_interval_seconds = registered.heartbeat_interval_seconds
        self.connected.set()
        log.info("worker_connected", service=self.address)

    def _requests(self) -> Iterator[worker_pb2.WorkerMessage]:
        yield worker_pb2.WorkerMessage(register=self.register())
        while True:
            try:
                item = self._outbox.get(timeout=self.heartbeat_interval_seconds)
            except queue.Empty:
                yield worker_pb2.WorkerMessage(heartbeat=self.heartbeat())
                continue
            if item is _CLOSE:
                return
            assert isinstance(item, worker_pb2.WorkerMessage)
            yield item
