"""Static weighting: a fixed weighted sum of the task losses."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from workers.mtl.weighting.base import (
    BackwardContext,
    LossWeighting,
    WeightingResult,
    named,
    stack_losses,
)


class StaticWeighting(LossWeighting):
    """L = sum_t u_t L_t with the user's weights u (1.0 each when none are
    given: equal weighting, the usual multi-task baseline). One backward pass."""

    name = "static"

    def loss_weights(self, losses: Tensor) -> Tensor:
        return torch.ones_like(losses)

    def backward(self, losses: Mapping[str, Tensor], context: BackwardContext) -> WeightingResult:
        # LossWeighting's backward with w = 1 and no regulariser, without the
        # ops those would cost: on small models they are a visible part of a step.
        loss_vector = stack_losses(losses, self.task_names)
        user = self.user_vector(context.user_weights, like=loss_vector)
        (user * loss_vector).sum().backward()
        return WeightingResult(weights=named(self.task_names, user))
