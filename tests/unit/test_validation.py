"""Validation every eval_interval steps: metrics over the whole split, delta-m%,
what conditions read, and the catalog's metric names."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mtl.v1 import debug_types_pb2, job_pb2, spec_pb2, worker_pb2
from mtl_service.cli import main
from mtl_service.spec.catalog import PROBLEMS as PROBLEM_CATALOG
from mtl_service.spec.jobspec import parse_spec_text, with_defaults
from tests.jobs import quick_job
from tests.unit.test_matrix import in_process_trainer
from workers.control import JobControl
from workers.debug.engine import DebugEngine
from workers.hooks import StepBoundary, TrainerHook
from workers.job_build import build_components
from workers.mtl.problem import Metric, Task
from workers.mtl.problems import build_problem
from workers.mtl.validation import delta_m_percent
from workers.reporting import StepReporter
from workers.trainer import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")

# 50 validation samples in batches of 16: the last batch is partial.
JOB = quick_job(steps=4, checkpoint_interval=-1).replace(
    "num_val_samples: 256", "num_val_samples: 50"
)
JOB = JOB.replace("batch_size: 32", "batch_size: 16") + "eval_interval: 2\n"


def spec_of(text: str) -> spec_pb2.JobSpec:
    return with_defaults(parse_spec_text(text))


def independent_metrics(trainer: Trainer) -> dict[str, float]:
    """MSE and accuracy of the trainer's model on the whole split in one batch."""
    val_data = trainer.components.problem.val_data
    assert val_data is not None
    batch = val_data.batch(torch.arange(len(val_data)))
    trainer.model.eval()
    with torch.no_grad():
        predictions = trainer.model(batch.inputs)
    trainer.model.train()
    mse = F.mse_loss(predictions["value"].reshape(-1), batch.targets["value"])
    accuracy = (predictions["category"].argmax(dim=1) == batch.targets["category"]).float().mean()
    return {"value.mse": float(mse), "category.accuracy": float(accuracy)}


def test_validation_reports_whole_split_metrics_and_delta_m_on_eval_steps(tmp_path: Path) -> None:
    baselines = "single_task_baselines: {value.mse: 80, category.accuracy: 0.5}\n"
    sent: list[worker_pb2.WorkerMessage] = []
    reporter = StepReporter(job_id="job-test", report_interval=4, send=sent.append)
    trainer = in_process_trainer(spec_of(JOB + baselines), tmp_path, [reporter])
    assert trainer.run().state == job_pb2.JOB_STATE_SUCCEEDED
    steps = {s.step: s for s in sent[0].step_report.steps}
    assert [step for step, s in sorted(steps.items()) if s.validation_metrics] == [2, 4]
    expected = independent_metrics(trainer)
    final = dict(steps[4].validation_metrics)
    delta_m = final.pop("delta_m_percent")
    assert final == pytest.approx(expected, rel=1e-5)
    assert trainer.last_metrics == pytest.approx(expected, rel=1e-5)
    mse_gain = -(expected["value.mse"] - 80.0) / 80.0
    accuracy_gain = (expected["category.accuracy"] - 0.5) / 0.5
    assert delta_m == pytest.approx(100 * (mse_gain + accuracy_gain) / 2, rel=1e-5)
    assert trainer.model.training


def test_delta_m_is_positive_when_the_multi_task_model_beats_its_baselines() -> None:
    tasks = [
        Task(name="depth", loss=F.mse_loss, output_size=1,
             metrics={"error": Metric(fn=lambda p, t: 0.0, higher_is_better=False)}),
        Task(name="seg", loss=F.cross_entropy, output_size=2,
             metrics={"miou": Metric(fn=lambda p, t: 0.0, higher_is_better=True)}),
    ]  # fmt: skip
    better = {"depth.error": 0.8, "seg.miou": 0.6}
    worse = {"depth.error": 1.2, "seg.miou": 0.4}
    baselines = {"depth.error": 1.0, "seg.miou": 0.5}
    assert delta_m_percent(better, baselines, tasks) == pytest.approx(20.0)
    assert delta_m_percent(worse, baselines, tasks) == pytest.approx(-20.0)
    # Only the metrics with a baseline count.
    assert delta_m_percent(better, {"seg.miou": 0.5}, tasks) == pytest.approx(20.0)


