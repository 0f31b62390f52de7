"""How mtlctl shows a paused, forked job with breakpoints."""

from __future__ import annotations

from mtl.v1 import debug_types_pb2, job_pb2
from mtl_service.cli.render import job_details
from mtl_service.server.store import now_timestamp


def test_a_paused_job_shows_where_why_and_since_when() -> None:
    job = job_pb2.Job(
        id="job-1",
        state=job_pb2.JOB_STATE_PAUSED,
        pause=debug_types_pb2.Paused(
            step=51,
            reason=debug_types_pb2.PAUSE_REASON_NAN_GUARD,
            task="value",
            tensor="loss:value",
            detail="loss of value is nan",
        ),
        pause_time=now_timestamp(),
        paused_seconds=2.5,
        breakpoints=[debug_types_pb2.Breakpoint(id="bp-1", condition="step > 3", hit_count=2)],
        fork_origin=job_pb2.ForkOrigin(parent_job_id="job-0", step=40),
    )
    text = job_details(job)
    assert "paused:      at step 51 by nan_guard in loss:value (task value), 0 s ago" in text
    assert "time paused: 2.5 s before this pause" in text
    assert "breakpoints: bp-1 (2 hits): step > 3" in text
    assert "forked from: job-0 after step 40" in text
