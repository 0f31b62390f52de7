"""GradNorm: learned weights that equalise the tasks' gradient norms and training rates."""

from __future__ import annotations

import torch
from torch import Tensor

from workers.mtl.weighting.adam_vector import AdamVector
from workers.mtl.weighting.gradients import GradientWeighting

# Floor of a weight after its Adam step, so renormalising keeps all positive.
_MIN_WEIGHT = 1e-4


class GradNorm(GradientWeighting):
    """Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: Gradient
    Normalization for Adaptive Loss Balancing in Deep Multitask Networks",
    ICML 2018.

    Each step uses the current weights w (initially 1, summing to T) and then
    updates them with their own Adam (`lr`) on
    L_grad = sum_t | w_t n_t - mean(w n) r_t^alpha |, where n_t = ||g_t|| and
    r_t is task t's loss ratio L_t / L_t(0) over its mean; the target is held
    constant, as in the paper, so the gradient is sign(.) n_t in closed form
    (no second-order backward). The weights are renormalised to sum to T.

    Gradient norms: the paper takes them on the last shared layer's weights,
    which a generic model does not name. On the representation source n_t is
    the norm of the gradient on that layer's output, the shared
    representation (cheap: head passes only); on shared_parameters it is the
    norm over all shared parameters (exact, T trunk passes).
    """

    name = "gradnorm"
    defaults = {"alpha": 1.5, "lr": 0.025}
    state_attributes = ("_weights", "_initial_losses")

    def _create_state(self) -> None:
        self._weights = AdamVector(torch.ones(len(self.task_names)), lr=self.params["lr"])
        self._initial_losses: Tensor | None = None

    def combine(self, gramian: Tensor, losses: Tensor) -> Tensor:
        if self._initial_losses is None:
            self._initial_losses = losses.clone()
        weights = self._weights.value.clone()
        norms = gramian.diagonal().clamp_min(0.0).sqrt().to(weights.dtype)
        self._update(weights, norms, losses.to(weights.dtype))
        return weights

    def _update(self, weights: Tensor, norms: Tensor, losses: Tensor) -> None:
        weighted_norms = weights * norms
        ratios = losses / self._initial_losses
        targets = weighted_norms.mean() * (ratios / ratios.mean()) ** self.params["alpha"]
        self._weights.step(torch.sign(weighted_norms - targets) * norms)
        with torch.no_grad():
            updated = self._weights.value.clamp_min_(_MIN_WEIGHT)
            updated.mul_(len(self.task_names) / updated.sum())
