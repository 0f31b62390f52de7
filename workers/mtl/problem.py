"""What a multi-task problem is: its tasks, its data and how to build its model."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

from workers.mtl.data import MultiTaskDataset
from workers.mtl.model import MultiTaskModel

LossFn = Callable[[Tensor, Tensor], Tensor]
"""(prediction, target) -> scalar loss tensor."""

MetricFn = Callable[[Tensor, Tensor], float]
"""(prediction, target) -> metric value for a whole validation batch."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Metric:
    """A validation metric of one task.

    Attributes:
        fn: computes the metric from predictions and targets.
        higher_is_better: direction, used by the multi-task delta-m%.
    """

    fn: MetricFn
    higher_is_better: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    """One task of a problem.

    Attributes:
        name: identifier used in specs, metrics and conditions
            (letters, digits and underscores).
        loss: the task's training loss.
        output_size: width of the task head's output (per position for dense tasks).
        metrics: validation metrics by name.
    """

    name: str
    loss: LossFn
    output_size: int
    metrics: Mapping[str, Metric] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"task name {self.name!r} must be a Python identifier")
        if self.output_size <= 0:
            raise ValueError(f"task {self.name!r}: output_size must be positive")


class ModelBuilder(Protocol):
    """Builds the model for the tasks being trained.

    Built-in problems build it from an architecture name; user problems may
    ignore the name and return their own model.
    """

    def __call__(
        self, architecture: str, params: Mapping[str, float], tasks: Sequence[Task]
    ) -> MultiTaskModel: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """Everything a trainer needs besides the job spec.

    Attributes:
        name: the problem's name.
        tasks: every task the problem offers; a job trains a subset.
        train_data: the training split.
        val_data: the validation split, or None.
        build_model: returns the model for a subset of the tasks.
    """

    name: str
    tasks: tuple[Task, ...]
    train_data: MultiTaskDataset
    val_data: MultiTaskDataset | None
    build_model: ModelBuilder

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError(f"problem {self.name!r} has no tasks")
        names = [task.name for task in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"problem {self.name!r} has duplicate task names: {names}")

    def task(self, name: str) -> Task:
        """The task called `name`; KeyError names the tasks there are."""
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(f"problem {self.name!r} has no task {name!r}; it has {self.task_names}")

    @property
    def task_names(self) -> list[str]:
        return [task.name for task in self.tasks]


def default_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with `seed`, for reproducible data."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
