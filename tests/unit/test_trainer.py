"""The training loop: deterministic on CPU, and resumes bit-identically from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from mtl.v1 import job_pb2
from tests.jobs import quick_job
from tests.replay import cpu_trainer
from workers.hooks import StepRecord, TrainerHook
from workers.trainer import Trainer


class _Recorder(TrainerHook):
    def __init__(self) -> None:
        self.records: list[StepRecord] = []

    def on_step_end(self, trainer: Trainer, record: StepRecord) -> None:
        self.records.append(record)


def _trainer(
    tmp_path: Path, *, steps: int, checkpoint_interval: int = -1
) -> tuple[Trainer, _Recorder]:
    recorder = _Recorder()
    spec_text = quick_job(steps=steps, seed=5, checkpoint_interval=checkpoint_interval)
    return cpu_trainer(spec_text, tmp_path, [recorder]), recorder


def _parameters(trainer: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.model.parameters()]


def test_two_runs_of_one_spec_are_identical(tmp_path: Path) -> None:
    first, _ = _trainer(tmp_path / "a", steps=25)
    second, _ = _trainer(tmp_path / "b", steps=25)
    assert first.run().state == second.run().state == job_pb2.JOB_STATE_SUCCEEDED
    assert all(
        torch.equal(a, b) for a, b in zip(_parameters(first), _parameters(second), strict=True)
    )


def test_resume_from_a_checkpoint_is_bit_identical(tmp_path: Path) -> None:
    uninterrupted, _ = _trainer(tmp_path / "full", steps=40)
    uninterrupted.run()
    interrupted, _ = _trainer(tmp_path / "part", steps=40, checkpoint_interval=15)
    for step in range(1, 16):
        interrupted._train_step(step)  # noqa: SLF001 - drive exactly 15 steps
    interrupted.save_checkpoint()
    resumed, recorder = _trainer(tmp_path / "part", steps=40, checkpoint_interval=15)
    step, state = resumed.checkpoints.load_latest()
    resumed.load_state_dict(state)
    assert step == resumed.step == 15
    assert resumed.run().state == job_pb2.JOB_STATE_SUCCEEDED
    assert [r.step for r in recorder.records] == list(range(16, 41))
    assert all(
        torch.equal(a, b)
        for a, b in zip(_parameters(uninterrupted), _parameters(resumed), strict=True)
    )


def test_cancel_ends_the_loop_before_the_next_step(tmp_path: Path) -> None:
    trainer, recorder = _trainer(tmp_path, steps=1000)
    trainer.control.request_stop("user", resumable=False)
    outcome = trainer.run()
    assert outcome.state == job_pb2.JOB_STATE_CANCELLED and outcome.message == "user"
    assert recorder.records == []


def test_a_resumable_stop_checkpoints_and_hands_the_job_back(tmp_path: Path) -> None:
    trainer, _ = _trainer(tmp_path, steps=1000, checkpoint_interval=500)
    trainer._train_step(1)  # noqa: SLF001
    trainer.control.request_stop("shutdown", resumable=True)
    outcome = trainer.run()
    assert outcome.state == job_pb2.JOB_STATE_QUEUED and outcome.final_step == 1
    assert trainer.checkpoints.load_latest()[0] == 1


def test_a_non_finite_model_is_never_checkpointed(tmp_path: Path) -> None:
    trainer, _ = _trainer(tmp_path, steps=10, checkpoint_interval=1)
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))
    assert trainer.save_checkpoint() is None
    assert trainer.checkpoints.load_latest() is None


def test_user_weights_survive_a_checkpoint_and_resume(tmp_path: Path) -> None:
    trainer, _ = _trainer(tmp_path, steps=20, checkpoint_interval=5)
    for step in range(1, 4):
        trainer._train_step(step)  # noqa: SLF001
    trainer.user_weights["value"] = 0.5
    trainer.save_checkpoint()
    resumed, recorder = _trainer(tmp_path, steps=20, checkpoint_interval=5)
    resumed.load_state_dict(resumed.checkpoints.load_latest()[1])
    assert resumed.user_weights["value"] == 0.5
    resumed.run()
    assert all(float(r.weights["value"]) == 0.5 for r in recorder.records)
