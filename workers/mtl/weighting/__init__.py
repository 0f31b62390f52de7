"""Loss weighting strategies, registered by the name a job spec uses."""

from __future__ import annotations

from collections.abc import Mapping

from workers.mtl.weighting.base import (
    BackwardContext,
    GradientSource,
    WeightingResult,
    WeightingStrategy,
)
from workers.mtl.weighting.static import StaticWeighting

STRATEGIES: dict[str, type[WeightingStrategy]] = {
    StaticWeighting.name: StaticWeighting,
}


def build_strategy(
    name: str,
    *,
    task_names: list[str],
    params: Mapping[str, float],
    gradient_source: GradientSource | None = None,
) -> WeightingStrategy:
    """The strategy registered as `name`; ValueError lists the known names."""
    try:
        strategy_class = STRATEGIES[name]
    except KeyError:
        raise ValueError(
            f"unknown weighting strategy {name!r}; known: {sorted(STRATEGIES)}"
        ) from None
    return strategy_class(task_names=task_names, params=params, gradient_source=gradient_source)


__all__ = [
    "STRATEGIES",
    "BackwardContext",
    "GradientSource",
    "WeightingResult",
    "WeightingStrategy",
    "build_strategy",
]
