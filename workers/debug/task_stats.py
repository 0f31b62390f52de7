"""GetTaskStats: per-task loss, weight, gradient norm and the task-gradient cosines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
# Steps of losses the smoother holds before folding them into its average.
FOLD_STEPS = 64


class LossSmoother:
    """Exponential moving average of the per-task losses, kept on the device.

    `update` only keeps a step's loss tensors; they are folded into the
    average when it is read, or every `FOLD_STEPS` steps, in a few batched
    operations instead of three small ones per step.
    """

    def __init__(self, task_names: Sequence[str]) -> None:
        self.task_names = list(task_names)
        self._average: Tensor | None = None
        self._pending: list[Tensor] = []

    def update(self, losses: Mapping[str, Tensor]) -> None:
        """Take one step's losses (0-dim tensors by task name)."""
        self._pending.extend(losses[task] for task in self.task_names)
        if len(self._pending) >= FOLD_STEPS * len(self.task_names):
            self._fold()

    @property
    def average(self) -> Tensor | None:
        """[T] smoothed losses in task order; None before the first update."""
        self._fold()
        return self._average

    def _fold(self) -> None:
        if not self._pending:
            return
        values = torch.stack(self._pending).detach().float().view(-1, len(self.task_names))
        self._pending = []
        if self._average is None:
            self._average, values = values[0].clone(), values[1:]
        # n sequential updates a <- s a + (1 - s) x_k, as one weighted sum.
        num_steps = values.shape[0]
        exponents = torch.arange(num_steps - 1, -1, -1, device=values.device)
        step_weights = (1 - SMOOTHING) * SMOOTHING ** exponents.to(values.dtype)
        self._average = SMOOTHING**num_steps * self._average + step_weights @ values


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
