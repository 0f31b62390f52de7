"""Reading numeric options from a spec's params map (`map<string, double>` in the proto).

Problems and architectures both read their options through these two
functions, so a bad value always fails the same way: a ValueError that names
the option, the allowed range and the value given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def int_option(
    params: Mapping[str, float],
    name: str,
    default: int,
    *,
    minimum: int = 1,
    maximum: int | None = None,
) -> int:
    """`params[name]` as an int in [minimum, maximum], or `default` when absent.

    Example: `int_option(model_params, "num_experts", 4)`.
    """
    value = float(params.get(name, default))
    in_range = value >= minimum and (maximum is None or value <= maximum)
    if not (math.isfinite(value) and value.is_integer() and in_range):
        allowed = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ValueError(f"param {name!r} must be a whole number {allowed}; got {value:g}")
    return int(value)


def float_option(
    params: Mapping[str, float],
    name: str,
    default: float,
    *,
    minimum: float = -math.inf,
    maximum: float = math.inf,
) -> float:
    """`params[name]` as a finite float in [minimum, maximum], or `default` when absent."""
    value = float(params.get(name, default))
    if not (math.isfinite(value) and minimum <= value <= maximum):
        raise ValueError(
            f"param {name!r} must be a finite number from {minimum:g} to {maximum:g}; got {value:g}"
        )
    return value
