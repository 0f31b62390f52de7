"""Fan-out of newly stored job events to live WatchJob streams."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from mtl.v1 import job_pb2
from mtl_service.errors import ResourceExhausted

# A watcher that falls this far behind stops receiving live events and reads
# the rest from the store instead, so a slow client cannot grow memory.
MAX_PENDING_EVENTS = 1024
# Live WatchJob streams allowed at once, per job and in total; one more is
# refused with RESOURCE_EXHAUSTED so watchers cannot exhaust the service.
MAX_WATCHERS_PER_JOB = 128
MAX_WATCHERS = 1024


class Subscription:
    """Live events of one job for one watcher, plus an overflow flag."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[job_pb2.JobEvent | None] = asyncio.Queue(MAX_PENDING_EVENTS)
        self.overflowed = False

    def offer(self, event: job_pb2.JobEvent | None) -> None:
        if event is None:
            self.overflowed = True  # woken for shutdown: re-read, then stop
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True


class EventBus:
    """Per-job lists of subscriptions; publish never blocks."""

    def __init__(
        self,
        *,
        max_watchers_per_job: int = MAX_WATCHERS_PER_JOB,
        max_watchers: int = MAX_WATCHERS,
    ) -> None:
        self._subscriptions: dict[str, set[Subscription]] = defaultdict(set)
        self.max_watchers_per_job = max_watchers_per_job
        self.max_watchers = max_watchers
        self._num_watchers = 0
        self.closed = False

    @contextmanager
    def subscribe(self, job_id: str) -> Iterator[Subscription]:
        """A live subscription to `job_id`; ResourceExhausted past the watcher limits."""
        if self.watcher_count(job_id) >= self.max_watchers_per_job:
            raise ResourceExhausted(
                f"job {job_id} already has {self.max_watchers_per_job} watchers; "
                "close one or poll GetJob instead"
            )
        if self._num_watchers >= self.max_watchers:
            raise ResourceExhausted(
                f"the service already serves {self.max_watchers} watchers; try again later"
            )
        subscription = Subscription()
        self._num_watchers += 1
        self._subscriptions[job_id].add(subscription)
        try:
            yield subscription
        finally:
            self._num_watchers -= 1
            subscribers = self._subscriptions.get(job_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscriptions[job_id]

    def publish(self, job_id: str, events: Sequence[job_pb2.JobEvent]) -> None:
        for subscription in list(self._subscriptions.get(job_id, ())):
            for event in events:
                subscription.offer(event)

    def watcher_count(self, job_id: str) -> int:
        return len(self._subscriptions.get(job_id, ()))

    def close(self) -> None:
        """Wake every watcher so it can end its stream (service shutdown)."""
        self.closed = True
        for subscribers in self._subscriptions.values():
            for subscription in subscribers:
                subscription.offer(None)
