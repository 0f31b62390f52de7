"""CAGrad: the update that maximises the worst task's improvement near the mean gradient."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from workers.mtl.weighting.gradients import GradientWeighting
from workers.mtl.weighting.qp import host_gramian, solve_qp

_MAX_ROUNDS = 100
_RELATIVE_TOLERANCE = 1e-10


def conflict_averse_weights(gramian: Tensor, radius: float) -> Tensor:
    """argmin over the simplex of g_w . g_0 + radius ||g_w|| (g_w = sum_t w_t g_t,
    g_0 the mean gradient), from a host Gramian.

    The norm is rewritten as min_{tau > 0} (||g_w||^2 / tau + tau) / 2, a
    jointly convex problem in (w, tau); alternating an exact simplex QP in w
    with the closed form tau = ||g_w|| converges to the optimum.
    """
    num_tasks = len(gramian)
    mean = torch.full((num_tasks,), 1.0 / num_tasks, dtype=gramian.dtype)
    linear = gramian @ mean
    weights = mean
    tau = math.sqrt(float(mean @ linear))
    for _ in range(_MAX_ROUNDS):
        if radius == 0.0 or tau == 0.0:
            break
        weights = solve_qp((radius / tau) * gramian, linear, simplex=True)
        new_tau = math.sqrt(max(float(weights @ gramian @ weights), 0.0))
        converged = abs(new_tau - tau) <= _RELATIVE_TOLERANCE * tau
        tau = new_tau
        if converged:
            break
    return weights


class CAGrad(GradientWeighting):
    """Liu, Liu, Jin, Stone & Liu, "Conflict-Averse Gradient Descent for
    Multi-task Learning", NeurIPS 2021.

    d = g_0 + c ||g_0|| g_w / ||g_w||, with g_0 the mean gradient and w
    solving the dual problem in `conflict_averse_weights` exactly (the
    reference code runs 20 SGD steps on it). c = 0 gives the mean gradient;
    larger c moves towards MGDA. The reference code's rescaling by
    1 / (1 + c^2) is left out: it only changes the step size.
    """

    name = "cagrad"
    defaults = {"c": 0.4}

    def combine(self, gramian: Tensor, losses: Tensor) -> Tensor:
        host = host_gramian(gramian)
        num_tasks = len(host)
        mean = torch.full((num_tasks,), 1.0 / num_tasks, dtype=host.dtype)
        radius = self.params["c"] * math.sqrt(float(mean @ host @ mean))
        weights = conflict_averse_weights(host, radius)
        direction_norm = math.sqrt(max(float(weights @ host @ weights), 0.0))
        combined = mean + radius / max(direction_norm, 1e-12) * weights
        return combined.to(gramian.device)
