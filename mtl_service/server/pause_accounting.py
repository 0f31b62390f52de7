"""Bookkeeping on a Job message for pauses and breakpoint hits."""

from __future__ import annotations

from mtl.v1 import debug_types_pb2, job_pb2
from mtl_service.server.store import now_timestamp


def apply_pause(job: job_pb2.Job, paused: debug_types_pb2.Paused) -> None:
    """Record when and why the job paused."""
    job.pause_time.CopyFrom(now_timestamp())
    job.pause.CopyFrom(paused)


def apply_resume(job: job_pb2.Job) -> None:
    """Add the time since the pause to `paused_seconds` and clear the pause."""
    if job.HasField("pause_time"):
        elapsed_ns = now_timestamp().ToNanoseconds() - job.pause_time.ToNanoseconds()
        job.paused_seconds += max(0, elapsed_ns) / 1e9
    job.ClearField("pause_time")
    job.ClearField("pause")


def count_hit(job: job_pb2.Job, breakpoint_id: str) -> None:
    """Increment the hit count of the job's breakpoint `breakpoint_id`."""
    for breakpoint in job.breakpoints:
        if breakpoint.id == breakpoint_id:
            breakpoint.hit_count += 1
            return
