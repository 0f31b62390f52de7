"""Representation gradients captured during the step's backward equal separate head passes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pytest
import torch
from torch import Tensor

from tests.unit.conftest import RegclsRun
from workers.mtl.data import Batch
from workers.mtl.diagnostics import task_gradients_from_losses
from workers.mtl.gradient_capture import capture_representation_gradients
from workers.mtl.model import MultiTaskModel
from workers.mtl.problem import Task
from workers.mtl.problems import build_problem
from workers.mtl.weighting import BackwardContext, GradientSource, build_strategy

pytestmark = pytest.mark.usefixtures("single_thread")


def _step_losses(
    model: MultiTaskModel, batch: Batch, tasks: Sequence[Task]
) -> tuple[Tensor, dict[str, Tensor]]:
    representation = model.encode(batch.inputs)
    assert isinstance(representation, Tensor)
    predictions = model.decode(representation)
    losses = {t.name: t.loss(predictions[t.name], batch.targets[t.name]) for t in tasks}
    return representation, losses


def _captured_and_reference(
    run: RegclsRun, user_weights: Mapping[str, float]
) -> tuple[Tensor, Tensor, list[Tensor]]:
    """Train two steps, then on the third: the reference matrix from separate
    head passes, the captured one, and the `.grad` the strategy's backward left."""
    run.train(2)
    run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    names = run.problem.task_names
    representation, losses = _step_losses(run.model, run.batch(run.step), run.problem.tasks)
    reference = task_gradients_from_losses(
        losses,
        names,
        model=run.model,
        representation=representation,
        source=GradientSource.REPRESENTATION,
    )
    captured = capture_representation_gradients(
        losses, names, representation, user_weights=user_weights
    )
    assert captured is not None
    context = BackwardContext(
        model=run.model, representation=representation, user_weights=user_weights, step=run.step
    )
    run.strategy.backward(losses, context)
    grads = [p.grad.clone() for p in run.model.parameters() if p.grad is not None]
    return captured, reference, grads


@pytest.mark.parametrize("strategy", ["static", "uncertainty", "rlw", "dwa", "famo"])
@pytest.mark.parametrize("user_weights", [{}, {"value": 0.05}, {"value": 0.0, "category": 3.0}])
def test_captured_gradients_equal_separate_head_passes(
    make_run: Callable[..., RegclsRun], strategy: str, user_weights: dict[str, float]
) -> None:
    captured, reference, _ = _captured_and_reference(make_run(strategy), user_weights)
    torch.testing.assert_close(captured, reference, rtol=1e-5, atol=1e-7)


def test_capturing_leaves_the_step_gradients_exactly_as_they_were(
    make_run: Callable[..., RegclsRun],
) -> None:
    _, _, with_capture = _captured_and_reference(make_run("uncertainty"), {"value": 0.05})
    plain = make_run("uncertainty")
    plain.train(2)
    plain.backward({"value": 0.05})
    without = [p.grad for p in plain.model.parameters() if p.grad is not None]
    assert len(with_capture) == len(without)
    for captured_grad, plain_grad in zip(with_capture, without, strict=True):
        assert torch.equal(captured_grad, plain_grad)


def test_dense_heads_that_upsample_are_captured_too() -> None:
    problem = build_problem(
        "nyuv2_synthetic", {"height": 24, "width": 32, "num_samples": 4}, seed=0
    )
    torch.manual_seed(0)
    model = problem.build_model("hps", {}, problem.tasks)
    batch = problem.train_data.batch(torch.arange(4))
    representation, losses = _step_losses(model, batch, problem.tasks)
    names = problem.task_names
    reference = task_gradients_from_losses(
        losses,
        names,
        model=model,
        representation=representation,
        source=GradientSource.REPRESENTATION,
    )
    captured = capture_representation_gradients(losses, names, representation, user_weights={})
    assert captured is not None
    strategy = build_strategy("static", task_names=names, params={})
    context = BackwardContext(
        model=model, representation=representation, user_weights={"depth": 2.0}, step=1
    )
    strategy.backward(losses, context)
    torch.testing.assert_close(captured, reference, rtol=1e-5, atol=1e-7)


def test_heads_sharing_a_node_are_not_captured() -> None:
    trunk = torch.nn.Linear(3, 4)
    representation = trunk(torch.randn(5, 3))
    shared = representation.tanh()
    losses = {"a": shared.sum(), "b": shared.square().mean()}
    assert (
        capture_representation_gradients(losses, ["a", "b"], representation, user_weights={})
        is None
    )
