"""What debugging costs a job: seconds its debug hooks spend per step."""

from __future__ import annotations


class DebugClock:
    """Seconds the debug hooks (DebugEngine, TaskStatistics) spent since the last
    step report took them; the step reporter takes them at the end of each step
    and reports them as the step's `debug_seconds`.

    The hooks add their own time around their work, without the time a paused
    job waits for a command (that is the user's time, counted by the service as
    paused seconds). The per-task gradients a hook asks for are computed by
    the trainer and are part of the step's duration, not of this clock.
    """

    def __init__(self) -> None:
        self._seconds = 0.0

    def add(self, seconds: float) -> None:
        """Count `seconds` of debug work in the current step."""
        self._seconds += seconds

    def take(self) -> float:
        """The seconds counted since the last take, and start again from zero."""
        seconds, self._seconds = self._seconds, 0.0
        return seconds
