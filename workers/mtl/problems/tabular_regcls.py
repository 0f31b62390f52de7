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
from torch import Tensor

from workers.mtl.architectures import build_model, mlp_parts
from workers.mtl.architectures.options import int_option
from workers.mtl.data import InMemoryDataset
from workers.mtl.model import MultiTaskModel
from workers.mtl.problem import Problem, Task, default_generator
from workers.mtl.problems.standard_tasks import classification_task, regression_task

INPUT_SIZE = 16
NUM_CLASSES = 4
VALUE_SCALE = 10.0


TASKS = (regression_task("value"), classification_task("category", NUM_CLASSES))


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


def build(params: Mapping[str, float], seed: int) -> Problem:
    """The problem. Problem params: num_samples (4096), num_val_samples (1024);
    model params: hidden_size (64) plus the architecture's own."""
    num_samples = int_option(params, "num_samples", 4096)
    num_val_samples = int_option(params, "num_val_samples", 1024)
    directions = _directions(default_generator(seed))

    def build_problem_model(
        architecture: str, model_params: Mapping[str, float], tasks: Sequence[Task]
    ) -> MultiTaskModel:
        hidden_size = int_option(model_params, "hidden_size", 64, minimum=2)
        parts = mlp_parts(
            input_size=INPUT_SIZE,
            hidden_sizes=(hidden_size, hidden_size),
            head_hidden_size=hidden_size // 2,
        )
        return build_model(architecture, parts, tasks, model_params)

    return Problem(
        name="tabular_regcls",
        tasks=TASKS,
        train_data=_dataset(num_samples, directions, seed + 1),
        val_data=_dataset(num_val_samples, directions, seed + 2),
        build_model=build_problem_model,
    )
