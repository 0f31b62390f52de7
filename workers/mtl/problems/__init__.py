"""Built-in reference problems and loading of user problems from an entrypoint."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from workers.mtl.problem import Problem
from workers.mtl.problems import (
    digits_pair,
    gradnorm_regression,
    mmoe_synthetic,
    nyuv2_synthetic,
    tabular_regcls,
    toy_conflict,
)
from workers.mtl.problems.entrypoint import load_entrypoint

ProblemFactory = Callable[[Mapping[str, float], int], Problem]
"""build(params, seed) -> Problem; the signature of built-ins and user entrypoints."""

PROBLEMS: dict[str, ProblemFactory] = {
    "tabular_regcls": tabular_regcls.build,
    "toy_conflict": toy_conflict.build,
    "gradnorm_regression": gradnorm_regression.build,
    "mmoe_synthetic": mmoe_synthetic.build,
    "digits_pair": digits_pair.build,
    "nyuv2_synthetic": nyuv2_synthetic.build,
}


def build_problem(name: str, params: Mapping[str, float], seed: int) -> Problem:
    """The built-in problem `name`; ValueError lists the known names."""
    try:
        factory = PROBLEMS[name]
    except KeyError:
        raise ValueError(f"unknown problem {name!r}; known: {sorted(PROBLEMS)}") from None
    return factory(params, seed)


__all__ = ["PROBLEMS", "ProblemFactory", "build_problem", "load_entrypoint"]
