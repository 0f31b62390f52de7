"""Logs ready for aggregation: every line a service and its worker print while a
job trains, pauses, is snapshot and resumes is JSON with the documented keys,
and the README lists every event name the code logs."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mtl.v1 import job_pb2
from mtl_service.client import MtlClient
from mtl_service.launcher import ServiceProcess
from tests.jobs import quick_job

REPOSITORY = Path(__file__).resolve().parents[2]
LEVELS = frozenset({"debug", "info", "warning", "error", "critical"})
LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})
# Events that are always about one job, so their lines must say which.
JOB_EVENTS = frozenset(
    {
        "job_submitted",
        "job_scheduled",
        "job_state_changed",
        "job_paused",
        "job_left",
        "breakpoint_hit",
        "checkpoint_saved",
        "validation_done",
    }
)
# Worker events about one training step, so their lines must say which.
STEP_EVENTS = frozenset({"job_paused", "breakpoint_hit", "checkpoint_saved", "validation_done"})
SPEC = quick_job(steps=60, checkpoint_interval=20) + (
    'breakpoints:\n  - {condition: "step == 15"}\n'
)


@pytest.fixture(scope="module")
def job_lines(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A job's id and every line its service and worker printed, start to shutdown:
    the job pauses on a breakpoint, is snapshot, resumes and succeeds."""
    service = ServiceProcess.start(data_dir=tmp_path_factory.mktemp("logs") / "data")
    try:
        with MtlClient(service.target) as client:
            job = client.submit_text(SPEC)
            for event in client.watch(job.id):
                if event.HasField("paused"):
                    break
            client.snapshot(job.id, ["loss:*", "grad:*"], include_data=True)
            client.resume(job.id)
            *_, last = client.watch(job.id)
            assert last.state_change.to_state == job_pb2.JOB_STATE_SUCCEEDED
    finally:
        assert service.stop() == 0, service.output
    yield job.id, service.json_lines()


def test_every_line_is_json_with_event_level_timestamp_and_logger(
    job_lines: tuple[str, list[dict[str, Any]]],
) -> None:
    _, lines = job_lines
    for line in lines:
        assert {"event", "level", "timestamp", "logger"} <= line.keys(), line
        assert line["level"] in LEVELS, line
        assert datetime.fromisoformat(line["timestamp"]).utcoffset() == timedelta(0), line


def test_job_lines_carry_the_job_id_and_worker_lines_the_worker_id(
    job_lines: tuple[str, list[dict[str, Any]]],
) -> None:
    job_id, lines = job_lines
    for line in lines:
        if line["event"] in JOB_EVENTS:
            assert line.get("job_id") == job_id, line
        if line["logger"].startswith("workers."):
            assert line.get("worker_id"), line
    events = {line["event"] for line in lines if line.get("job_id") == job_id}
    assert {
        "job_submitted",
        "job_scheduled",
        "job_state_changed",
        "breakpoint_hit",
        "job_paused",
        "checkpoint_saved",
        "job_left",
    } <= events


def test_worker_lines_about_a_step_carry_the_step(
    job_lines: tuple[str, list[dict[str, Any]]],
) -> None:
    _, lines = job_lines
    steps = {
        line["event"]: line["step"]
        for line in lines
        if line["event"] in STEP_EVENTS and line["logger"].startswith("workers.")
    }
    assert steps["breakpoint_hit"] == steps["job_paused"] == 15
    assert steps["checkpoint_saved"] == 60


def _logged_events() -> dict[str, str]:
    """Every event name logged as `log.<level>("name", ...)`, with where."""
    events = {}
    for root in ("mtl_service", "workers"):
        for path in sorted((REPOSITORY / root).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in LOG_METHODS
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in {"log", "logger"}
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    events[node.args[0].value] = f"{path.relative_to(REPOSITORY)}:{node.lineno}"
    return events


def _readme_section(title: str) -> str:
    readme = (REPOSITORY / "README.md").read_text()
    match = re.search(rf"^## {title}\n(.*?)(?=^## )", readme, re.MULTILINE | re.DOTALL)
    assert match, f"README.md has no section '## {title}'"
    return match.group(1)


def test_the_readme_lists_every_logged_event() -> None:
    _, _, events_table = _readme_section("Logs").partition("### Events")
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", events_table, re.MULTILINE))
    logged = _logged_events()
    assert logged.keys() - documented == set(), json.dumps(
        {name: where for name, where in logged.items() if name not in documented}, indent=1
    )
    assert documented - logged.keys() == set()
