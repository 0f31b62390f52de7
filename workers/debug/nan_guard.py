"""The NaN/Inf guard: find the first non-finite loss or gradient of a step."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workers.debug.values import total_gradient_norm
from workers.hooks import StepBoundary
from workers.mtl.model import MultiTaskModel


@dataclass(frozen=True, slots=True)
class NonFinite:
    """Where a step first went non-finite: the task and the tensor."""

    task: str
    tensor: str
    detail: str


def check_step(
    model: MultiTaskModel, boundary: StepBoundary, task_names: list[str]
) -> NonFinite | None:
    """None when every loss and gradient of the step is finite.

    One host sync per step on the common (finite) path: the losses and the
    total gradient norm are checked together; only a failing step pays for the
    search of the first offending tensor.
    """
    losses = torch.stack([boundary.losses[task].float().reshape(()) for task in task_names])
    grad_norm = total_gradient_norm(model.parameters()).to(losses.device)
    if bool(torch.isfinite(torch.cat([losses, grad_norm.reshape(1)])).all()):
        return None
    for task, loss in zip(task_names, losses.tolist(), strict=True):
        if not _finite(loss):
            return NonFinite(task=task, tensor=f"loss:{task}", detail=f"loss of {task} is {loss}")
    owners = {id(p): task for task in task_names for p in model.task_parameters(task)}
    for name, parameter in model.named_parameters():
        grad = parameter.grad
        if grad is not None and not bool(torch.isfinite(grad).all()):
            task = owners.get(id(parameter), "")
            where = f"head of {task}" if task else "shared parameters"
            return NonFinite(
                task=task, tensor=f"grad:{name}", detail=f"non-finite gradient in {where}"
            )
    return NonFinite(task="", tensor="grad:*", detail="non-finite total gradient norm")


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))
