"""UPGrad: project every task gradient onto the cone of non-conflicting directions."""

from __future__ import annotations

import torch
from torch import Tensor

from workers.mtl.weighting.gradients import GradientWeighting
from workers.mtl.weighting.qp import host_gramian, solve_qp


class UPGrad(GradientWeighting):
    """Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization",
    arXiv 2406.16232, 2024.

    Each task's gradient, scaled by the preference 1/T, is projected onto the
    dual cone {d : g_s . d >= 0 for all s} of the task gradients, and the
    projections are summed: the result conflicts with no task, and equals
    the mean gradient when no two tasks conflict. Each projection is the
    non-negative QP min_v v^T G G^T v s.t. v >= e_i / T (the paper's
    Proposition 1), solved exactly on the host.
    """

    name = "upgrad"

    def combine(self, gramian: Tensor, losses: Tensor) -> Tensor:
        host = host_gramian(gramian)
        num_tasks = len(host)
        preference = 1.0 / num_tasks
        weights = torch.full((num_tasks,), preference, dtype=host.dtype)
        for task in range(num_tasks):
            # v = preference e_task + x with x >= 0: the linear term is G G^T preference e_task.
            weights += solve_qp(host, preference * host[:, task], simplex=False)
        return weights.to(gramian.device)
