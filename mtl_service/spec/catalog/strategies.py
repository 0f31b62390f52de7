"""Loss weighting strategies the workers implement, and the submit-time check of a choice."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

REPRESENTATION = "representation"
SHARED_PARAMETERS = "shared_parameters"
_BOTH_SOURCES = frozenset({REPRESENTATION, SHARED_PARAMETERS})


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyInfo:
    """A weighting strategy as the service sees it.

    Attributes:
        kind: "loss" (weights from loss values) or "gradient" (per-task gradients).
        sources: gradient sources a gradient strategy supports
            ("representation", "shared_parameters"); empty for loss strategies.
        params: names of the strategy's numeric options.
    """

    kind: Literal["loss", "gradient"]
    sources: frozenset[str] = frozenset()
    params: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamRange:
    """The values a strategy option accepts.

    Attributes:
        minimum: the smallest value allowed.
        inclusive: whether `minimum` itself is allowed.
        integer: whether the value must be a whole number.
        meaning: what the option does, for error messages.
    """

    minimum: float
    inclusive: bool = True
    integer: bool = False
    meaning: str


# An option means the same in every strategy that takes it.
PARAM_RANGES: dict[str, ParamRange] = {
    "seed": ParamRange(minimum=0, integer=True, meaning="seed of the strategy's random draws"),
    "temperature": ParamRange(minimum=0, inclusive=False, meaning="softmax temperature"),
    "window": ParamRange(minimum=1, integer=True, meaning="steps averaged per loss window"),
    "gamma": ParamRange(minimum=0, meaning="weight decay of the task logits"),
    "lr": ParamRange(minimum=0, inclusive=False, meaning="learning rate of the task weights"),
    "alpha": ParamRange(minimum=0, meaning="strength of the pull to equal training rates"),
    "c": ParamRange(minimum=0, meaning="radius of the conflict-averse ball (0: mean gradient)"),
    "max_norm": ParamRange(minimum=0, meaning="largest combined gradient norm (0: no limit)"),
    "update_weights_every": ParamRange(
        minimum=1, integer=True, meaning="steps between recomputations of the weights"
    ),
}


def _gradient(*params: str) -> StrategyInfo:
    return StrategyInfo(kind="gradient", sources=_BOTH_SOURCES, params=frozenset(params))


def _loss(*params: str) -> StrategyInfo:
    return StrategyInfo(kind="loss", params=frozenset(params))


STRATEGIES: dict[str, StrategyInfo] = {
    "static": _loss(),
    "uncertainty": _loss(),
    "dwa": _loss("temperature", "window"),
    "rlw": _loss("seed"),
    "famo": _loss("gamma", "lr"),
    "gradnorm": _gradient("alpha", "lr"),
    "pcgrad": _gradient("seed"),
    "mgda": _gradient(),
    "cagrad": _gradient("c"),
    "imtl_g": _gradient(),
    "nash_mtl": _gradient("max_norm", "update_weights_every"),
    "aligned_mtl": _gradient(),
    "upgrad": _gradient(),
}


def default_gradient_source(strategy: str, single_representation: bool) -> str:
    """The source a gradient strategy uses when the spec names none: the
    cheap representation where the architecture has one, else the shared
    parameters; "" for loss strategies."""
    info = STRATEGIES[strategy]
    if info.kind == "loss":
        return ""
    if single_representation and REPRESENTATION in info.sources:
        return REPRESENTATION
    return SHARED_PARAMETERS


def check_strategy(
    strategy: str,
    gradient_source: str,
    params: Mapping[str, float],
    single_representation: bool,
) -> list[tuple[str, str]]:
    """(field, message) for each problem with a weighting choice; empty when
    it is valid. `gradient_source` "" means the default; `single_representation`
    is the architecture's (every head reads one shared tensor)."""
    info = STRATEGIES.get(strategy)
    if info is None:
        return [
            (
                "weighting.strategy",
                f"unknown strategy {strategy!r}; use one of {sorted(STRATEGIES)}",
            )
        ]
    source = gradient_source or default_gradient_source(strategy, single_representation)
    violations = _check_source(strategy, info, source, single_representation)
    for name, value in sorted(params.items()):
        violations.extend(_check_param(strategy, info, name, value))
    return violations


def _check_source(
    strategy: str, info: StrategyInfo, source: str, single_representation: bool
) -> list[tuple[str, str]]:
    """Checks the source the job will use: the spec's, else the default."""
    field = "weighting.gradient_source"
    if not source:
        return []
    if info.kind == "loss":
        return [(field, f"{strategy!r} weights loss values and reads no gradients; leave it empty")]
    if source not in info.sources:
        return [
            (
                field,
                f"{source!r} is not a gradient source of {strategy!r}; "
                f"use one of {sorted(info.sources)}",
            )
        ]
    if source == REPRESENTATION and not single_representation:
        return [
            (
                field,
                "this architecture's heads read different representations, so gradients on "
                "'representation' would leave part of the shared model untrained; use "
                "'shared_parameters' or leave it empty",
            )
        ]
    return []


def _check_param(
    strategy: str, info: StrategyInfo, name: str, value: float
) -> list[tuple[str, str]]:
    field = f"weighting.params.{name}"
    if name not in info.params:
        known = ", ".join(sorted(info.params)) or "none"
        return [(field, f"{strategy!r} has no param {name!r}; its params: {known}")]
    allowed = PARAM_RANGES[name]
    if not math.isfinite(value):
        return [(field, f"{name} ({allowed.meaning}) must be a finite number, got {value}")]
    if allowed.integer and value != int(value):
        return [(field, f"{name} ({allowed.meaning}) must be a whole number, got {value}")]
    too_small = value < allowed.minimum or (not allowed.inclusive and value == allowed.minimum)
    if too_small:
        bound = ">=" if allowed.inclusive else ">"
        return [
            (
                field,
                f"{name} ({allowed.meaning}) must be {bound} {allowed.minimum:g}, got {value:g}",
            )
        ]
    return []
