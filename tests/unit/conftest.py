"""Fixtures for weighting and diagnostics tests: a small tabular_regcls run."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import Tensor

from workers.mtl.data import Batch, DataOrder
from workers.mtl.model import MultiTaskModel, Representation
from workers.mtl.problem import Problem
from workers.mtl.problems import build_problem
from workers.mtl.weighting import (
    BackwardContext,
    GradientSource,
    WeightingResult,
    WeightingStrategy,
    build_strategy,
)

BATCH_SIZE = 32


@dataclass
class RegclsRun:
    """A model, strategy and optimizer on tabular_regcls with hps, stepped by hand."""

    problem: Problem
    model: MultiTaskModel
    strategy: WeightingStrategy
    optimizer: torch.optim.Optimizer
    order: DataOrder
    step: int = 0
    results: list[WeightingResult] = field(default_factory=list)

    def batch(self, step: int) -> Batch:
        return self.problem.train_data.batch(self.order.indices(step))

    def forward(self, batch: Batch) -> tuple[Representation, dict[str, Tensor]]:
        representation = self.model.encode(batch.inputs)
        predictions = self.model.decode(representation)
        losses = {
            task.name: task.loss(predictions[task.name], batch.targets[task.name])
            for task in self.problem.tasks
        }
        return representation, losses

    def backward(self, user_weights: Mapping[str, float] | None = None) -> dict[str, Tensor]:
        """Forward and strategy backward of the next step, without the optimizer step."""
        self.step += 1
        self.optimizer.zero_grad()
        representation, losses = self.forward(self.batch(self.step))
        context = BackwardContext(
            model=self.model,
            representation=representation,
            user_weights=user_weights or {},
            step=self.step,
        )
        self.results.append(self.strategy.backward(losses, context))
        return {name: loss.detach() for name, loss in losses.items()}

    def train(self, num_steps: int) -> list[dict[str, Tensor]]:
        """`num_steps` full steps; the losses of each."""
        history = []
        for _ in range(num_steps):
            history.append(self.backward())
            self.optimizer.step()
        return history

    def checkpoint(self) -> dict[str, Any]:
        """Through bytes and `weights_only=True`, as workers/checkpoint.py reads them."""
        buffer = io.BytesIO()
        state = {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "strategy": self.strategy.state_dict(),
        }
        torch.save(state, buffer)
        return torch.load(io.BytesIO(buffer.getvalue()), map_location="cpu", weights_only=True)

    def restore(self, checkpoint: Mapping[str, Any]) -> None:
        checkpoint = copy.deepcopy(checkpoint)
        self.step = checkpoint["step"]
        self.model.load_state_dict(checkpoint["model"])
        self.strategy.load_state_dict(checkpoint["strategy"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])


@pytest.fixture
def single_thread() -> Iterator[None]:
    """One intra-op thread: these tensors are tiny, and on a busy 2-core
    machine thread hand-offs made the weighting tests ten times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def regcls_problem() -> Problem:
    return build_problem("tabular_regcls", {"num_samples": 512, "num_val_samples": 32}, seed=0)


@pytest.fixture
def make_run(regcls_problem: Problem) -> Callable[..., RegclsRun]:
    """make_run(strategy, source=None, params={}, model_seed=0) -> a fresh run."""

    def make(
        strategy: str,
        source: GradientSource | None = None,
        params: Mapping[str, float] | None = None,
        model_seed: int = 0,
    ) -> RegclsRun:
        torch.manual_seed(model_seed)
        model = regcls_problem.build_model("hps", {"hidden_size": 16}, regcls_problem.tasks)
        weighting = build_strategy(
            strategy,
            task_names=regcls_problem.task_names,
            params=params or {},
            gradient_source=source,
        )
        optimizer = torch.optim.Adam([*model.parameters(), *weighting.parameters()], lr=1e-2)
        order = DataOrder(num_samples=len(regcls_problem.train_data), batch_size=BATCH_SIZE, seed=0)
        return RegclsRun(regcls_problem, model, weighting, optimizer, order)

    return make


class ScaledRegression(MultiTaskModel):
    """A two-layer ReLU trunk and one linear head per task whose output is
    multiplied by a fixed scale, so every head learns at the same pace under
    Adam whatever its task's output scale."""

    def __init__(self, scales: Mapping[str, float], *, input_size: int, output_size: int) -> None:
        super().__init__(list(scales))
        hidden_size = 8
        self.scales = dict(scales)
        self.trunk = torch.nn.Sequential(
            torch.nn.Linear(input_size, hidden_size),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden_size, hidden_size),
            torch.nn.ReLU(),
        )
        self.heads = torch.nn.ModuleDict(
            {task: torch.nn.Linear(hidden_size, output_size) for task in scales}
        )

    def encode(self, inputs: Tensor) -> Representation:
        return self.trunk(inputs)

    def decode(self, representation: Representation) -> dict[str, Tensor]:
        assert isinstance(representation, Tensor)
        return {task: self.scales[task] * head(representation) for task, head in self.heads.items()}

    def shared_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.trunk.parameters())

    def task_parameters(self, task: str) -> list[torch.nn.Parameter]:
        return list(self.heads[task].parameters())


def fit_scaled_regression(
    strategy: WeightingStrategy,
    scales: Mapping[str, float],
    inputs: Tensor,
    targets: Mapping[str, Tensor],
    *,
    num_steps: int,
    lr: float = 1e-2,
) -> Tensor:
    """Full-batch MSE training with Adam (strategy parameters included);
    [num_steps, T] loss values, one row per step."""
    torch.manual_seed(0)
    model = ScaledRegression(
        scales, input_size=inputs.shape[1], output_size=targets[next(iter(scales))].shape[1]
    )
    optimizer = torch.optim.Adam([*model.parameters(), *strategy.parameters()], lr=lr)
    history = []
    for step in range(1, num_steps + 1):
        optimizer.zero_grad()
        representation = model.encode(inputs)
        predictions = model.decode(representation)
        losses = {task: (predictions[task] - targets[task]).square().mean() for task in scales}
        context = BackwardContext(
            model=model, representation=representation, user_weights={}, step=step
        )
        strategy.backward(losses, context)
        optimizer.step()
        history.append(torch.stack([loss.detach() for loss in losses.values()]))
    return torch.stack(history)


@pytest.fixture
def fit_regression() -> Callable[..., Tensor]:
    """fit_regression(strategy, scales, inputs, targets, num_steps=...) -> loss history."""
    return fit_scaled_regression
