"""Breakpoints armed on a worker: parsed conditions, when they are due, their hits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mtl.v1 import debug_types_pb2
from mtl_service.spec.conditions import Condition, parse_condition
from workers.debug.values import needs_task_gradients


@dataclass(slots=True)
class ArmedBreakpoint:
    """A breakpoint and its parsed condition (which keeps preset history);
    `needs_task_gradients` is worked out once, when it is armed, since the
    trainer asks before every backward."""

    spec: debug_types_pb2.Breakpoint
    condition: Condition
    needs_task_gradients: bool = False

    @property
    def exhausted(self) -> bool:
        return 0 < self.spec.max_hits <= self.spec.hit_count

    def due(self, step: int) -> bool:
        every = max(1, self.spec.every_n_steps)
        return not self.exhausted and step % every == 0


class BreakpointSet:
    """The job's breakpoints by id, in the order they were set."""

    def __init__(self, task_names: Sequence[str]) -> None:
        self.task_names = list(task_names)
        self._armed: dict[str, ArmedBreakpoint] = {}

    def arm(self, breakpoint: debug_types_pb2.Breakpoint) -> ArmedBreakpoint:
        """Parse and arm; ConditionError (a ValueError) when the condition is bad."""
        condition = parse_condition(breakpoint.condition, task_names=self.task_names)
        copy = debug_types_pb2.Breakpoint()
        copy.CopyFrom(breakpoint)
        armed = ArmedBreakpoint(
            spec=copy,
            condition=condition,
            needs_task_gradients=needs_task_gradients(condition.names),
        )
        self._armed[breakpoint.id] = armed
        return armed

    def disarm(self, breakpoint_id: str) -> bool:
        return self._armed.pop(breakpoint_id, None) is not None

    def due(self, step: int) -> list[ArmedBreakpoint]:
        return [armed for armed in self._armed.values() if armed.due(step)]

    def task_gradients_due(self, step: int) -> bool:
        """Whether a breakpoint due at `step` reads per-task gradient statistics."""
        return any(armed.needs_task_gradients and armed.due(step) for armed in self._armed.values())

    def __iter__(self) -> Iterable[ArmedBreakpoint]:
        return iter(list(self._armed.values()))

    def state_dict(self) -> dict[str, Any]:
        return {
            breakpoint_id: {
                "hit_count": armed.spec.hit_count,
                "condition": armed.condition.state_dict(),
            }
            for breakpoint_id, armed in self._armed.items()
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for breakpoint_id, saved in state.items():
            armed = self._armed.get(breakpoint_id)
            if armed is not None:
                armed.spec.hit_count = int(saved["hit_count"])
                armed.condition.load_state_dict(saved["condition"])
