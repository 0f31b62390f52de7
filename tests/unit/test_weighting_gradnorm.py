"""GradNorm balances the training rates of tasks whose outputs differ in scale."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from workers.mtl.weighting import GradientSource, build_strategy

pytestmark = pytest.mark.usefixtures("single_thread")

SCALES = {"small": 1.0, "medium": 10.0, "large": 100.0}


def loss_ratio_spread(
    fit_regression: Callable[..., Tensor], strategy_name: str, source: GradientSource | None = None
) -> float:
    """max_t / min_t of L_t / L_t(0) after training on the GradNorm paper's toy
    problem: y_t = sigma_t tanh((B + eps_t) x), a function the tasks share up
    to a task-specific part, at output scales sigma_t two orders apart."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(256, 10, generator=generator)
    shared = torch.randn(10, 5, generator=generator)
    targets = {
        task: scale * torch.tanh(inputs @ (shared + torch.randn(10, 5, generator=generator)))
        for task, scale in SCALES.items()
    }
    strategy = build_strategy(
        strategy_name, task_names=list(SCALES), params={}, gradient_source=source
    )
    history = fit_regression(strategy, SCALES, inputs, targets, num_steps=200)
    ratios = history[-1] / history[0]
    return float(ratios.max() / ratios.min())


def test_equal_weights_leave_the_training_rates_of_differently_scaled_tasks_far_apart(
    fit_regression: Callable[..., Tensor],
) -> None:
    assert loss_ratio_spread(fit_regression, "static") > 4.0


@pytest.mark.parametrize("source", list(GradientSource))
def test_gradnorm_equalises_the_training_rates_of_differently_scaled_tasks(
    fit_regression: Callable[..., Tensor], source: GradientSource
) -> None:
    assert loss_ratio_spread(fit_regression, "gradnorm", source) < 2.0
