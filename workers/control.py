"""Requests from the worker's connection thread to the training loop."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StopRequest:
    """Stop the job at the next step boundary.

    `resumable` (shutdown): save a checkpoint and hand the job back to the
    queue; otherwise (cancel) end it as CANCELLED.
    """

    reason: str
    resumable: bool


class JobControl:
    """Thread-safe mailbox the loop reads between steps."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop: StopRequest | None = None
        self.stop_event = threading.Event()

    def request_stop(self, reason: str, *, resumable: bool) -> None:
        """Ask the loop to stop; a cancel wins over a resumable stop."""
        with self._lock:
            if self._stop is None or (self._stop.resumable and not resumable):
                self._stop = StopRequest(reason=reason, resumable=resumable)
        self.stop_event.set()

    def stop_request(self) -> StopRequest | None:
        with self._lock:
            return self._stop
