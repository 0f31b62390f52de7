"""Every weighting strategy x architecture trains every reference problem it fits.

Each pair goes through the whole path a job takes: the spec is defaulted and
validated as at submit (so the catalog must accept the pair), the worker
builds the components, and the Trainer runs a few steps with task statistics
on, at tiny sizes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from mtl.v1 import job_pb2, spec_pb2
from mtl_service.spec.catalog import ARCHITECTURES, PROBLEMS, STRATEGIES
from mtl_service.spec.jobspec import parse_spec_text, validate_spec, with_defaults
from workers.checkpoint import CheckpointDirectory
from workers.control import JobControl
from workers.hooks import StepRecord, TrainerHook
from workers.job_build import build_components
from workers.task_statistics import TaskStatistics
from workers.trainer import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")

NUM_STEPS = 3
SMALL = {"num_samples": 16, "num_val_samples": 8}
TINY: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    # problem: (problem.params, model.params)
    "tabular_regcls": (SMALL, {"hidden_size": 8}),
    "toy_conflict": ({}, {}),
    "gradnorm_regression": ({"num_tasks": 3, **SMALL}, {"hidden_size": 8}),
    "mmoe_synthetic": (SMALL, {"hidden_size": 4}),
    "digits_pair": (SMALL, {"channels": 2, "hidden_size": 8}),
    "nyuv2_synthetic": (
        {"height": 8, "width": 16, "num_samples": 8, "num_val_samples": 4},
        {"channels": 2},
    ),
}


class Recorder(TrainerHook):
    """Keeps every step's record."""

    def __init__(self) -> None:
        self.records: list[StepRecord] = []

    def on_step_end(self, trainer: Trainer, record: StepRecord) -> None:
        self.records.append(record)


def in_process_trainer(
    spec: spec_pb2.JobSpec, scratch: Path, hooks: Sequence[TrainerHook]
) -> Trainer:
    """A CPU Trainer for a defaulted spec with the worker's statistics hook
    first, as workers/runtime.py builds it, then `hooks`."""
    cpu = torch.device("cpu")
    return Trainer(
        spec=spec,
        components=build_components(spec, cpu),
        device=cpu,
        checkpoints=CheckpointDirectory(scratch),
        control=JobControl(),
        hooks=[TaskStatistics(stats_interval=spec.stats_interval), *hooks],
    )


def run_job(spec: spec_pb2.JobSpec, scratch: Path) -> list[StepRecord]:
    """Train a defaulted spec to the end in process; its step records."""
    recorder = Recorder()
    outcome = in_process_trainer(spec, scratch, [recorder]).run()
    assert outcome.state == job_pb2.JOB_STATE_SUCCEEDED, outcome.message
    return recorder.records


def fitting_jobs() -> list[tuple[str, str, str]]:
    """(problem, architecture, strategy) for every pair the catalog says fits."""
    return [
        (problem, architecture, strategy)
        for problem, info in PROBLEMS.items()
        for architecture in ARCHITECTURES
        if info.architectures is None or architecture in info.architectures
        for strategy in STRATEGIES
    ]


def job_spec(problem: str, architecture: str, strategy: str) -> str:
    problem_params, model_params = TINY[problem]
    spec = {
        "problem": {"name": problem, "params": problem_params},
        "model": {"architecture": architecture, "params": model_params},
        "tasks": list(PROBLEMS[problem].offered_tasks(problem_params)),
        "weighting": {"strategy": strategy},
        "steps": NUM_STEPS,
        "batch_size": 4,
        "stats_interval": 1,
        "checkpoint_interval": -1,
        "device": "cpu",
    }
    return json.dumps(spec)


def test_the_matrix_covers_every_problem_architecture_and_strategy() -> None:
    jobs = fitting_jobs()
    assert {job[0] for job in jobs} == set(PROBLEMS) == set(TINY)
    assert {job[1] for job in jobs} == set(ARCHITECTURES)
    assert {job[2] for job in jobs} == set(STRATEGIES)


@pytest.mark.parametrize(("problem", "architecture", "strategy"), fitting_jobs())
def test_a_few_steps_keep_every_loss_and_task_statistic_finite(
    tmp_path: Path, problem: str, architecture: str, strategy: str
) -> None:
    spec = with_defaults(parse_spec_text(job_spec(problem, architecture, strategy)))
    validate_spec(spec)
    records = run_job(spec, tmp_path)
    assert [record.step for record in records] == list(range(1, NUM_STEPS + 1))
    for record in records:
        values = [float(loss) for loss in record.losses.values()]
        assert record.task_statistics is not None
        values += record.task_statistics.norms.tolist()
        values += record.task_statistics.cosines.reshape(-1).tolist()
        assert all(map(math.isfinite, values)), (record.step, values)
