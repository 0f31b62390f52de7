"""Every strategy trains the reference problem and resumes exactly from its checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from workers.mtl.weighting import STRATEGIES, GradientSource

pytestmark = pytest.mark.usefixtures("single_thread")

CASES = [
    pytest.param(name, source, id=f"{name}-{source or 'losses'}")
    for name, strategy_class in STRATEGIES.items()
    for source in (sorted(strategy_class.supported_sources) or [None])
]
# Strategies whose state visibly steers the next steps.
STATEFUL = ["uncertainty", "dwa", "rlw", "famo", "gradnorm"]


def assert_same_state(left: Any, right: Any) -> None:
    if isinstance(left, torch.Tensor):
        assert torch.equal(left, right)
    elif isinstance(left, dict):
        assert left.keys() == right.keys()
        for key in left:
            assert_same_state(left[key], right[key])
    elif isinstance(left, list | tuple):
        assert len(left) == len(right)
        for left_item, right_item in zip(left, right, strict=True):
            assert_same_state(left_item, right_item)
    else:
        assert left == right


@pytest.mark.parametrize(("name", "source"), CASES)
def test_every_strategy_trains_regcls_with_finite_losses_and_gradients(
    make_run: Callable[..., Any], name: str, source: GradientSource | None
) -> None:
    run = make_run(name, source)
    history = run.train(5)
    assert all(torch.isfinite(loss) for losses in history for loss in losses.values())
    trainable = [*run.model.parameters(), *run.strategy.parameters()]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in trainable)
    weights = run.results[-1].weights
    assert list(weights) == run.problem.task_names
    assert all(torch.isfinite(weight) for weight in weights.values())


@pytest.mark.parametrize(("name", "source"), CASES)
def test_checkpoint_round_trip_continues_bit_identically(
    make_run: Callable[..., Any], name: str, source: GradientSource | None
) -> None:
    original = make_run(name, source)
    original.train(3)
    saved = original.checkpoint()
    original.train(3)
    resumed = make_run(name, source, model_seed=1)
    resumed.restore(saved)
    resumed.train(3)
    for kept, restored in zip(original.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(kept, restored)
    assert_same_state(original.strategy.state_dict(), resumed.strategy.state_dict())
    for kept, restored in zip(original.results[-3:], resumed.results, strict=True):
        assert_same_state(kept.weights, restored.weights)


@pytest.mark.parametrize("name", STATEFUL)
def test_continuing_without_the_strategy_state_differs(
    make_run: Callable[..., Any], name: str
) -> None:
    """The round trip above is only a check if the state matters."""
    original = make_run(name)
    original.train(3)
    saved = original.checkpoint()
    original.train(3)
    fresh = make_run(name)
    saved["strategy"] = fresh.strategy.state_dict()
    fresh.restore(saved)
    fresh.train(3)
    assert any(
        not torch.equal(kept, continued)
        for kept, continued in zip(
            original.model.parameters(), fresh.model.parameters(), strict=True
        )
    )
