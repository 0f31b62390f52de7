"""The NaN/Inf guard: find the first non-finite loss or gradient of a step."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from workers.mtl.model import MultiTaskModel


@dataclass(frozen=True, slots=True)
class NonFinite:
    """Where a step first went non-finite: the task and the tensor."""

    task: str
    tensor: str
    detail: str


def guarded_names(task_names: Sequence[str]) -> list[str]:
    """The step values the guard reads (`StepValues` names): every task's loss
    and the total gradient norm, which is non-finite when any gradient is (or
    when their squares overflow)."""
    return [*(f"loss.{task}" for task in task_names), "grad_norm.total"]


def check_step(
    model: MultiTaskModel, task_names: list[str], values: Mapping[str, float]
) -> NonFinite | None:
    """None when every loss and gradient of the step is finite.

    `values` holds the `guarded_names`, read by the caller in its one host
    read of the step (with whatever breakpoints need). Only a non-finite
    value pays for the search of the first offending tensor: losses first,
    then gradients in parameter order.
    """
    if all(map(math.isfinite, values.values())):
        return None  # everything read this step is finite, the guarded values among them
    if all(math.isfinite(values[name]) for name in guarded_names(task_names)):
        return None
    return _first_non_finite(model, task_names, [values[f"loss.{t}"] for t in task_names])


def _first_non_finite(
    model: MultiTaskModel, task_names: list[str], losses: list[float]
) -> NonFinite:
    for task, loss in zip(task_names, losses, strict=True):
        if not math.isfinite(loss):
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
