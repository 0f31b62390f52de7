"""Build a job's problem, model, strategy and optimizer from its spec."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mtl.v1 import spec_pb2
from workers.mtl.data import DataOrder
from workers.mtl.model import MultiTaskModel
from workers.mtl.problem import Problem, Task
from workers.mtl.problems import build_problem
from workers.mtl.weighting import GradientSource, WeightingStrategy, build_strategy


@dataclass(slots=True, kw_only=True)
class JobComponents:
    """Everything a trainer drives, built deterministically from the spec's seed."""

    problem: Problem
    tasks: list[Task]
    model: MultiTaskModel
    strategy: WeightingStrategy
    optimizer: torch.optim.Optimizer
    data_order: DataOrder


def load_problem(spec: spec_pb2.JobSpec) -> Problem:
    """The spec's built-in problem or user entrypoint."""
    params = dict(spec.problem.params)
    if spec.problem.entrypoint:
        from workers.mtl.problems.entrypoint import load_entrypoint

        return load_entrypoint(spec.problem.entrypoint, params, spec.seed)
    return build_problem(spec.problem.name, params, spec.seed)


def build_components(spec: spec_pb2.JobSpec, device: torch.device) -> JobComponents:
    """Problem, model (on `device`), strategy, optimizer and data order of a job.

    Raises ValueError with a message for the user when the spec does not fit
    the problem (unknown task, batch larger than the data, ...).
    """
    problem = load_problem(spec)
    tasks = [problem.task(name) for name in spec.tasks]
    torch.manual_seed(spec.seed)
    model = problem.build_model(spec.model.architecture, dict(spec.model.params), tasks)
    model.to(device)
    source = spec.weighting.gradient_source
    strategy = build_strategy(
        spec.weighting.strategy,
        task_names=[task.name for task in tasks],
        params=dict(spec.weighting.params),
        gradient_source=GradientSource(source) if source else None,
    )
    parameters = [*model.parameters(), *strategy.parameters()]
    return JobComponents(
        problem=problem,
        tasks=tasks,
        model=model,
        strategy=strategy,
        optimizer=build_optimizer(spec.optimizer, parameters),
        data_order=DataOrder(
            num_samples=len(problem.train_data), batch_size=spec.batch_size, seed=spec.seed
        ),
    )


def build_optimizer(
    config: spec_pb2.OptimizerConfig, parameters: list[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    if config.name == "sgd":
        return torch.optim.SGD(
            parameters,
            lr=config.learning_rate,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    if config.name == "adam":
        return torch.optim.Adam(
            parameters, lr=config.learning_rate, weight_decay=config.weight_decay
        )
    raise ValueError(f"unknown optimizer {config.name!r}; use adam or sgd")
