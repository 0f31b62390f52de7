"""Nash-MTL: the Nash bargaining solution among the tasks' gradients."""

from __future__ import annotations

import torch
from torch import Tensor

from workers.mtl.weighting.gradients import GradientWeighting
from workers.mtl.weighting.qp import host_gramian

_MAX_NEWTON_STEPS = 50
_DECREMENT_TOLERANCE = 1e-20


def bargaining_weights(gramian: Tensor, start: Tensor) -> Tensor:
    """alpha > 0 with (G alpha)_t = 1 / alpha_t for a host Gramian G: the
    minimiser of the strictly convex f(alpha) = alpha^T G alpha / 2 - sum log alpha,
    by damped Newton from `start` (positive), to machine precision."""
    alpha = start.to(gramian.dtype).clamp_min(1e-12)
    for _ in range(_MAX_NEWTON_STEPS):
        gradient = gramian @ alpha - 1.0 / alpha
        hessian = gramian + torch.diag(alpha**-2)
        step = torch.linalg.solve(hessian, -gradient)
        decrement = float(-(gradient @ step))
        if decrement <= _DECREMENT_TOLERANCE:
            break
        alpha = alpha + _damped_length(gramian, alpha, step, decrement) * step
    return alpha


def _damped_length(gramian: Tensor, alpha: Tensor, step: Tensor, decrement: float) -> float:
    """Backtracking (Armijo) step length that keeps alpha positive."""

    def objective(point: Tensor) -> float:
        return float(point @ gramian @ point / 2 - torch.log(point).sum())

    shrinking = step < 0
    length = 1.0
    if shrinking.any():
        length = min(1.0, 0.99 * float((-alpha[shrinking] / step[shrinking]).min()))
    current = objective(alpha)
    while objective(alpha + length * step) > current - 0.25 * length * decrement:
        length /= 2
        if length < 1e-12:
            break
    return length


class NashMTL(GradientWeighting):
    """Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik & Fetaya,
    "Multi-Task Learning as a Bargaining Game", ICML 2022.

    Weights alpha solve G G^T alpha = 1 / alpha on the Gramian normalised by
    its Frobenius norm (as the reference code does). The paper approximates
    this with a sequence of convex programs in cvxpy; it is the stationarity
    condition of a strictly convex function, so Newton's method solves it
    exactly, warm-started from the last alpha. Weights are recomputed every
    `update_weights_every` steps and reused between; the combined gradient is
    scaled down to norm `max_norm` when longer (0 disables), as the reference
    code clips the shared gradient.
    """

    name = "nash_mtl"
    defaults = {"max_norm": 1.0, "update_weights_every": 1.0}
    state_attributes = ("_alpha", "_num_calls")

    def _create_state(self) -> None:
        self._alpha = torch.ones(len(self.task_names), dtype=torch.float64)
        self._num_calls = 0

    def combine(self, gramian: Tensor, losses: Tensor) -> Tensor:
        if self._num_calls % int(self.params["update_weights_every"]) == 0:
            host = host_gramian(gramian)
            alpha = bargaining_weights(host / torch.linalg.norm(host), self._alpha.cpu())
            self._alpha = alpha.to(self._alpha.device)
        self._num_calls += 1
        return self._clipped(self._alpha.to(gramian.device, gramian.dtype), gramian)

    def _clipped(self, weights: Tensor, gramian: Tensor) -> Tensor:
        max_norm = self.params["max_norm"]
        if max_norm <= 0:
            return weights
        norm = (weights @ gramian @ weights).clamp_min(0.0).sqrt()
        return weights * (max_norm / norm).clamp(max=1.0)
