"""Uncertainty weighting: each task's loss scaled by a learned homoscedastic noise."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from workers.mtl.weighting.base import LossWeighting


class UncertaintyWeighting(LossWeighting):
    """Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh
    Losses for Scene Geometry and Semantics", CVPR 2018.

    L = sum_t exp(-s_t) L_t + s_t, with s_t = log sigma_t^2 a learnable
    log-variance per task (initialised to 0). The paper's 1/2 factors for
    regression are folded into one form for every task, as common
    implementations do; at the optimum s_t = log L_t, so noisier tasks get
    smaller weights exp(-s_t). The log-variances are exposed by `parameters()`:
    the trainer's optimizer must update them. One backward pass.
    """

    name = "uncertainty"
    state_attributes = ("log_variances",)

    def _create_state(self) -> None:
        self.log_variances = nn.Parameter(torch.zeros(len(self.task_names)))

    def parameters(self) -> list[nn.Parameter]:
        return [self.log_variances]

    def loss_weights(self, losses: Tensor) -> Tensor:
        return torch.exp(-self.log_variances).to(losses.dtype)

    def regularizer(self) -> Tensor:
        return self.log_variances
