"""A small vector a strategy learns with an Adam optimizer of its own."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Self

import torch
from torch import Tensor


class AdamVector:
    """Task weights or logits that a strategy updates itself (GradNorm, FAMO),
    so the trainer's optimizer and learning rate schedule never touch them.

    The vector does not require grad: strategies compute its gradient in
    closed form and hand it to `step`, and weights read from `value` never
    pull the model's backward into it.
    """

    def __init__(self, initial: Tensor, *, lr: float, weight_decay: float = 0.0) -> None:
        self.value = initial.detach().clone()
        self._optimizer = torch.optim.Adam(
            [self.value], lr=lr, weight_decay=weight_decay, foreach=False
        )

    def step(self, gradient: Tensor) -> None:
        """One Adam step along `gradient` (same shape as `value`)."""
        self.value.grad = gradient.detach().to(self.value.dtype)
        self._optimizer.step()
        self.value.grad = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "value": self.value.detach().clone(),
            "optimizer": copy.deepcopy(self._optimizer.state_dict()),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        with torch.no_grad():
            self.value.copy_(state["value"])
        self._optimizer.load_state_dict(state["optimizer"])

    def to(self, device: torch.device) -> Self:
        state = self.state_dict()
        self.value.data = self.value.data.to(device)
        # Adam's load_state_dict moves its moments onto the vector's device.
        self._optimizer.load_state_dict(state["optimizer"])
        return self
