"""FAMO: balances the tasks' log-loss decrease with O(1) cost per step."""

from __future__ import annotations

import torch
from torch import Tensor

from workers.mtl.weighting.adam_vector import AdamVector
from workers.mtl.weighting.base import LossWeighting

# Added to the losses before their logarithm, as in the reference code.
_EPSILON = 1e-8


class FAMO(LossWeighting):
    """Liu, Liang, Stone & Liu, "FAMO: Fast Adaptive Multitask Optimization",
    NeurIPS 2023.

    Minimises sum_t z_t log L_t / c with z = softmax(xi), c = sum_t z_t / L_t,
    i.e. weights w_t = z_t / (c L_t). The logits xi have their own Adam
    (`lr`, weight decay `gamma`, 1e-3 as in the paper's Algorithm 2),
    stepped along J_softmax^T (log L(k-1) - log L(k)).
    The paper re-evaluates the losses on the same batch after the optimizer
    step; this strategy sees losses only at backward, so it compares the
    previous step's losses with this step's (as the common single-forward
    implementations do). Losses must be positive (their log is taken).
    One backward pass.
    """

    name = "famo"
    defaults = {"gamma": 0.001, "lr": 0.025}
    state_attributes = ("_logits", "_previous_losses")

    def _create_state(self) -> None:
        self._logits = AdamVector(
            torch.zeros(len(self.task_names)),
            lr=self.params["lr"],
            weight_decay=self.params["gamma"],
        )
        self._previous_losses: Tensor | None = None

    def loss_weights(self, losses: Tensor) -> Tensor:
        if self._previous_losses is not None:
            self._update_logits(self._previous_losses, losses)
        self._previous_losses = losses.clone()
        preference = torch.softmax(self._logits.value, dim=0).to(losses.dtype)
        scaled = preference / (losses + _EPSILON)
        return scaled / scaled.sum()

    def _update_logits(self, previous: Tensor, current: Tensor) -> None:
        decrease = torch.log(previous + _EPSILON) - torch.log(current + _EPSILON)
        preference = torch.softmax(self._logits.value, dim=0)
        decrease = decrease.to(preference.dtype)
        # J^T decrease for the softmax Jacobian J = diag(z) - z z^T.
        self._logits.step(preference * (decrease - preference @ decrease))
