"""PCGrad: project away the conflicting part of each task's gradient."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from workers.mtl.problem import default_generator
from workers.mtl.weighting.gradients import GradientWeighting


def projected_gradient_coefficients(gramian: Tensor, orders: Sequence[Sequence[int]]) -> Tensor:
    """[T, T]: row i holds the coefficients of task i's projected gradient on
    the original gradients, projecting against the tasks of `orders[i]` in
    turn (task i itself is skipped). Works on the Gramian alone, branch-free,
    so it stays on the device without a host sync."""
    coefficients = torch.eye(len(gramian), dtype=gramian.dtype, device=gramian.device)
    squared_norms = gramian.diagonal().clamp_min(torch.finfo(gramian.dtype).tiny)
    for i, order in enumerate(orders):
        for j in order:
            if j == i:
                continue
            # (projected g_i) . g_j; only a negative one (a conflict) is removed.
            dot = coefficients[i] @ gramian[:, j]
            coefficients[i, j] -= dot.clamp(max=0.0) / squared_norms[j]
    return coefficients


class PCGrad(GradientWeighting):
    """Yu, Kumar, Gupta, Levine, Hausman & Finn, "Gradient Surgery for
    Multi-Task Learning", NeurIPS 2020.

    Each task's gradient is projected onto the normal plane of every other
    task's gradient it conflicts with (negative dot product), in a random
    order per task drawn from the strategy's generator (`seed`, checkpointed);
    the projected gradients are summed, as in the paper.
    """

    name = "pcgrad"
    defaults = {"seed": 0.0}
    state_attributes = ("_generator",)

    def _create_state(self) -> None:
        self._generator = default_generator(int(self.params["seed"]))

    def combine(self, gramian: Tensor, losses: Tensor) -> Tensor:
        num_tasks = len(self.task_names)
        orders = [
            torch.randperm(num_tasks, generator=self._generator).tolist() for _ in range(num_tasks)
        ]
        return projected_gradient_coefficients(gramian, orders).sum(dim=0)
