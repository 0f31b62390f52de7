"""The numbers breakpoint conditions read, computed only for the names asked for."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from workers.debug.gradient_norm import GradientNorm
from workers.hooks import StepBoundary
from workers.mtl.diagnostics import GradientDiagnostics, gradient_diagnostics

if TYPE_CHECKING:
    from workers.trainer import Trainer

GRADIENT_PREFIXES = ("grad_norm.", "grad_cos.")


def needs_task_gradients(names: Iterable[str]) -> bool:
    """Whether any name needs per-task gradients (everything but grad_norm.total)."""
    return any(n.startswith(GRADIENT_PREFIXES) and n != "grad_norm.total" for n in names)


class StepValues:
    """Lazily computed values of one step boundary, read with one host sync.

    The total gradient norm is computed at most once per boundary, for the
    NaN guard and `grad_norm.total` alike, by the job's `GradientNorm`.
    """

    def __init__(
        self, trainer: Trainer, boundary: StepBoundary, gradient_norm: GradientNorm
    ) -> None:
        self.trainer = trainer
        self.boundary = boundary
        self.gradient_norm = gradient_norm
        self.task_names = [task.name for task in trainer.components.tasks]
        self._diagnostics: GradientDiagnostics | None = None
        self._grad_norm_total: Tensor | None = None

    @property
    def grad_norm_total(self) -> Tensor:
        """The L2 norm of all parameter gradients of the step, on the device."""
        if self._grad_norm_total is None:
            self._grad_norm_total = self.gradient_norm.total()
        return self._grad_norm_total

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
        """Values of `names` that exist this step; the rest are left out.

        Every tensor among them is stacked on one device and copied to the
        host at once: one host sync for the whole read. `loss.total` is
        summed from the per-task losses and weights after that read (which
        then holds them too), as the step reports compute it.
        """
        requested = set(names)
        wanted = requested - {"loss.total"}
        if "loss.total" in requested:
            wanted.update(
                f"{kind}.{task}" for kind in ("loss", "weight") for task in self.task_names
            )
        tensors: dict[str, Tensor] = {}
        plain: dict[str, float] = {}
        for name in sorted(wanted):
            value = self._value(name)
            if isinstance(value, Tensor):
                tensors[name] = value if value.dim() == 0 else value.reshape(())
            elif value is not None:
                plain[name] = value
        if tensors:
            device = next(iter(tensors.values())).device
            stacked = torch.stack([tensor.to(device) for tensor in tensors.values()])
            plain.update(zip(tensors, stacked.tolist(), strict=True))
        if "loss.total" in requested:
            plain["loss.total"] = sum(
                plain.get(f"weight.{task}", 1.0) * plain[f"loss.{task}"] for task in self.task_names
            )
        return plain

    def _value(self, name: str) -> Tensor | float | None:
        head, _, rest = name.partition(".")
        getter = _GETTERS.get(head)
        return getter(self, rest) if getter is not None else None

    def _grad_norm(self, task: str) -> Tensor | None:
        if task == "total":
            return self.grad_norm_total
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
    "loss": lambda v, task: v.boundary.losses.get(task),
    "weight": lambda v, task: v.boundary.weighting.weights.get(task),
    "grad_norm": StepValues._grad_norm,
    "grad_cos": StepValues._grad_cos,
    "param_norm": lambda v, _: v._param_norm(),
    "metric": lambda v, rest: v.trainer.last_metrics.get(rest),
}
