"""Task-gradient diagnostics: per-task norms, total norm and pairwise cosines.

Everything comes from one Gramian G G^T of the [T, D] per-task gradient
matrix: its diagonal gives the squared norms, its entries over the norms the
cosines, and w^T (G G^T) w the squared norm of the combined gradient. Values
stay tensors on the device; reading them is a host sync the caller schedules
(at report intervals, or when an armed breakpoint needs them this step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from workers.mtl.model import MultiTaskModel, Representation
from workers.mtl.weighting.base import GradientSource
from workers.mtl.weighting.gradients import source_targets, task_gradient_matrix


@dataclass(frozen=True, slots=True)
class GradientDiagnostics:
    """Task-gradient statistics of one step, in task order.

    Attributes:
        norms: [T] norm of each task's gradient.
        total_norm: 0-dim norm of the combined gradient sum_t w_t g_t (the
            plain sum when no weights were given).
        cosines: [T, T] cosine of the angle between each pair of task
            gradients (0 where a gradient is zero); negative means conflict.
    """

    norms: Tensor
    total_norm: Tensor
    cosines: Tensor


def gradient_diagnostics(
    task_gradients: Tensor, weights: Tensor | None = None
) -> GradientDiagnostics:
    """Statistics of a [T, D] per-task gradient matrix: the one a gradient-based
    strategy returned in `WeightingResult.task_gradients`, else one from
    `task_gradients_from_losses`. Pass the [T] effective weights of the step
    to get the norm of the gradient actually applied on that source."""
    gramian = task_gradients @ task_gradients.T
    norms = gramian.diagonal().clamp_min(0.0).sqrt()
    if weights is None:
        weights = torch.ones_like(norms)
    weights = weights.to(gramian.dtype)
    total_norm = (weights @ gramian @ weights).clamp_min(0.0).sqrt()
    scale = torch.outer(norms, norms)
    cosines = torch.where(scale > 0, gramian / scale.clamp_min(torch.finfo(scale.dtype).tiny), 0.0)
    return GradientDiagnostics(norms=norms, total_norm=total_norm, cosines=cosines.clamp(-1.0, 1.0))


def task_gradients_from_losses(
    losses: Mapping[str, Tensor],
    task_names: Sequence[str],
    *,
    model: MultiTaskModel,
    representation: Representation,
    source: GradientSource,
) -> Tensor:
    """[T, D] per-task gradients on `source` when no strategy computed them:
    T extra passes (head-only on the representation). Call it before the
    step's backward: it keeps the graph and leaves `.grad` untouched."""
    targets = source_targets(model, representation, source)
    return task_gradient_matrix([losses[task] for task in task_names], targets)
