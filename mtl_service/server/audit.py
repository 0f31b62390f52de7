"""Live changes to a job, with who made them: SettingChanged events and their log lines."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from mtl.v1 import debug_types_pb2, job_pb2

log = structlog.get_logger(__name__)


def breakpoint_changed(
    breakpoint: debug_types_pb2.Breakpoint, *, armed: bool, caller: debug_types_pb2.Caller
) -> job_pb2.JobEvent:
    """The event for a breakpoint set (`armed`) or deleted by `caller`."""
    return job_pb2.JobEvent(
        setting_changed=debug_types_pb2.SettingChanged(
            name=f"breakpoint.{breakpoint.id}",
            old_value=0.0 if armed else 1.0,
            new_value=1.0 if armed else 0.0,
            changed_by=caller,
            detail=breakpoint.condition,
        )
    )


def log_setting_changes(job_id: str, events: Sequence[job_pb2.JobEvent]) -> None:
    """One `setting_changed` line per SettingChanged among `events`."""
    for event in events:
        if event.HasField("setting_changed"):
            change = event.setting_changed
            log.info(
                "setting_changed",
                job_id=job_id,
                name=change.name,
                old_value=change.old_value,
                new_value=change.new_value,
                effective_step=change.effective_step,
                detail=change.detail,
                changed_by=change.changed_by.identity or "anonymous",
                changed_by_role=change.changed_by.role,
            )
