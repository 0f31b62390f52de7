"""The synthetic regression pair of the MMoE paper, with a controllable task correlation.

Ma, Zhao, Yi, Chen, Hong and Chi, "Modeling Task Relationships in Multi-task
Learning with Multi-gate Mixture-of-Experts", KDD 2018, section 4.2:

1. draw orthonormal u1, u2 in R^d;
2. w1 = c u1 and w2 = c (p u1 + sqrt(1 - p^2) u2), so cos(w1, w2) = p;
3. x ~ N(0, I_d);
4. y_k = w_k^T x + sum_i sin(alpha_i w_k^T x + beta_i) + noise, noise ~ N(0, 0.01^2).

The correlation p (param `correlation`, in [-1, 1]) is the knob: the paper
shows hard parameter sharing degrading as p falls, and MMoE much less so.
The paper leaves alpha_i and beta_i open; here they are fixed constants (see
SINUSOIDS), so the seed draws the task directions and the samples. d = 100,
c = 1 and m = 10 sinusoids. bench/mmoe_vs_hps.py compares MMoE with hard
parameter sharing on this data across correlations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from workers.mtl.architectures import build_model, mlp_parts
from workers.mtl.architectures.options import float_option, int_option
from workers.mtl.data import InMemoryDataset
from workers.mtl.model import MultiTaskModel
from workers.mtl.problem import Problem, Task, default_generator
from workers.mtl.problems.standard_tasks import regression_task

INPUT_SIZE = 100
NUM_SINUSOIDS = 10
WEIGHT_SCALE = 1.0
NOISE_STD = 0.01
TOWER_SIZE = 8
# (alpha_i, beta_i) = (0.2 i, i^2) for i = 1..m. Google Research's open-source
# generator of this data uses (i, i^2); at a fifth of its frequencies the
# labels stay learnable by small networks, while random draws made some
# seeds' tasks far harder than others'.
_ORDINALS = torch.arange(1, NUM_SINUSOIDS + 1, dtype=torch.float32)
SINUSOIDS = torch.stack([0.2 * _ORDINALS, _ORDINALS**2])
TASKS = (regression_task("y1"), regression_task("y2"))


def _task_weights(correlation: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    basis, _ = torch.linalg.qr(torch.randn(INPUT_SIZE, 2, generator=generator))
    u1, u2 = basis[:, 0], basis[:, 1]
    w2 = correlation * u1 + math.sqrt(1.0 - correlation**2) * u2
    return WEIGHT_SCALE * u1, WEIGHT_SCALE * w2


def _labels(inputs: Tensor, weights: Tensor, generator: torch.Generator) -> Tensor:
    projection = inputs @ weights
    alphas, betas = SINUSOIDS
    waves = torch.sin(alphas * projection.unsqueeze(-1) + betas).sum(dim=-1)
    noise = NOISE_STD * torch.randn(projection.shape, generator=generator)
    return projection + waves + noise


def _dataset(num_samples: int, weights: tuple[Tensor, Tensor], seed: int) -> InMemoryDataset:
    generator = default_generator(seed)
    inputs = torch.randn(num_samples, INPUT_SIZE, generator=generator)
    targets = {
        task.name: _labels(inputs, task_weights, generator)
        for task, task_weights in zip(TASKS, weights, strict=True)
    }
    return InMemoryDataset(inputs, targets)


def build(params: Mapping[str, float], seed: int) -> Problem:
    """The problem. Problem params: correlation (0.5, in [-1, 1]), num_samples
    (8192), num_val_samples (2048); model params: hidden_size (16, the width of
    each expert or of the shared bottom) plus the architecture's own."""
    correlation = float_option(params, "correlation", 0.5, minimum=-1.0, maximum=1.0)
    num_samples = int_option(params, "num_samples", 8192)
    num_val_samples = int_option(params, "num_val_samples", 2048)
    weights = _task_weights(correlation, default_generator(seed))

    def build_problem_model(
        architecture: str, model_params: Mapping[str, float], tasks: Sequence[Task]
    ) -> MultiTaskModel:
        hidden_size = int_option(model_params, "hidden_size", 16)
        parts = mlp_parts(
            input_size=INPUT_SIZE,
            hidden_sizes=(hidden_size, hidden_size),
            head_hidden_size=TOWER_SIZE,
        )
        return build_model(architecture, parts, tasks, model_params)

    return Problem(
        name="mmoe_synthetic",
        tasks=TASKS,
        train_data=_dataset(num_samples, weights, seed + 1),
        val_data=_dataset(num_val_samples, weights, seed + 2),
        build_model=build_problem_model,
    )
