"""Loss-based strategies: what their weights learn or follow."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor

from workers.mtl.weighting import BackwardContext, build_strategy

pytestmark = pytest.mark.usefixtures("single_thread")


def test_uncertainty_weighting_learns_log_variances_ordered_by_true_noise(
    fit_regression: Callable[..., Tensor],
) -> None:
    noise = {"quiet": 0.1, "moderate": 0.5, "loud": 2.0}
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(256, 4, generator=generator)
    clean = torch.tanh(inputs @ torch.randn(4, 1, generator=generator))
    targets = {
        task: clean + std * torch.randn(clean.shape, generator=generator)
        for task, std in noise.items()
    }
    strategy = build_strategy("uncertainty", task_names=list(noise), params={})
    fit_regression(strategy, dict.fromkeys(noise, 1.0), inputs, targets, num_steps=300, lr=2e-2)
    log_variances = strategy.parameters()[0].detach()
    assert log_variances.argsort().tolist() == [0, 1, 2]
    # At the optimum s_t = log L_t, near the log of the noise variance.
    expected = torch.tensor([math.log(std**2) for std in noise.values()])
    torch.testing.assert_close(log_variances, expected, rtol=0.0, atol=0.5)


def weights_for(strategy: Any, loss_values: list[float]) -> Tensor:
    losses = {
        task: torch.tensor(value, requires_grad=True)
        for task, value in zip(strategy.task_names, loss_values, strict=True)
    }
    context = BackwardContext(model=None, representation=torch.zeros(1), user_weights={}, step=1)  # type: ignore[arg-type]
    return torch.stack(list(strategy.backward(losses, context).weights.values()))


def test_dwa_weights_are_equal_until_two_windows_then_favour_the_slower_task() -> None:
    dwa = build_strategy("dwa", task_names=["slow", "fast"], params={"window": 2.0})
    for _ in range(4):
        torch.testing.assert_close(weights_for(dwa, [1.0, 1.0]), torch.ones(2))
    for _ in range(2):
        weights_for(dwa, [0.9, 0.5])
    # Rates 0.9 and 0.5 at temperature 2: T softmax(r / 2).
    expected = 2 * torch.softmax(torch.tensor([0.9, 0.5]) / 2.0, dim=0)
    torch.testing.assert_close(weights_for(dwa, [0.9, 0.5]), expected)


def test_rlw_weights_are_a_random_point_of_the_simplex_fixed_by_the_seed() -> None:
    def draws(seed: float) -> list[Tensor]:
        rlw = build_strategy("rlw", task_names=["a", "b", "c"], params={"seed": seed})
        return [weights_for(rlw, [1.0, 2.0, 3.0]) for _ in range(3)]

    first, again, other = draws(0), draws(0), draws(1)
    assert all(float(weights.sum()) == pytest.approx(1.0) for weights in first)
    assert all(torch.equal(left, right) for left, right in zip(first, again, strict=True))
    assert not torch.equal(first[0], first[1])
    assert not torch.equal(first[0], other[0])


def test_famo_shifts_weight_to_the_task_whose_loss_falls_slower() -> None:
    famo = build_strategy("famo", task_names=["stuck", "falling"], params={"lr": 0.1})
    falling = 1.0
    for _ in range(20):
        weights = weights_for(famo, [1.0, falling])
        falling *= 0.8
    logits = famo.state_dict()["_logits"]["value"]
    assert float(logits[0]) > float(logits[1])
    assert float(weights.sum()) == pytest.approx(1.0)
