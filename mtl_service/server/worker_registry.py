"""The workers connected right now, their outboxes and what they run."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from mtl.v1 import worker_pb2


@dataclass(slots=True, kw_only=True)
class WorkerConnection:
    """One connected worker (one slot) and the messages waiting to go to it."""

    worker_id: str
    hostname: str
    device: str
    device_name: str
    job_id: str | None = None
    # The worker is shutting down: it hands back its job and takes no new one.
    draining: bool = False
    last_seen_monotonic: float = field(default_factory=time.monotonic)
    outbox: asyncio.Queue[worker_pb2.ServiceMessage | None] = field(default_factory=asyncio.Queue)

    def send(self, message: worker_pb2.ServiceMessage) -> None:
        self.outbox.put_nowait(message)

    def disconnect(self) -> None:
        """End the worker's stream from the service side."""
        self.outbox.put_nowait(None)


class WorkerRegistry:
    """Workers by id; the scheduler asks it for idle ones."""

    def __init__(self) -> None:
        self._workers: dict[str, WorkerConnection] = {}

    def add(self, connection: WorkerConnection) -> WorkerConnection | None:
        """Register `connection`; returns the connection it replaces, if any."""
        previous = self._workers.get(connection.worker_id)
        self._workers[connection.worker_id] = connection
        return previous

    def remove(self, connection: WorkerConnection) -> bool:
        """Forget `connection` unless a newer one took its id; True if removed."""
        if self._workers.get(connection.worker_id) is connection:
            del self._workers[connection.worker_id]
            return True
        return False

    def get(self, worker_id: str) -> WorkerConnection | None:
        return self._workers.get(worker_id)

    def idle(self) -> list[WorkerConnection]:
        """Workers that may take a job: free and not draining."""
        return [w for w in self._workers.values() if w.job_id is None and not w.draining]

    def all(self) -> list[WorkerConnection]:
        return list(self._workers.values())
