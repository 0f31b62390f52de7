"""Static weighting: a fixed weighted sum of the task losses."""

from __future__ import annotations

import torch
from torch import Tensor

from workers.mtl.weighting.base import LossWeighting


class StaticWeighting(LossWeighting):
    """L = sum_t u_t L_t with the user's weights u (1.0 each when none are
    given: equal weighting, the usual multi-task baseline). One backward pass."""

    name = "static"

    def loss_weights(self, losses: Tensor) -> Tensor:
        return torch.ones_like(losses)
