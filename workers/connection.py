"""The worker's stream to the service, on its own thread, reconnecting with backoff."""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog

from mtl.v1 import worker_pb2, worker_pb2_grpc

log = structlog.get_logger(__name__)

_CLOSE = object()  # sentinel in the outbox: end the request stream (half-close)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSecurity:
    """How the worker reaches the service: plain text or TLS (mutual with a
    certificate and key), and the bearer token it presents, if any."""

    token: str | None = None
    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = None

    @classmethod
    def from_files(
        cls, *, token: str | None, ca: Path | None, cert: Path | None, key: Path | None
    ) -> ChannelSecurity:
        """Read the PEM files; TLS is on when a CA or a certificate is given."""
        return cls(
            token=token or None,
            root_certificates=ca.read_bytes() if ca else None,
            certificate_chain=cert.read_bytes() if cert else None,
            private_key=key.read_bytes() if key else None,
        )

    def open_channel(self, address: str) -> grpc.Channel:
        if self.root_certificates is None and self.certificate_chain is None:
            return grpc.insecure_channel(address)
        credentials = grpc.ssl_channel_credentials(
            self.root_certificates, self.private_key, self.certificate_chain
        )
        return grpc.secure_channel(address, credentials)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()


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
        security: ChannelSecurity = ChannelSecurity(),
    ) -> None:
        self.address = address
        self.worker_id = worker_id
        self.register = register
        self.on_message = on_message
        self.heartbeat = heartbeat
        self.max_backoff_seconds = max_backoff_seconds
        self.heartbeat_interval_seconds = 5.0
        self.security = security
        self.connected = threading.Event()
        self._outbox = _Outbox()
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
            if self._stream_once():
                backoff = 0.5
            if self._closing.is_set():
                return
            delay = backoff * (1 + random.random())
            log.info("service_reconnecting", delay_seconds=round(delay, 2))
            self._closing.wait(delay)
            backoff = min(backoff * 2, self.max_backoff_seconds)

    def _stream_once(self) -> bool:
        """One Connect stream until it ends; True if the service registered us."""
        registered = False
        ended = threading.Event()
        with self.security.open_channel(self.address) as channel:
            stub = worker_pb2_grpc.WorkerServiceStub(channel)
            try:
                requests = self._requests(ended)
                for message in stub.Connect(requests, metadata=self.security.metadata):
                    if message.HasField("registered"):
                        self._registered(message.registered)
                        registered = True
                    else:
                        self.on_message(message)
            except grpc.RpcError as error:
                log.warning("service_connection_lost", code=str(error.code()))
            finally:
                ended.set()
                self.connected.clear()
        return registered

    def _registered(self, registered: worker_pb2.WorkerRegistered) -> None:
        if registered.heartbeat_interval_seconds > 0:
            self.heartbeat_interval_seconds = registered.heartbeat_interval_seconds
        self.connected.set()
        log.info("worker_connected", service=self.address)

    def _requests(self, ended: threading.Event) -> Iterator[worker_pb2.WorkerMessage]:
        """The messages of one stream. gRPC may still pull from this generator after
        its stream ended; what it takes then goes back to the front of the outbox
        for the next stream instead of being lost."""
        yield worker_pb2.WorkerMessage(register=self.register())
        while True:
            item = self._outbox.get(timeout_seconds=self.heartbeat_interval_seconds)
            if ended.is_set():
                if item is not None:
                    self._outbox.put(item, front=True)
                return
            if item is None:
                yield worker_pb2.WorkerMessage(heartbeat=self.heartbeat())
                continue
            if item is _CLOSE:
                return
            assert isinstance(item, worker_pb2.WorkerMessage)
            yield item


class _Outbox:
    """A thread-safe FIFO whose `put(front=True)` returns an item to the head."""

    def __init__(self) -> None:
        self._items: deque[object] = deque()
        self._ready = threading.Condition()

    def put(self, item: object, *, front: bool = False) -> None:
        with self._ready:
            if front:
                self._items.appendleft(item)
            else:
                self._items.append(item)
            self._ready.notify()

    def get(self, *, timeout_seconds: float) -> object | None:
        """The oldest item, or None when none arrived within the timeout."""
        with self._ready:
            if not self._ready.wait_for(lambda: self._items, timeout_seconds):
                return None
            return self._items.popleft()
