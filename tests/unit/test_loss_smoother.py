"""The smoothed losses GetTaskStats reports: an exponential moving average per task."""

from __future__ import annotations

import torch

from workers.debug.task_stats import FOLD_STEPS, SMOOTHING, LossSmoother


def _sequential(history: list[torch.Tensor]) -> torch.Tensor:
    average = history[0].clone()
    for losses in history[1:]:
        average = SMOOTHING * average + (1 - SMOOTHING) * losses
    return average


def test_the_average_equals_step_by_step_smoothing_across_folds() -> None:
    generator = torch.Generator().manual_seed(0)
    history = [torch.rand(2, generator=generator) * 10 for _ in range(2 * FOLD_STEPS + 7)]
    smoother = LossSmoother(["a", "b"])
    assert smoother.average is None
    for index, losses in enumerate(history, start=1):
        smoother.update({"a": losses[0], "b": losses[1]})
        if index in (1, 5, FOLD_STEPS + 3):
            torch.testing.assert_close(smoother.average, _sequential(history[:index]))
    torch.testing.assert_close(smoother.average, _sequential(history))
