"""The multi-task core through a real service: the README's user problem trains to
SUCCEEDED with validation metrics, task statistics and a metric breakpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mtl.v1 import debug_types_pb2, job_pb2
from mtl_service.client import MtlClient
from mtl_service.spec.jobspec import parse_spec_text, validate_spec, with_defaults

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_JOB = ROOT / "examples" / "user_problem" / "job.yaml"
# The README's second way to name the example: its full module path, importable
# by local workers because they run in the service's working directory.
ENTRYPOINT = "examples.user_problem.housing_mtl:build"
EVAL_INTERVAL = 10


def example_job(**overrides: Any) -> dict[str, Any]:
    """examples/user_problem/job.yaml, shortened, with `overrides`."""
    spec = yaml.safe_load(EXAMPLE_JOB.read_text())
    spec["problem"] = {
        "entrypoint": ENTRYPOINT,
        "params": {"num_samples": 1000, "num_val_samples": 200},
    }
    return {**spec, "steps": 30, "report_interval": 10, "checkpoint_interval": -1, **overrides}


@pytest.fixture(autouse=True)
def _from_the_repository_root() -> None:
    if Path.cwd().resolve() != ROOT:
        pytest.skip(f"{ENTRYPOINT} is importable only when the service runs from {ROOT}")


def test_the_example_job_passes_submit_validation_with_validation_and_statistics_on() -> None:
    spec = with_defaults(parse_spec_text(EXAMPLE_JOB.read_text()))
    validate_spec(spec)
    assert spec.eval_interval > 0 and spec.stats_interval > 0


def test_the_user_problem_trains_to_succeeded_with_validation_and_statistics(
    client: MtlClient,
) -> None:
    baselines = {"log_price.mae": 0.2, "sells_within_month.accuracy": 0.7}
    spec = example_job(
        eval_interval=EVAL_INTERVAL, stats_interval=5, single_task_baselines=baselines
    )
    job = client.submit_text(json.dumps(spec))
    events = list(client.watch(job.id))
    assert client.get(job.id).state == job_pb2.JOB_STATE_SUCCEEDED, client.get(job.id).message
    steps = {s.step: s for e in events if e.HasField("step_report") for s in e.step_report.steps}
    evaluated = sorted(step for step, s in steps.items() if s.validation_metrics)
    assert evaluated == [10, 20, 30]
    assert set(steps[30].validation_metrics) == {*baselines, "delta_m_percent"}
    assert 0 <= steps[30].validation_metrics["sells_within_month.accuracy"] <= 1
    assert sorted(step for step, s in steps.items() if s.task_grad_norms) == list(range(5, 31, 5))
    [cosine] = steps[5].grad_cosines
    assert (cosine.task_a, cosine.task_b) == ("log_price", "sells_within_month")


def test_a_metric_breakpoint_hits_at_eval_steps(client: MtlClient) -> None:
    condition = "metric.sells_within_month.accuracy > 0"
    breakpoint = {
        "condition": condition,
        "action": "BREAKPOINT_ACTION_LOG",
        "every_n_steps": EVAL_INTERVAL,
    }
    spec = example_job(eval_interval=EVAL_INTERVAL, breakpoints=[breakpoint])
    job = client.submit_text(json.dumps(spec))
    events = list(client.watch(job.id))
    assert client.get(job.id).state == job_pb2.JOB_STATE_SUCCEEDED
    assert not [e.debug_error for e in events if e.HasField("debug_error")]
    hits = [e.breakpoint_hit for e in events if e.HasField("breakpoint_hit")]
    assert [hit.step for hit in hits] == [10, 20, 30]
    assert all(hit.action == debug_types_pb2.BREAKPOINT_ACTION_LOG for hit in hits)
    assert all(0 < hit.values["metric.sells_within_month.accuracy"] <= 1 for hit in hits)
