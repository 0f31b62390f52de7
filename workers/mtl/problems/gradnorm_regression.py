"""The synthetic regression of GradNorm: one function family, very different output scales.

Chen, Badrinarayanan, Lee and Rabinovich, "GradNorm: Gradient Normalization
for Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018, section 4.

Task i regresses t_i(x) = sigma_i * tanh((B + eps_i) x), x in R^250, t_i in
R^100, with B ~ N(0, 10^2) shared by every task and eps_i ~ N(0, 3.5^2) the
task's own. The sigma_i set each task's output scale, so the tasks' squared
losses (and gradients) differ by orders of magnitude while the tasks stay
closely related. The paper trains T = 2 (sigma = 1, 100) and T = 10; here
sigma_i = 100^(i / (T - 1)) for T = num_tasks, which gives the paper's pair
at T = 2. The paper leaves the input distribution open; x ~ N(0, I) here.
Its model is a 4-layer ReLU MLP trunk of 100 units with an affine head per
task, the default below. Generated from the seed; nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from workers.mtl.architectures import build_model, mlp_parts
from workers.mtl.architectures.options import int_option
from workers.mtl.data import InMemoryDataset
from workers.mtl.model import MultiTaskModel
from workers.mtl.problem import Problem, Task, default_generator
from workers.mtl.problems.standard_tasks import regression_task

INPUT_SIZE = 250
OUTPUT_SIZE = 100
MAX_TASKS = 10
SHARED_STD = 10.0
TASK_STD = 3.5
LARGEST_SCALE = 100.0
NUM_TRUNK_LAYERS = 4


def task_name(index: int) -> str:
    return f"task_{index}"


def output_scales(num_tasks: int) -> list[float]:
    """sigma_i, geometric from 1 to 100."""
    return [LARGEST_SCALE ** (index / (num_tasks - 1)) for index in range(num_tasks)]


def _task_matrices(num_tasks: int, seed: int) -> list[Tensor]:
    """B + eps_i per task, [INPUT_SIZE, OUTPUT_SIZE] each."""
    generator = default_generator(seed)
    shared = SHARED_STD * torch.randn(INPUT_SIZE, OUTPUT_SIZE, generator=generator)
    return [
        shared + TASK_STD * torch.randn(INPUT_SIZE, OUTPUT_SIZE, generator=generator)
        for _ in range(num_tasks)
    ]


def _dataset(num_samples: int, matrices: list[Tensor], seed: int) -> InMemoryDataset:
    inputs = torch.randn(num_samples, INPUT_SIZE, generator=default_generator(seed))
    scales = output_scales(len(matrices))
    targets = {
        task_name(index): scale * torch.tanh(inputs @ matrix)
        for index, (scale, matrix) in enumerate(zip(scales, matrices, strict=True))
    }
    return InMemoryDataset(inputs, targets)


def build(params: Mapping[str, float], seed: int) -> Problem:
    """The problem. Problem params: num_tasks (10, from 2 to 10; tasks task_0 ...),
    num_samples (4096), num_val_samples (1024); model params: hidden_size (100)
    plus the architecture's own."""
    num_tasks = int_option(params, "num_tasks", MAX_TASKS, minimum=2, maximum=MAX_TASKS)
    num_samples = int_option(params, "num_samples", 4096)
    num_val_samples = int_option(params, "num_val_samples", 1024)
    matrices = _task_matrices(num_tasks, seed)

    def build_problem_model(
        architecture: str, model_params: Mapping[str, float], tasks: Sequence[Task]
    ) -> MultiTaskModel:
        hidden_size = int_option(model_params, "hidden_size", 100)
        parts = mlp_parts(input_size=INPUT_SIZE, hidden_sizes=(hidden_size,) * NUM_TRUNK_LAYERS)
        return build_model(architecture, parts, tasks, model_params)

    return Problem(
        name="gradnorm_regression",
        tasks=tuple(regression_task(task_name(i), OUTPUT_SIZE) for i in range(num_tasks)),
        train_data=_dataset(num_samples, matrices, seed + 1),
        val_data=_dataset(num_val_samples, matrices, seed + 2),
        build_model=build_problem_model,
    )
