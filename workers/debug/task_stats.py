"""GetTaskStats: per-task loss, weight, gradient norm and the task-gradient cosines."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from mtl.v1 import debug_pb2
from workers.debug.replay import side_effect_free
from workers.hooks import StepBoundary
from workers.mtl.diagnostics import gradient_diagnostics, task_gradients_from_losses
from workers.mtl.weighting import GradientSource
from workers.mtl.weighting.gradients import default_source

if TYPE_CHECKING:
    from workers.trainer import Trainer

SMOOTHING = 0.9


class LossSmoother:
    """Exponential moving average of the per-task losses, kept on the device."""

    def __init__(self) -> None:
        self.average: Tensor | None = None

    def update(self, losses: Tensor) -> None:
        if self.average is None:
            self.average = losses.detach().float().clone()
        else:
            self.average.mul_(SMOOTHING).add_(losses.detach().float(), alpha=1 - SMOOTHING)


def task_stats(
    trainer: Trainer, boundary: StepBoundary, smoother: LossSmoother, state: int
) -> debug_pb2.GetTaskStatsResponse:
    """Stats of the boundary's step; per-task gradients are reused when the step
    has them, else recomputed by replaying the step's forward (no side effects)."""
    names = [task.name for task in trainer.components.tasks]
    matrix, source = _task_gradients(trainer, boundary, names)
    weights = torch.stack([torch.as_tensor(boundary.weighting.weights[n]) for n in names])
    weights = weights.to(matrix.device, matrix.dtype)
    diagnostics = gradient_diagnostics(matrix, weights)
    losses = torch.stack([boundary.losses[n].float().reshape(()) for n in names]).to(matrix.device)
    smoothed = smoother.average.to(matrix.device) if smoother.average is not None else losses
    table = torch.stack([losses, smoothed, weights.float(), diagnostics.norms.float()]).tolist()
    cosines = diagnostics.cosines.float().reshape(-1).tolist()
    return debug_pb2.GetTaskStatsResponse(
        step=boundary.step,
        tasks=[
            debug_pb2.TaskStat(
                task=name,
                loss=table[0][i],
                smoothed_loss=table[1][i],
                weight=table[2][i],
                grad_norm=table[3][i],
            )
            for i, name in enumerate(names)
        ],
        grad_cosine=cosines,
        gradient_source=str(source),
        state=state,
    )


def _task_gradients(
    trainer: Trainer, boundary: StepBoundary, names: list[str]
) -> tuple[Tensor, GradientSource]:
    if boundary.task_gradients is not None and boundary.gradient_source is not None:
        return boundary.task_gradients, boundary.gradient_source
    model = trainer.model
    source = default_source(model)
    with side_effect_free(model), torch.enable_grad():
        representation = model.encode(boundary.batch.inputs)
        predictions = model.decode(representation)
        tasks = trainer.components.tasks
        losses = {
            t.name: t.loss(predictions[t.name], boundary.batch.targets[t.name]) for t in tasks
        }
        matrix = task_gradients_from_losses(
            losses, names, model=model, representation=representation, source=source
        )
    return matrix.detach(), source
