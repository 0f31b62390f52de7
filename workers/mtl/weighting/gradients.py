"""Per-task gradients on either source, and writing a combined gradient back.

The mechanics every gradient-based strategy shares, written once:

- `compute_task_gradients` takes one `autograd.grad` per task, on the
  gradient source plus that task's own head parameters. On the
  REPRESENTATION source these are head-only passes (the trunk graph is kept
  for later); on SHARED_PARAMETERS each is a full pass through the trunk.
- `TaskGradients.apply(weights)` then sets `.grad` as `loss.backward()` of
  sum_t w_t L_t would: each head gets w_t times its own task's gradient, and
  the shared part gets sum_t w_t g_t, by one trunk backward from the
  representation or by writing the combined vector into the shared
  parameters' `.grad` directly. Gradients accumulate into existing `.grad`,
  as autograd does.

A `GradientWeighting` only says how to weight the tasks from the T x T
Gramian G G^T of their gradients; user weights multiply those weights
(see base.py).
"""

from __future__ import annotations

import weakref
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from workers.mtl.model import MultiTaskModel, Representation
from workers.mtl.weighting.base import (
    BackwardContext,
    GradientSource,
    WeightingResult,
    WeightingStrategy,
    named,
    stack_losses,
)

# Models whose parameters were checked to split into shared and task parts.
_checked_models: weakref.WeakSet[MultiTaskModel] = weakref.WeakSet()


@dataclass(slots=True, kw_only=True)
class TaskGradients:
    """Per-task gradients of one step, ready to be combined.

    Attributes:
        matrix: [T, D] gradients on the source, rows in task order.
        source: where the rows were taken.
        head_parameters: per task, its trainable task-specific parameters.
        head_gradients: per task, the task loss's gradient on them.
        targets: the source tensors: [representation] or the trainable
            shared parameters.
    """

    matrix: Tensor
    source: GradientSource
    head_parameters: list[list[nn.Parameter]]
    head_gradients: list[list[Tensor]]
    targets: list[Tensor]

    def apply(self, weights: Tensor) -> None:
        """Set `.grad` for the combination sum_t weights[t] * task t."""
        for weight, params, grads in zip(
            weights.unbind(), self.head_parameters, self.head_gradients, strict=True
        ):
            _accumulate(params, [weight * grad for grad in grads])
        combined = weights.to(self.matrix.dtype) @ self.matrix
        if self.source is GradientSource.REPRESENTATION:
            (representation,) = self.targets
            representation.backward(combined.view_as(representation))
        else:
            _accumulate(self.targets, _unflatten(combined, self.targets))


def default_source(model: MultiTaskModel) -> GradientSource:
    """The cheap representation source where the model allows it."""
    if model.has_single_representation:
        return GradientSource.REPRESENTATION
    return GradientSource.SHARED_PARAMETERS


def source_targets(
    model: MultiTaskModel, representation: Representation, source: GradientSource
) -> list[Tensor]:
    """The tensors per-task gradients are taken on; ValueError when the
    representation source would miss part of the model."""
    if source is GradientSource.SHARED_PARAMETERS:
        return [p for p in model.shared_parameters() if p.requires_grad]
    if not model.has_single_representation or not isinstance(representation, Tensor):
        raise ValueError(
            "gradient_source 'representation' needs a model whose heads all read one "
            "representation tensor; this model's heads read different ones, so use "
            "gradient_source 'shared_parameters'"
        )
    return [representation]


def task_gradient_matrix(losses: Sequence[Tensor], targets: Sequence[Tensor]) -> Tensor:
    """[T, D]: row t is d losses[t] / d targets, flattened. The graph survives
    for the step's own backward, and no `.grad` is touched (diagnostics)."""
    matrix, _ = _per_task_gradients(losses, targets, [[] for _ in losses], keep_graph=True)
    return matrix


