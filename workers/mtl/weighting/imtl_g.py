"""IMTL-G: the combined gradient projects equally onto every task's direction."""

from __future__ import annotations

import torch
from torch import Tensor

from workers.mtl.weighting.gradients import GradientWeighting


class IMTLG(GradientWeighting):
    """Liu, Li, Kuang, Xue, Chen, Yang, Liao & Zhang, "Towards Impartial
    Multi-task Learning", ICLR 2021 (the gradient half, IMTL-G).

    Finds weights alpha summing to 1 such that g = sum_t alpha_t g_t has the
    same projection on every unit gradient u_t = g_t / ||g_t||:
    alpha_{2:T} = g_1 U^T (D U^T)^+ with D rows g_1 - g_t and U rows u_1 - u_t.
    Computed from the Gramian on the device (a pseudo-inverse, no host sync).
    """

    name = "imtl_g"

    def combine(self, gramian: Tensor, losses: Tensor) -> Tensor:
        if len(gramian) == 1:
            return torch.ones(1, dtype=gramian.dtype, device=gramian.device)
        norms = gramian.diagonal().clamp_min(torch.finfo(gramian.dtype).tiny).sqrt()
        # projections[i, j] = g_i . u_j
        projections = gramian / norms
        # first_row[j] = g_1 . (u_1 - u_j); differences[i, j] = (g_1 - g_i) . (u_1 - u_j)
        first_row = projections[0, 0] - projections[0, 1:]
        differences = first_row - projections[1:, :1] + projections[1:, 1:]
        rest = first_row @ torch.linalg.pinv(differences)
        return torch.cat([(1.0 - rest.sum()).reshape(1), rest])
