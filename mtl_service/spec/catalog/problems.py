"""Built-in reference problems: their tasks and options."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ProblemInfo:
    """A built-in problem as the service sees it.

    Attributes:
        tasks: the task names the problem offers.
        description: one line for `mtlctl problems`.
        params: names of the problem's numeric options.
    """

    tasks: tuple[str, ...]
    description: str
    params: frozenset[str] = frozenset()


PROBLEMS: dict[str, ProblemInfo] = {
    "tabular_regcls": ProblemInfo(
        tasks=("value", "category"),
        description="16-d tabular input: one regression (MSE ~100) and one 4-class task (CE ~1.4)",
        params=frozenset({"num_samples", "num_val_samples"}),
    ),
}
