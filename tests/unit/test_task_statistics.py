"""Task statistics every stats_interval steps: what the step reports carry, checked
against per-task gradients computed independently with plain autograd."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mtl.v1 import job_pb2, worker_pb2
from mtl_service.spec.jobspec import parse_spec_text, with_defaults
from tests.jobs import quick_job
from tests.unit.test_matrix import in_process_trainer
from workers import trainer as trainer_module
from workers.job_build import build_components
from workers.reporting import StepReporter

pytestmark = pytest.mark.usefixtures("single_thread")


def reported_steps(spec_text: str, scratch: Path) -> dict[int, job_pb2.StepMetrics]:
    """Train the spec in process; every step report it sends, by step."""
    spec = with_defaults(parse_spec_text(spec_text))
    sent: list[worker_pb2.WorkerMessage] = []
    reporter = StepReporter(job_id="job-test", report_interval=2, send=sent.append)
    assert in_process_trainer(spec, scratch, [reporter]).run().state == job_pb2.JOB_STATE_SUCCEEDED
    return {s.step: s for m in sent if m.HasField("step_report") for s in m.step_report.steps}


def first_step_task_gradients(spec_text: str) -> tuple[list[str], torch.Tensor]:
    """Task names and [T, D] gradients of each task's loss at step 1, from a
    freshly built copy of the job: on the representation for hps, else on
    the shared parameters."""
    spec = with_defaults(parse_spec_text(spec_text))
    components = build_components(spec, torch.device("cpu"))
    model = components.model
    batch = components.problem.train_data.batch(components.data_order.indices(1))
    representation = model.encode(batch.inputs)
    predictions = model.decode(representation)
    targets = [representation] if spec.model.architecture == "hps" else model.shared_parameters()
    rows = []
    for task in components.tasks:
        loss = task.loss(predictions[task.name], batch.targets[task.name])
        grads = torch.autograd.grad(loss, targets, retain_graph=True, materialize_grads=True)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return [task.name for task in components.tasks], torch.stack(rows)


def assert_reports_match(step: job_pb2.StepMetrics, names: list[str], grads: torch.Tensor) -> None:
    norms = dict(zip(names, grads.norm(dim=1).tolist(), strict=True))
    assert dict(step.task_grad_norms) == pytest.approx(norms, rel=1e-4)
    expected = {
        (a, b): F.cosine_similarity(grads[i], grads[j], dim=0).item()
        for (i, a), (j, b) in itertools.combinations(enumerate(names), 2)
    }
    cosines = {(c.task_a, c.task_b): c.cosine for c in step.grad_cosines}
    assert cosines == pytest.approx(expected, abs=1e-5)


def three_task_job(architecture: str, strategy: str, stats_interval: int) -> str:
    return (
        "problem: {name: gradnorm_regression, params: {num_tasks: 3, num_samples: 64, "
        "num_val_samples: 16}}\ntasks: [task_0, task_1, task_2]\n"
        f"model: {{architecture: {architecture}, params: {{hidden_size: 8}}}}\n"
        f"weighting: {{strategy: {strategy}}}\nsteps: 2\nbatch_size: 16\n"
        f"stats_interval: {stats_interval}\ncheckpoint_interval: -1\ndevice: cpu\n"
    )


@pytest.mark.parametrize(
    ("architecture", "strategy"),
    [("hps", "static"), ("hps", "mgda"), ("mmoe", "famo"), ("mmoe", "pcgrad")],
)
def test_reported_norms_and_cosines_equal_an_independent_autograd_computation(
    tmp_path: Path, architecture: str, strategy: str
) -> None:
    job = three_task_job(architecture, strategy, stats_interval=1)
    reported = reported_steps(job, tmp_path)
    names, grads = first_step_task_gradients(job)
    assert_reports_match(reported[1], names, grads)
    assert [(c.task_a, c.task_b) for c in reported[2].grad_cosines] == list(
        itertools.combinations(names, 2)
    )


def test_statistics_are_reported_only_on_due_steps(tmp_path: Path) -> None:
    job = quick_job(steps=6, checkpoint_interval=-1) + "stats_interval: 3\n"
    reported = reported_steps(job, tmp_path)
    assert [step for step, m in sorted(reported.items()) if m.task_grad_norms] == [3, 6]
    assert all(bool(m.grad_cosines) == bool(m.task_grad_norms) for m in reported.values())


def test_statistics_are_off_by_default(tmp_path: Path) -> None:
    reported = reported_steps(quick_job(steps=4, checkpoint_interval=-1), tmp_path)
    assert not any(m.task_grad_norms or m.grad_cosines for m in reported.values())


@pytest.mark.parametrize(
    ("strategy", "why"),
    [
        ("imtl_g", "a gradient strategy's task gradients are reused"),
        ("uncertainty", "hard sharing captures them during the step's one backward"),
    ],
)
def test_hard_sharing_statistics_take_no_extra_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strategy: str, why: str
) -> None:
    def extra_passes(*args: object, **kwargs: object) -> torch.Tensor:
        raise AssertionError(f"no extra passes expected: {why}")

    monkeypatch.setattr(trainer_module, "task_gradients_from_losses", extra_passes)
    job = three_task_job("hps", strategy, stats_interval=1)
    reported = reported_steps(job, tmp_path)
    names, grads = first_step_task_gradients(job)
    assert_reports_match(reported[1], names, grads)
