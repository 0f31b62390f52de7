"""Small quadratic programs over a T x T Gramian, solved exactly on the host.

MGDA, CAGrad and UPGrad all reduce to min 1/2 x^T Q x + c^T x over the
non-negative orthant or the probability simplex, with T variables (one per
task). A primal active-set method (Lawson & Hanson 1974, chapter 23; Nocedal
& Wright 2006, section 16.5) solves these exactly in a few linear solves: it
is finite, needs no step size or tolerance tuning, and handles 2 and 3+ tasks
alike. T is small, so the work runs in float64 on the CPU; the price is one
copy of the Gramian to the host per step.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Added to the unit-scale Gramian's diagonal: keeps every sub-problem
# uniquely solvable when gradients are parallel or T exceeds their rank.
RIDGE = 1e-9
_TOLERANCE = 1e-12


def host_gramian(gramian: Tensor) -> Tensor:
    """The Gramian as a positive definite float64 CPU matrix of unit mean
    diagonal: rounding in the device matmul is projected away, then the
    ridge added. Weights of scale-free methods do not change."""
    host = gramian.detach().to("cpu", torch.float64)
    eigenvalues, eigenvectors = torch.linalg.eigh((host + host.T) / 2)
    host = (eigenvectors * eigenvalues.clamp_min(0.0)) @ eigenvectors.T
    scale = host.diagonal().mean()
    if scale > 0:
        host = host / scale
    return host + RIDGE * torch.eye(len(host), dtype=host.dtype)


def min_norm_weights(gramian: Tensor) -> Tensor:
    """Simplex weights of the min-norm point of the rows' convex hull, from a
    host Gramian: argmin_{w in simplex} w^T G w."""
    return solve_qp(gramian, torch.zeros(len(gramian), dtype=gramian.dtype), simplex=True)


def solve_qp(q: Tensor, c: Tensor, *, simplex: bool) -> Tensor:
    """argmin_x 1/2 x^T q x + c^T x subject to x >= 0 (and sum(x) = 1 when
    `simplex`), for a positive definite float64 `q`."""
    size = len(c)
    scale = max(float(q.abs().max()), float(c.abs().max()), 1e-300)
    q, c = q / scale, c / scale
    free = torch.zeros(size, dtype=torch.bool)
    x = torch.zeros(size, dtype=q.dtype)
    if simplex:
        start = int(torch.argmin(q.diagonal() / 2 + c))
        free[start], x[start] = True, 1.0
    for _ in range(3 * size + 10):
        multipliers = _multipliers(q @ x + c, free, simplex)
        entering = int(torch.argmin(multipliers))
        if multipliers[entering] >= -_TOLERANCE:
            break
        free[entering] = True
        x = _descend(q, c, x, free, simplex)
    return x


def _multipliers(gradient: Tensor, free: Tensor, simplex: bool) -> Tensor:
    """Lagrange multipliers of the bounds x_j >= 0 at a sub-problem optimum
    (+inf on free variables); all non-negative means x is optimal."""
    multipliers = gradient - gradient[free].mean() if simplex and free.any() else gradient.clone()
    multipliers[free] = torch.inf
    return multipliers


def _descend(q: Tensor, c: Tensor, x: Tensor, free: Tensor, simplex: bool) -> Tensor:
    """Move x towards the optimum on the free variables, dropping each
    variable that hits its bound on the way, until that optimum is feasible.
    Updates `free` in place."""
    while True:
        target = _solve_on(q, c, free, simplex)
        blocking = free & (target <= 0)
        if not blocking.any():
            return target
        gaps = x[blocking] - target[blocking]
        ratios = torch.where(gaps > 0, x[blocking] / gaps, torch.zeros_like(gaps))
        x = x + float(ratios.min()) * (target - x)
        free &= x > _TOLERANCE
        x = torch.where(free, x, torch.zeros_like(x))
        if not free.any():
            return x


def _solve_on(q: Tensor, c: Tensor, free: Tensor, simplex: bool) -> Tensor:
    """Optimum of the sub-problem with the non-free variables held at 0."""
    index = free.nonzero().flatten()
    q_free, c_free = q[index][:, index], c[index]
    if simplex:
        n = len(index)
        kkt = torch.zeros(n + 1, n + 1, dtype=q.dtype)
        kkt[:n, :n] = q_free
        kkt[:n, n] = kkt[n, :n] = 1.0
        rhs = torch.cat([-c_free, torch.ones(1, dtype=q.dtype)])
        solution = torch.linalg.solve(kkt, rhs)[:n]
    else:
        solution = torch.linalg.solve(q_free, -c_free)
    result = torch.zeros_like(c)
    result[index] = solution
    return result