class _MetricsAtBoundary(TrainerHook):
    def __init__(self) -> None:
        self.seen: dict[int, dict[str, float]] = {}

    def on_step_boundary(self, trainer: Trainer, boundary: StepBoundary) -> None:
        self.seen[boundary.step] = dict(trainer.last_metrics)


def test_conditions_see_the_starting_model_metrics_until_the_first_evaluation(
    tmp_path: Path,
) -> None:
    spec = spec_of(JOB)
    fresh = in_process_trainer(spec, tmp_path / "fresh", [])
    starting = independent_metrics(fresh)
    watcher = _MetricsAtBoundary()
    trainer = in_process_trainer(spec, tmp_path / "run", [watcher])
    trainer.run()
    assert watcher.seen[1] == watcher.seen[2] == pytest.approx(starting, rel=1e-5)
    assert watcher.seen[3] == watcher.seen[4] != watcher.seen[2]


def test_a_checkpoint_carries_the_latest_metrics_to_the_resumed_job(tmp_path: Path) -> None:
    spec = spec_of(JOB)
    trainer = in_process_trainer(spec, tmp_path / "a", [])
    trainer.run()
    resumed = in_process_trainer(spec, tmp_path / "b", [])
    resumed.load_state_dict(trainer.state_dict())
    assert resumed.last_metrics == trainer.last_metrics != {}


def test_a_metric_breakpoint_evaluates_at_eval_steps_with_a_value(tmp_path: Path) -> None:
    sent: list[worker_pb2.WorkerMessage] = []
    breakpoint = debug_types_pb2.Breakpoint(
        id="bp-1",
        condition="metric.category.accuracy >= 0",
        action=debug_types_pb2.BREAKPOINT_ACTION_LOG,
        every_n_steps=2,
    )
    spec = spec_of(JOB)
    engine = DebugEngine(
        job_id="job-test",
        send=sent.append,
        control=JobControl(),
        task_names=list(spec.tasks),
        breakpoints=[breakpoint],
    )
    in_process_trainer(spec, tmp_path, [engine]).run()
    events = [m.job_event.event for m in sent if m.HasField("job_event")]
    assert not [e for e in events if e.HasField("debug_error")]
    hits = [e.breakpoint_hit for e in events if e.HasField("breakpoint_hit")]
    assert [hit.step for hit in hits] == [2, 4]
    assert all("metric.category.accuracy" in hit.values for hit in hits)


def test_validation_on_a_problem_without_a_split_fails_before_training() -> None:
    spec = spec_of(JOB)
    components = build_components(spec, torch.device("cpu"))
    components.problem = dataclasses.replace(components.problem, val_data=None)
    with pytest.raises(ValueError, match="no validation split"):
        Trainer(
            spec=spec,
            components=components,
            device=torch.device("cpu"),
            checkpoints=None,  # type: ignore[arg-type] - never reached
            control=JobControl(),
        )


def test_a_baseline_of_a_metric_the_tasks_lack_fails_before_training(tmp_path: Path) -> None:
    spec = spec_of(JOB + "single_task_baselines: {value.mae: 3}\n")
    with pytest.raises(ValueError, match="value.mae"):
        in_process_trainer(spec, tmp_path, [])


@pytest.mark.parametrize("name", sorted(PROBLEM_CATALOG))
def test_the_catalog_lists_each_task_metrics_as_the_workers_define_them(name: str) -> None:
    params = {"height": 8, "width": 8} if name == "nyuv2_synthetic" else {}
    problem = build_problem(name, params, 0)
    assert PROBLEM_CATALOG[name].has_validation == (problem.val_data is not None)
    assert dict(PROBLEM_CATALOG[name].metrics) == {
        task.name: tuple(task.metrics) for task in problem.tasks
    }


def test_mtlctl_problems_lists_every_task_and_metric_without_a_service(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main.main(["--target", "127.0.0.1:1", "problems"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for name, info in PROBLEM_CATALOG.items():
        assert f"{name}: {info.description}" in out
        for task in info.tasks:
            assert f"{task} ({', '.join(info.metrics[task])})" in out
