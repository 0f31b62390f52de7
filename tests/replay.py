"""An independent in-process replay of a job spec, to predict what the service does."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from mtl_service.spec.jobspec import parse_spec_text, with_defaults
from workers.checkpoint import CheckpointDirectory
from workers.control import JobControl
from workers.hooks import StepBoundary, StepRecord, TrainerHook
from workers.job_build import build_components
from workers.trainer import Trainer


class _Recorder(TrainerHook):
    def __init__(self, grads_at: int) -> None:
        self.grads_at = grads_at
        self.losses: dict[int, dict[str, float]] = {}
        self.grads: dict[str, torch.Tensor] = {}

    def on_step_boundary(self, trainer: Trainer, boundary: StepBoundary) -> None:
        if boundary.step == self.grads_at:
            self.grads = {
                f"grad:{name}": p.grad.detach().clone()
                for name, p in trainer.model.named_parameters()
                if p.grad is not None
            }
            trainer.control.request_stop("replay done", resumable=False)

    def on_step_end(self, trainer: Trainer, record: StepRecord) -> None:
        self.losses[record.step] = {k: float(v) for k, v in record.losses.items()}


def cpu_trainer(spec_text: str, scratch: Path, hooks: Sequence[TrainerHook]) -> Trainer:
    """A single-process CPU trainer of `spec_text`, checkpointing under `scratch`."""
    spec = with_defaults(parse_spec_text(spec_text))
    return Trainer(
        spec=spec,
        components=build_components(spec, torch.device("cpu")),
        device=torch.device("cpu"),
        checkpoints=CheckpointDirectory(scratch),
        control=JobControl(),
        hooks=hooks,
    )


def replay(spec_text: str, *, steps: int, scratch: Path) -> _Recorder:
    """Train `spec_text` for `steps` steps on CPU; per-step losses and the
    gradients at the boundary of the last step (before its update)."""
    recorder = _Recorder(grads_at=steps)
    cpu_trainer(spec_text, scratch, [recorder]).run()
    return recorder
