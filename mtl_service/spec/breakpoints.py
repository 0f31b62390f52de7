"""Breakpoints as the service validates them: conditions, actions, selectors, limits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from mtl.v1 import debug_types_pb2
from mtl_service.errors import FieldViolation
from mtl_service.spec.conditions import ConditionError, parse_condition

SELECTOR_KINDS = ("param", "grad", "buffer", "activation", "batch", "loss")
MAX_BREAKPOINTS_PER_JOB = 32
MAX_SELECTORS = 64


def selector_violation(selector: str) -> str | None:
    """Why `selector` is not `kind:glob`, or None when it is."""
    kind, colon, pattern = selector.partition(":")
    if colon and kind in SELECTOR_KINDS and pattern:
        return None
    return f"{selector!r} is not kind:glob with kind in {', '.join(SELECTOR_KINDS)}"


def breakpoint_violations(
    breakpoint: debug_types_pb2.Breakpoint, task_names: Sequence[str], field: str
) -> Iterator[FieldViolation]:
    """Everything wrong with `breakpoint` for a job training `task_names`."""
    try:
        parse_condition(breakpoint.condition, task_names=task_names)
    except ConditionError as error:
        yield FieldViolation(f"{field}.condition", str(error))
    if breakpoint.max_hits < 0:
        yield FieldViolation(f"{field}.max_hits", f"must be >= 0, got {breakpoint.max_hits}")
    if breakpoint.every_n_steps < 0:
        yield FieldViolation(
            f"{field}.every_n_steps", f"must be >= 0, got {breakpoint.every_n_steps}"
        )
    if len(breakpoint.snapshot_selectors) > MAX_SELECTORS:
        yield FieldViolation(f"{field}.snapshot_selectors", f"at most {MAX_SELECTORS} selectors")
    for index, selector in enumerate(breakpoint.snapshot_selectors):
        if (problem := selector_violation(selector)) is not None:
            yield FieldViolation(f"{field}.snapshot_selectors[{index}]", problem)
    is_snapshot = breakpoint.action == debug_types_pb2.BREAKPOINT_ACTION_SNAPSHOT
    if is_snapshot and not breakpoint.snapshot_selectors:
        yield FieldViolation(
            f"{field}.snapshot_selectors", "a SNAPSHOT breakpoint needs at least one selector"
        )
    if breakpoint.action not in debug_types_pb2.BreakpointAction.values():
        yield FieldViolation(f"{field}.action", f"unknown action {breakpoint.action}")


def armed(breakpoint: debug_types_pb2.Breakpoint, number: int) -> debug_types_pb2.Breakpoint:
    """A copy with id `bp-<number>`, no hits, and PAUSE for an unspecified action."""
    copy = debug_types_pb2.Breakpoint()
    copy.CopyFrom(breakpoint)
    copy.id = f"bp-{number}"
    copy.hit_count = 0
    if copy.action == debug_types_pb2.BREAKPOINT_ACTION_UNSPECIFIED:
        copy.action = debug_types_pb2.BREAKPOINT_ACTION_PAUSE
    return copy
