"""A worked user problem: price and quick sale of house listings, with its own model.

Submit it with `problem.entrypoint: "housing_mtl:build"` (see job.yaml and
README.md). The listings are synthetic, generated from the seed, so the
example runs anywhere without downloads. It uses only the public problem API:
`Problem`, `Task`, `Metric`, `InMemoryDataset` and `MultiTaskModel`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workers.mtl.data import InMemoryDataset
from workers.mtl.model import MultiTaskModel, Representation
from workers.mtl.problem import Metric, Problem, Task

FEATURES = ("floor_area_m2", "rooms", "age_years", "distance_km", "has_garden")


def _mean_absolute_error(prediction: Tensor, target: Tensor) -> float:
    return float((prediction.squeeze(-1) - target).abs().mean())


def _accuracy(prediction: Tensor, target: Tensor) -> float:
    return float((prediction.argmax(dim=-1) == target).float().mean())


def _log_price_loss(prediction: Tensor, target: Tensor) -> Tensor:
    return F.mse_loss(prediction.squeeze(-1), target)


TASKS = (
    # Natural log of the price in thousands: prices span an order of magnitude.
    Task(
        name="log_price",
        loss=_log_price_loss,
        output_size=1,
        metrics={"mae": Metric(fn=_mean_absolute_error, higher_is_better=False)},
    ),
    # Class 1: sold within a month of listing.
    Task(
        name="sells_within_month",
        loss=F.cross_entropy,
        output_size=2,
        metrics={"accuracy": Metric(fn=_accuracy, higher_is_better=True)},
    ),
)


class HousingModel(MultiTaskModel):
    """A shared trunk over the listing's features and one linear head per task.

    The split the service's gradient tools rely on: the trunk is what every
    task's loss depends on (`shared_parameters`); a head is what only its own
    task's loss depends on (`task_parameters`). Every head reads the trunk's
    output, so the model has a single representation (the default).
    """

    def __init__(self, task_names: Sequence[str], hidden_size: int) -> None:
        super().__init__(list(task_names))
        self.trunk = nn.Sequential(
            nn.Linear(len(FEATURES), hidden_size),
            nn.ReLU(),
            nn.Linear(hidden_size, hidden_size),
            nn.ReLU(),
        )
        output_sizes = {task.name: task.output_size for task in TASKS}
        self.heads = nn.ModuleDict(
            {name: nn.Linear(hidden_size, output_sizes[name]) for name in task_names}
        )

    def encode(self, inputs: Tensor) -> Representation:
        return self.trunk(inputs)

    def decode(self, representation: Representation) -> dict[str, Tensor]:
        assert isinstance(representation, Tensor)
        return {name: head(representation) for name, head in self.heads.items()}

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        return list(self.heads[task].parameters())


def _listings(num_samples: int, seed: int) -> InMemoryDataset:
    """Synthetic listings: features standardised, targets from a noisy market model."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(num_samples, generator=generator)

    area, age, distance = uniform(40, 250), uniform(0, 100), uniform(0.5, 30)
    rooms = (area / 30 + torch.randn(num_samples, generator=generator)).round().clamp(1, 8)
    garden = (torch.rand(num_samples, generator=generator) < 0.4).float()
    log_price = (
        math.log(250)
        + 0.9 * torch.log(area / 100)
        - 0.25 * torch.log(distance)
        - 0.003 * age
        + 0.1 * garden
        + 0.1 * torch.randn(num_samples, generator=generator)
    )
    appeal = 1.0 - 0.1 * distance + 0.8 * garden - 0.01 * age + 0.3 * (rooms >= 3).float()
    noise = torch.logit(torch.rand(num_samples, generator=generator).clamp(1e-6, 1 - 1e-6))
    features = torch.stack([area, rooms, age, distance, garden], dim=1)
    features = (features - features.mean(0)) / features.std(0)
    targets = {"log_price": log_price, "sells_within_month": (appeal + noise > 0).long()}
    return InMemoryDataset(features, targets)


def build(params: Mapping[str, float], seed: int) -> Problem:
    """The entrypoint: build(params, seed) -> Problem.

    Problem params: num_samples (5000), num_val_samples (1000). Model params:
    hidden_size (32). The model is always HousingModel: the spec's
    model.architecture names a built-in architecture, and this problem has
    its own, so it does not read it.
    """
    num_samples = int(params.get("num_samples", 5000))
    num_val_samples = int(params.get("num_val_samples", 1000))

    def build_model(
        architecture: str, model_params: Mapping[str, float], tasks: Sequence[Task]
    ) -> MultiTaskModel:
        del architecture
        hidden_size = int(model_params.get("hidden_size", 32))
        return HousingModel([task.name for task in tasks], hidden_size)

    return Problem(
        name="housing_mtl",
        tasks=TASKS,
        train_data=_listings(num_samples, seed + 1),
        val_data=_listings(num_val_samples, seed + 2),
        build_model=build_model,
    )
