"""Softmax gates over experts and the gated mixture of expert outputs (MMoE, PLE)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class Gate(nn.Module):
    """A softmax over `num_experts` from one vector per sample (Ma et al. 2018, eq. 6).

    The vector is the flattened tensor, or, with `pool_positions`, the tensor
    averaged over its positions (dims after the channel dim) so that a gate
    reading a dense feature map stays small.
    """

    def __init__(self, in_features: int, num_experts: int, *, pool_positions: bool) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, num_experts)
        self.pool_positions = pool_positions

    def forward(self, inputs: Tensor) -> Tensor:
        if self.pool_positions and inputs.dim() > 2:
            vectors = inputs.flatten(2).mean(dim=-1)
        else:
            vectors = inputs.flatten(1)
        return torch.softmax(self.linear(vectors), dim=-1)


def mix_experts(expert_outputs: Sequence[Tensor], weights: Tensor) -> Tensor:
    """Sum of expert outputs [B, ...] weighted per sample by `weights` [B, E]."""
    stacked = torch.stack(list(expert_outputs), dim=1)
    weights = weights.reshape(*weights.shape, *([1] * (stacked.dim() - 2)))
    return (stacked * weights).sum(dim=1)
