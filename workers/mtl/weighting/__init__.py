"""Loss weighting strategies, registered by the name a job spec uses."""

from __future__ import annotations

from collections.abc import Mapping

from workers.mtl.weighting.aligned_mtl import AlignedMTL
from workers.mtl.weighting.base import (
    BackwardContext,
    GradientSource,
    LossWeighting,
    WeightingResult,
    WeightingStrategy,
)
from workers.mtl.weighting.cagrad import CAGrad
from workers.mtl.weighting.dwa import DynamicWeightAverage
from workers.mtl.weighting.famo import FAMO
from workers.mtl.weighting.gradients import GradientWeighting
from workers.mtl.weighting.gradnorm import GradNorm
from workers.mtl.weighting.imtl_g import IMTLG
from workers.mtl.weighting.mgda import MGDA
from workers.mtl.weighting.nash_mtl import NashMTL
from workers.mtl.weighting.pcgrad import PCGrad
from workers.mtl.weighting.rlw import RandomLossWeighting
from workers.mtl.weighting.static import StaticWeighting
from workers.mtl.weighting.uncertainty import UncertaintyWeighting
from workers.mtl.weighting.upgrad import UPGrad

STRATEGIES: dict[str, type[WeightingStrategy]] = {
    strategy.name: strategy
    for strategy in (
        StaticWeighting,
        UncertaintyWeighting,
        DynamicWeightAverage,
        RandomLossWeighting,
        FAMO,
        GradNorm,
        PCGrad,
        MGDA,
        CAGrad,
        IMTLG,
        NashMTL,
        AlignedMTL,
        UPGrad,
    )
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
    "GradientWeighting",
    "LossWeighting",
    "WeightingResult",
    "WeightingStrategy",
    "build_strategy",
]
