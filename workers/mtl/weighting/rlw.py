"""Random loss weighting: fresh random weights every step."""

from __future__ import annotations

import torch
from torch import Tensor

from workers.mtl.problem import default_generator
from workers.mtl.weighting.base import LossWeighting


class RandomLossWeighting(LossWeighting):
    """Lin, Ye, Xu, Shi & Zhang, "Reasonable Effectiveness of Random Weighting:
    A Litmus Test for Multi-Task Learning", TMLR 2022 (arXiv 2111.10603, 2021).

    w = softmax(z) with z ~ N(0, I) drawn each step from the strategy's own
    generator (seeded by `seed`, state checkpointed), so the weights sum to 1.
    One backward pass.
    """

    name = "rlw"
    defaults = {"seed": 0.0}
    state_attributes = ("_generator",)

    def _create_state(self) -> None:
        self._generator = default_generator(int(self.params["seed"]))

    def loss_weights(self, losses: Tensor) -> Tensor:
        draws = torch.randn(len(self.task_names), generator=self._generator)
        return torch.softmax(draws, dim=0).to(losses.device, losses.dtype)
