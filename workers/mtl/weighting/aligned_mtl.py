"""Aligned-MTL: align the task gradients' principal components before summing."""

from __future__ import annotations

import torch
from torch import Tensor

from workers.mtl.weighting.gradients import GradientWeighting


class AlignedMTL(GradientWeighting):
    """Senushkin, Patakin, Kuznetsov & Konushin, "Independent Component
    Alignment for Multi-Task Learning", CVPR 2023.

    Replaces the gradient matrix G by sigma_min U V^T (its singular vectors
    with every singular value set to the smallest non-zero one), making the
    linear system of the tasks well conditioned, then sums the aligned task
    gradients as the reference code does. In Gramian form the weights are
    B 1 with B = sqrt(lambda_min) V Lambda^{-1/2} V^T over the eigenpairs of
    G G^T above the rank tolerance. On the representation source this is the
    paper's Aligned-MTL-UB. Computed on the device, branch-free.
    """

    name = "aligned_mtl"

    def combine(self, gramian: Tensor, losses: Tensor) -> Tensor:
        eigenvalues, eigenvectors = torch.linalg.eigh(gramian)
        tolerance = eigenvalues.max() * len(gramian) * torch.finfo(gramian.dtype).eps
        kept = eigenvalues > tolerance
        smallest = torch.where(kept, eigenvalues, torch.inf).min()
        inverse_roots = torch.where(kept, eigenvalues.clamp_min(tolerance).rsqrt(), 0.0)
        balance = (eigenvectors * inverse_roots) @ eigenvectors.T
        weights = smallest.sqrt() * balance.sum(dim=1)
        # All gradients zero: nothing to align, any weights give a zero step.
        return torch.where(kept.any(), weights, torch.ones_like(weights))
