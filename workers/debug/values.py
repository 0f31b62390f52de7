"""The numbers breakpoint conditions read, computed only for the names asked for."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from workers.hooks import StepBoundary
from workers.mtl.diagnostics import GradientDiagnostics, gradient_diagnostics

if TYPE_CHECKING:
    from workers.trainer import Trainer

GRADIENT_PREFIXES = ("grad_norm.", "grad_cos.")


def needs_task_gradients(names: Iterable[str]) -> bool:
    """Whether any name needs per-task gradients (everything but grad_norm.total)."""
    return any(n.startswith(GRADIENT_PREFIXES) and n != "grad_norm.total" for n in names)


def total_gradient_norm(parameters: Iterable[torch.nn.Parameter]) -> Tensor:
    """L2 norm of every `.grad` together (0 when there are none); no host sync."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class StepValues:
    """Lazily computed values of one step boundary, read with one host sync."""

    def __init__(self, trainer: Trainer, boundary: StepBoundary) -> None:
        self.trainer = trainer
        self.boundary = boundary
        self.task_names = [task.name for task in trainer.components.tasks]
        self._diagnostics: GradientDiagnostics | None = None

    @property
    def diagnostics(self) -> GradientDiagnostics | None:
        """Per-task gradient statistics, when the step has per-task gradients."""
        if self._diagnostics is None and self.boundary.task_gradients is not None:
            gradients = self.boundary.task_gradients
            weights = torch.stack(
                [torch.as_tensor(self.boundary.weighting.weights[t]) for t in self.task_names]
            ).to(gradients.device, gradients.dtype)
            self._diagnostics = gradient_diagnostics(gradients, weights)
        return self._diagnostics

    def read(self, names: Iterable[str]) -> dict[str, float]:
        """Values of `names` that exist this step; the rest are left out."""
        tensors: dict[str, Tensor] = {}
        plain: dict[str, float] = {}
        for name in sorted(set(names)):
            value = self._value(name)
            if isinstance(value, Tensor):
                tensors[name] = value.detach().reshape(()).float().cpu()
            elif value is not None:
                plain[name] = value
        if tensors:
            plain.update(zip(tensors, torch.stack(list(tensors.values())).tolist(), strict=True))
        return plain

    def _value(self, name: str) -> Tensor | float | None:
        head, _, rest = name.partition(".")
        getter = _GETTERS.get(head)
        return getter(self, rest) if getter is not None else None

    def _loss(self, task: str) -> Tensor | None:
        losses = self.boundary.losses
        if task == "total":
            weights = self.boundary.weighting.weights
            return sum(weights.get(t, 1.0) * losses[t] for t in self.task_names)  # type: ignore[return-value]
        return losses.get(task)

    def _grad_norm(self, task: str) -> Tensor | None:
        if task == "total":
            return total_gradient_norm(self.trainer.model.parameters())
        diagnostics = self.diagnostics
        if diagnostics is None or task not in self.task_names:
            return None
        return diagnostics.norms[self.task_names.index(task)]

    def _grad_cos(self, pair: str) -> Tensor | None:
        first, _, second = pair.partition(".")
        diagnostics = self.diagnostics
        if diagnostics is None or {first, second} - set(self.task_names):
            return None
        return diagnostics.cosines[self.task_names.index(first), self.task_names.index(second)]

    def _param_norm(self) -> Tensor:
        params = [p.detach() for p in self.trainer.model.parameters()]
        return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(params)))


_GETTERS: dict[str, Callable[[StepValues, str], Tensor | float | None]] = {
    "step": lambda v, _: float(v.boundary.step),
    "epoch": lambda v, _: float(v.trainer.components.data_order.epoch_of(v.boundary.step)),
    "lr": lambda v, _: float(v.trainer.optimizer.param_groups[0]["lr"]),
    "loss": StepValues._loss,
    "weight": lambda v, task: v.boundary.weighting.weights.get(task),
    "grad_norm": StepValues._grad_norm,
    "grad_cos": StepValues._grad_cos,
    "param_norm": lambda v, _: v._param_norm(),
    "metric": lambda v, rest: v.trainer.last_metrics.get(rest),
}