def compute_task_gradients(
    losses: Mapping[str, Tensor],
    context: BackwardContext,
    source: GradientSource,
    task_names: Sequence[str],
) -> TaskGradients:
    """Per-task gradients on `source` and on each task's own head."""
    model = context.model
    _check_parameter_split(model)
    targets = source_targets(model, context.representation, source)
    heads = [[p for p in model.task_parameters(task) if p.requires_grad] for task in task_names]
    matrix, head_gradients = _per_task_gradients(
        [losses[task] for task in task_names],
        targets,
        heads,
        # The trunk graph must survive the head passes for the one trunk backward.
        keep_graph=source is GradientSource.REPRESENTATION,
    )
    return TaskGradients(
        matrix=matrix,
        source=source,
        head_parameters=heads,
        head_gradients=head_gradients,
        targets=targets,
    )


class GradientWeighting(WeightingStrategy):
    """A strategy that weights per-task gradients: T task gradients on the
    source, weights from their Gramian, one combined gradient written back.
    Built without a gradient source, it settles on one at its first backward
    (the representation where the model has a single one, else the shared
    parameters) and keeps it in `gradient_source`."""

    kind = "gradient"
    supported_sources = frozenset(GradientSource)

    def backward_passes(self) -> int:
        if self.gradient_source is GradientSource.SHARED_PARAMETERS:
            return len(self.task_names)
        return 1

    def backward(self, losses: Mapping[str, Tensor], context: BackwardContext) -> WeightingResult:
        if self.gradient_source is None:
            self.gradient_source = default_source(context.model)
        source = self.gradient_source
        loss_vector = stack_losses(losses, self.task_names).detach()
        self._follow(loss_vector.device)
        gradients = compute_task_gradients(losses, context, source, self.task_names)
        gramian = gradients.matrix @ gradients.matrix.T
        weights = self.combine(gramian, loss_vector).to(loss_vector.dtype)
        effective = weights * self.user_vector(context.user_weights, like=weights)
        gradients.apply(effective)
        return WeightingResult(
            weights=named(self.task_names, effective),
            task_gradients=gradients.matrix,
            gradient_source=source,
        )

    @abstractmethod
    def combine(self, gramian: Tensor, losses: Tensor) -> Tensor:
        """[T] weights w such that the combined gradient is sum_t w_t g_t,
        from the [T, T] Gramian g_i . g_j and the [T] detached loss values."""


def _per_task_gradients(
    losses: Sequence[Tensor],
    targets: Sequence[Tensor],
    heads: Sequence[Sequence[Tensor]],
    *,
    keep_graph: bool,
) -> tuple[Tensor, list[list[Tensor]]]:
    """One autograd pass per task on targets + that task's head parameters:
    the [T, D] target rows and each task's head gradients."""
    rows, head_gradients = [], []
    for t, (loss, params) in enumerate(zip(losses, heads, strict=True)):
        retain = keep_graph or t < len(losses) - 1
        grads = _grad(loss, [*targets, *params], retain=retain)
        rows.append(_flatten(grads[: len(targets)]))
        head_gradients.append(grads[len(targets) :])
    return torch.stack(rows), head_gradients


def _grad(loss: Tensor, inputs: list[Tensor], *, retain: bool) -> list[Tensor]:
    return list(torch.autograd.grad(loss, inputs, retain_graph=retain, materialize_grads=True))


def _flatten(grads: Sequence[Tensor]) -> Tensor:
    return torch.cat([grad.reshape(-1) for grad in grads])


def _unflatten(vector: Tensor, like: Sequence[Tensor]) -> list[Tensor]:
    pieces = vector.split([tensor.numel() for tensor in like])
    return [piece.view_as(tensor) for piece, tensor in zip(pieces, like, strict=True)]


def _accumulate(params: Sequence[Tensor], grads: Sequence[Tensor]) -> None:
    for param, grad in zip(params, grads, strict=True):
        if param.grad is None:
            param.grad = torch.empty_like(param).copy_(grad)
        else:
            param.grad.add_(grad)


def _check_parameter_split(model: MultiTaskModel) -> None:
    """Every trainable parameter must be shared or some task's, or it would
    silently get no gradient; checked once per model."""
    if model in _checked_models:
        return
    covered = {id(p) for p in model.shared_parameters()}
    for task in model.task_names:
        covered.update(id(p) for p in model.task_parameters(task))
    missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in covered]
    if missing:
        raise ValueError(
            f"parameters {missing} are neither in shared_parameters() nor in any "
            "task_parameters(); list each trainable parameter in one of them"
        )
    _checked_models.add(model)
