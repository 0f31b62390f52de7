"""MGDA: the min-norm point of the convex hull of the task gradients."""

from __future__ import annotations

from torch import Tensor

from workers.mtl.weighting.gradients import GradientWeighting
from workers.mtl.weighting.qp import host_gramian, min_norm_weights


class MGDA(GradientWeighting):
    """Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization",
    NeurIPS 2018.

    Weights: argmin over the simplex of ||sum_t w_t g_t||, the common descent
    direction of the multiple-gradient descent algorithm. On the
    representation source this is the paper's MGDA-UB (gradients on the
    shared representation, one trunk backward); on shared_parameters it is
    exact MGDA. The min-norm problem is solved exactly by an active-set QP
    (workers/mtl/weighting/qp.py) rather than the paper's Frank-Wolfe, for
    any number of tasks. Gradients are not normalised first (the paper's
    "none" normalisation).
    """

    name = "mgda"

    def combine(self, gramian: Tensor, losses: Tensor) -> Tensor:
        return min_norm_weights(host_gramian(gramian)).to(gramian.device)
