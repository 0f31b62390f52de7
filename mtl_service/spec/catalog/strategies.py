"""Loss weighting strategies the workers implement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

REPRESENTATION = "representation"
SHARED_PARAMETERS = "shared_parameters"


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


STRATEGIES: dict[str, StrategyInfo] = {
    "static": StrategyInfo(kind="loss"),
}
