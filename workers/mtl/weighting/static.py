"""Static weighting: a fixed weighted sum of the task losses."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from workers.mtl.weighting.base import BackwardContext, WeightingResult, WeightingStrategy


class StaticWeighting(WeightingStrategy):
    """L = sum_t w_t L_t with the user's weights (1.0 each when none are given:
    equal weighting, the usual multi-task baseline). One backward pass."""

    name = "static"
    kind = "loss"

    def backward(self, losses: Mapping[str, Tensor], context: BackwardContext) -> WeightingResult:
        weights = {task: float(context.user_weights.get(task, 1.0)) for task in self.task_names}
        total = sum(weights[task] * losses[task] for task in self.task_names)
        total.backward()
        return WeightingResult(weights=weights)
