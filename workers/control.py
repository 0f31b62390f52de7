"""Requests from the worker's connection thread to the training loop."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

from mtl.v1 import worker_pb2


@dataclass(frozen=True, slots=True)
class StopRequest:
    """Stop the job at the next step boundary.

    `resumable` (shutdown): save a checkpoint and hand the job back to the
    queue; otherwise (cancel) end it as CANCELLED.
    """

    reason: str
    resumable: bool


_WAKE = object()  # wakes a loop waiting for commands when a stop arrives


class JobControl:
    """Thread-safe mailbox the loop reads at step boundaries: stop requests and
    debug commands."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop: StopRequest | None = None
        self._commands: queue.Queue[object] = queue.Queue()

    def request_stop(self, reason: str, *, resumable: bool) -> None:
        """Ask the loop to stop; a cancel wins over a resumable stop."""
        with self._lock:
            if self._stop is None or (self._stop.resumable and not resumable):
                self._stop = StopRequest(reason=reason, resumable=resumable)
        self._commands.put(_WAKE)

    def requested_stop(self) -> StopRequest | None:
        """The stop asked of this worker, if any."""
        with self._lock:
            return self._stop

    def stop_request(self) -> StopRequest | None:
        """The stop the training loop obeys at its next step: the requested one
        (the ranks of a distributed job obey rank 0's decision instead)."""
        return self.requested_stop()

    def submit(self, command: worker_pb2.DebugCommand) -> None:
        """Queue a debug command for the next step boundary."""
        self._commands.put(command)

    def next_command(
        self, *, wait: bool, timeout: float | None = None
    ) -> worker_pb2.DebugCommand | None:
        """The next queued command; with `wait`, block until one arrives, a stop
        is requested or `timeout` seconds pass (then None)."""
        while True:
            if not wait and self._commands.empty():
                return None  # the usual case at a step boundary, without raising Empty
            try:
                item = self._commands.get(block=wait, timeout=timeout if wait else None)
            except queue.Empty:
                return None
            if isinstance(item, worker_pb2.DebugCommand):
                return item
            if wait and self.requested_stop() is not None:
                return None
