"""tabular_regcls with one poisoned sample: its `value` target is NaN.

The first batch that draws it has a NaN `value` loss, which the NaN guard
must catch before the optimizer step.
"""

from __future__ import annotations

from collections.abc import Mapping

from workers.mtl.problem import Problem
from workers.mtl.problems import tabular_regcls

POISONED_INDEX = 5


def build(params: Mapping[str, float], seed: int) -> Problem:
    problem = tabular_regcls.build(params, seed)
    problem.train_data.targets["value"][POISONED_INDEX] = float("nan")
    return problem
