"""The shared gradient mechanics: .grad as a correct backward leaves it, user weights, checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from workers.mtl.model import MultiTaskModel, Representation
from workers.mtl.weighting import (
    STRATEGIES,
    BackwardContext,
    GradientSource,
    WeightingStrategy,
    build_strategy,
)

pytestmark = pytest.mark.usefixtures("single_thread")

GRADIENT_CASES = [
    pytest.param(name, source, id=f"{name}-{source}")
    for name in ("mgda", "upgrad", "gradnorm", "pcgrad")
    for source in GradientSource
]


def weighted_gradients(
    run: Any, weights: dict[str, Tensor], params: list[nn.Parameter], tasks: list[str]
) -> list[Tensor]:
    """d/d params of sum_{t in tasks} w_t L_t, from a fresh forward of the same batch."""
    _, losses = run.forward(run.batch(run.step))
    total = sum(weights[task] * losses[task] for task in tasks)
    return list(torch.autograd.grad(total, params))


def run_to_third_backward(make_run: Callable[..., Any], name: str, source: GradientSource) -> Any:
    """Two full steps (so adaptive weights have moved), then a backward."""
    run = make_run(name, source)
    run.train(2)
    run.backward()
    return run


@pytest.mark.parametrize(("name", "source"), GRADIENT_CASES)
def test_head_grad_equals_the_tasks_weighted_gradient(
    make_run: Callable[..., Any], name: str, source: GradientSource
) -> None:
    run = run_to_third_backward(make_run, name, source)
    weights = run.results[-1].weights
    for task in run.problem.task_names:
        head = run.model.task_parameters(task)
        expected = weighted_gradients(run, weights, head, [task])
        for param, gradient in zip(head, expected, strict=True):
            torch.testing.assert_close(param.grad, gradient)


@pytest.mark.parametrize(("name", "source"), GRADIENT_CASES)
def test_shared_grad_equals_the_gradient_of_the_weighted_loss_sum(
    make_run: Callable[..., Any], name: str, source: GradientSource
) -> None:
    run = run_to_third_backward(make_run, name, source)
    shared = run.model.shared_parameters()
    expected = weighted_gradients(run, run.results[-1].weights, shared, run.problem.task_names)
    for param, gradient in zip(shared, expected, strict=True):
        torch.testing.assert_close(param.grad, gradient, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["static", "dwa", "mgda", "imtl_g"])
def test_user_weights_multiply_the_strategy_weights(
    make_run: Callable[..., Any], name: str
) -> None:
    plain, adjusted = make_run(name), make_run(name)
    user_weights = {"value": 3.0, "category": 0.5}
    plain.backward()
    adjusted.backward(user_weights)
    for task, user_weight in user_weights.items():
        expected = user_weight * plain.results[-1].weights[task]
        torch.testing.assert_close(adjusted.results[-1].weights[task], expected)
    for kept, scaled in zip(
        plain.model.task_parameters("value"),
        adjusted.model.task_parameters("value"),
        strict=True,
    ):
        torch.testing.assert_close(scaled.grad, 3.0 * kept.grad)


@pytest.mark.parametrize("source", list(GradientSource))
def test_backward_accumulates_into_existing_grad_like_autograd(
    make_run: Callable[..., Any], source: GradientSource
) -> None:
    run = make_run("mgda", source)
    run.backward()
    first = [p.grad.clone() for p in run.model.parameters()]
    representation, losses = run.forward(run.batch(run.step))
    context = BackwardContext(
        model=run.model, representation=representation, user_weights={}, step=run.step
    )
    run.strategy.backward(losses, context)
    for param, once in zip(run.model.parameters(), first, strict=True):
        torch.testing.assert_close(param.grad, 2 * once, rtol=1e-4, atol=1e-6)


def test_backward_passes_count_trunk_passes() -> None:
    tasks = ["a", "b", "c"]
    assert build_strategy("dwa", task_names=tasks, params={}).backward_passes() == 1
    on_representation = GradientSource.REPRESENTATION
    on_parameters = GradientSource.SHARED_PARAMETERS
    for name, strategy_class in STRATEGIES.items():
        if strategy_class.kind == "gradient":
            cheap = build_strategy(
                name, task_names=tasks, params={}, gradient_source=on_representation
            )
            exact = build_strategy(name, task_names=tasks, params={}, gradient_source=on_parameters)
            assert (cheap.backward_passes(), exact.backward_passes()) == (1, 3)


class TwoTowers(MultiTaskModel):
    """Each head reads its own tower, like MMoE's per-task mixtures; `stray`
    belongs to neither part unless `complete`."""

    def __init__(self, complete: bool = True) -> None:
        super().__init__(["a", "b"])
        self.towers = nn.ModuleDict({task: nn.Linear(3, 4) for task in self.task_names})
        self.heads = nn.ModuleDict({task: nn.Linear(4, 1) for task in self.task_names})
        self.stray = nn.Parameter(torch.zeros(1))
        self.complete = complete

    def encode(self, inputs: Tensor) -> Representation:
        return {task: tower(inputs) + self.stray for task, tower in self.towers.items()}

    def decode(self, representation: Representation) -> dict[str, Tensor]:
        assert isinstance(representation, dict)
        return {task: head(representation[task]) for task, head in self.heads.items()}

    def shared_parameters(self) -> list[nn.Parameter]:
        return [*self.towers.parameters(), *([self.stray] if self.complete else [])]

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        return list(self.heads[task].parameters())

    @property
    def has_single_representation(self) -> bool:
        return False


def two_towers_step(model: TwoTowers, source: GradientSource | None) -> WeightingStrategy:
    representation = model.encode(torch.randn(5, 3))
    losses = {
        task: prediction.square().mean()
        for task, prediction in model.decode(representation).items()
    }
    strategy = build_strategy("mgda", task_names=["a", "b"], params={}, gradient_source=source)
    strategy.backward(
        losses, BackwardContext(model=model, representation=representation, user_weights={}, step=1)
    )
    return strategy


def test_representation_source_is_rejected_when_heads_read_different_representations() -> None:
    with pytest.raises(ValueError, match="shared_parameters"):
        two_towers_step(TwoTowers(), GradientSource.REPRESENTATION)


def test_default_source_on_several_representations_is_the_shared_parameters() -> None:
    model = TwoTowers()
    strategy = two_towers_step(model, None)
    assert strategy.gradient_source is GradientSource.SHARED_PARAMETERS
    assert strategy.backward_passes() == 2
    assert all(p.grad is not None for p in model.parameters())


def test_parameters_outside_the_shared_and_task_parts_are_rejected() -> None:
    with pytest.raises(ValueError, match="stray"):
        two_towers_step(TwoTowers(complete=False), GradientSource.SHARED_PARAMETERS)


def test_unknown_params_and_sources_are_rejected_with_what_is_allowed() -> None:
    with pytest.raises(ValueError, match=r"takes \['c'\]"):
        build_strategy("cagrad", task_names=["a"], params={"alpha": 1.0})
    with pytest.raises(ValueError, match="supported: none"):
        build_strategy(
            "dwa", task_names=["a"], params={}, gradient_source=GradientSource.REPRESENTATION
        )
