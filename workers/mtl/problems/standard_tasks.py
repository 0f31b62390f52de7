"""The losses, metrics and tasks that several reference problems share."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from workers.mtl.problem import Metric, Task


def regression_loss(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean squared error; a [B, 1] prediction is compared with a [B] target."""
    return F.mse_loss(prediction.reshape(target.shape), target)


def mean_squared_error(prediction: Tensor, target: Tensor) -> float:
    return float(regression_loss(prediction, target))


def accuracy(prediction: Tensor, target: Tensor) -> float:
    """Share of samples (or positions) whose highest-scoring class is the target."""
    return float((prediction.argmax(dim=1) == target).float().mean())


def regression_task(name: str, output_size: int = 1) -> Task:
    """A task trained with MSE and validated by MSE."""
    return Task(
        name=name,
        loss=regression_loss,
        output_size=output_size,
        metrics={"mse": Metric(fn=mean_squared_error, higher_is_better=False)},
    )


def classification_task(name: str, num_classes: int) -> Task:
    """A task trained with cross-entropy over class logits and validated by accuracy."""
    return Task(
        name=name,
        loss=F.cross_entropy,
        output_size=num_classes,
        metrics={"accuracy": Metric(fn=accuracy, higher_is_better=True)},
    )
