"""The quick-start reference problem: regression and classification on one input.

Inputs x ~ N(0, I) in 16 dimensions. The `value` task regresses a smooth
nonlinear function of x scaled to a standard deviation near 10 (an MSE loss
around 100 at the start); the `category` task classifies x into four classes
by a different projection (a cross-entropy near 1.4). The tasks share some
input directions and differ in others, and their losses differ by two orders
of magnitude: a realistic setting for weighting bugs. Generated from the
seed, so nothing is downloaded and every run is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workers.mtl.architectures import ModelParts, build_model
from workers.mtl.data import InMemoryDataset
from workers.mtl.model import MultiTaskModel
from workers.mtl.problem import Metric, Problem, Task, default_generator

INPUT_SIZE = 16
NUM_CLASSES = 4
VALUE_SCALE = 10.0


def _accuracy(prediction: Tensor, target: Tensor) -> float:
    return float((prediction.argmax(dim=-1) == target).float().mean())


def _mse(prediction: Tensor, target: Tensor) -> float:
    return float(F.mse_loss(prediction.squeeze(-1), target))


def _value_loss(prediction: Tensor, target: Tensor) -> Tensor:
    return F.mse_loss(prediction.squeeze(-1), target)


TASKS = (
    Task(
        name="value",
        loss=_value_loss,
        output_size=1,
        metrics={"mse": Metric(fn=_mse, higher_is_better=False)},
    ),
    Task(
        name="category",
        loss=F.cross_entropy,
        output_size=NUM_CLASSES,
        metrics={"accuracy": Metric(fn=_accuracy, higher_is_better=True)},
    ),
)


def _directions(generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    shared = torch.randn(INPUT_SIZE, generator=generator) / math.sqrt(INPUT_SIZE)
    value_only = torch.randn(INPUT_SIZE, generator=generator) / math.sqrt(INPUT_SIZE)
    class_projection = torch.randn(INPUT_SIZE, NUM_CLASSES, generator=generator)
    class_projection[:, 0] += 2.0 * shared
    return shared, value_only, class_projection


def _dataset(
    num_samples: int, directions: tuple[Tensor, Tensor, Tensor], seed: int
) -> InMemoryDataset:
    shared, value_only, class_projection = directions
    generator = default_generator(seed)
    inputs = torch.randn(num_samples, INPUT_SIZE, generator=generator)
    value = VALUE_SCALE * (torch.sin(2.0 * inputs @ shared) + 0.5 * torch.tanh(inputs @ value_only))
    value = value + 0.1 * VALUE_SCALE * torch.randn(num_samples, generator=generator)
    category = (
        inputs @ class_projection + 0.3 * torch.randn(num_samples, NUM_CLASSES, generator=generator)
    ).argmax(dim=-1)
    return InMemoryDataset(inputs, {"value": value, "category": category})


def _model_parts(hidden_size: int) -> ModelParts:
    def make_encoder() -> nn.Module:
        return nn.Sequential(
            nn.Linear(INPUT_SIZE, hidden_size),
            nn.ReLU(),
            nn.Linear(hidden_size, hidden_size),
            nn.ReLU(),
        )

    def make_head(task: Task) -> nn.Module:
        return nn.Sequential(
            nn.Linear(hidden_size, hidden_size // 2),
            nn.ReLU(),
            nn.Linear(hidden_size // 2, task.output_size),
        )

    return ModelParts(
        make_encoder=make_encoder,
        feature_size=hidden_size,
        make_head=make_head,
        input_size=INPUT_SIZE,
    )


def build(params: Mapping[str, float], seed: int) -> Problem:
    """The problem. Problem params: num_samples (4096), num_val_samples (1024);
    model params: hidden_size (64) plus the architecture's own."""
    num_samples = int(params.get("num_samples", 4096))
    num_val_samples = int(params.get("num_val_samples", 1024))
    directions = _directions(default_generator(seed))

    def build_problem_model(
        architecture: str, model_params: Mapping[str, float], tasks: Sequence[Task]
    ) -> MultiTaskModel:
        parts = _model_parts(int(model_params.get("hidden_size", 64)))
        return build_model(architecture, parts, tasks, model_params)

    return Problem(
        name="tabular_regcls",
        tasks=TASKS,
        train_data=_dataset(num_samples, directions, seed + 1),
        val_data=_dataset(num_val_samples, directions, seed + 2),
        build_model=build_problem_model,
    )
