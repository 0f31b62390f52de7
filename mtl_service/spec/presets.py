"""Named breakpoint conditions that remember earlier steps (exploding_gradient, task_conflict, ...).

A preset reads the same values as the rest of a condition (`grad_norm.total`,
`grad_cos.<a>.<b>`, ...) and keeps a small history between evaluations. That
is why `Condition.evaluate` must run exactly once per evaluated step, and why
the history is part of the condition's `state_dict`: a resumed job continues
the same streaks and medians instead of starting blind.

Torch-free and grpc-free: the service validates with it, the workers evaluate.
"""

from __future__ import annotations

import math
import statistics
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, ClassVar

# The relative test of exploding_gradient waits for this many earlier values,
# so the first noisy steps of training do not fire it.
MIN_HISTORY = 10


def grad_cos_name(a: str, b: str, task_names: Sequence[str]) -> str:
    """The normalised name of the cosine between two tasks' gradients.

    The pair is written in `task_names` order, so `grad_cos.seg.depth` and
    `grad_cos.depth.seg` are the same value.

    >>> grad_cos_name("seg", "depth", ["depth", "seg"])
    'grad_cos.depth.seg'
    """
    first, second = sorted((a, b), key=list(task_names).index)
    return f"grad_cos.{first}.{second}"


def grad_cos_names(task_names: Sequence[str]) -> list[str]:
    """Every normalised `grad_cos.<a>.<b>` name of the tasks, pairs in task order."""
    return [f"grad_cos.{a}.{b}" for a, b in combinations(task_names, 2)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """A numeric preset parameter: its default and its inclusive range."""

    name: str
    default: float
    low: float
    high: float
    integer: bool = False
    doc: str

    def check(self, value: float) -> float:
        """`value` if it is allowed; ValueError naming the range otherwise."""
        if self.integer and not float(value).is_integer():
            raise ValueError(f"{self.name} must be a whole number")
        if not self.low <= value <= self.high:
            raise ValueError(f"{self.name} must be between {self.low:g} and {self.high:g}")
        return int(value) if self.integer else float(value)

    def describe(self) -> str:
        kind = "whole number" if self.integer else "number"
        return f"{self.name}={self.default:g} ({kind} in [{self.low:g}, {self.high:g}]): {self.doc}"


def _patience(default: int) -> Param:
    return Param(
        name="patience",
        default=default,
        low=1,
        high=100_000,
        integer=True,
        doc="consecutive evaluations the signal must last",
    )


class Preset(ABC):
    """A named condition with memory; one instance per distinct use in a condition."""

    name: ClassVar[str]
    summary: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    min_tasks: ClassVar[int] = 1

    def __init__(self, task_names: Sequence[str], args: Mapping[str, float]) -> None:
        if len(task_names) < self.min_tasks:
            raise ValueError(f"{self.name} needs at least {self.min_tasks} tasks")
        unknown = set(args) - {p.name for p in self.params}
        if unknown:
            raise ValueError(f"{self.name} has no parameter {', '.join(sorted(unknown))}")
        self.task_names = tuple(task_names)
        self.args = {p.name: p.check(args.get(p.name, p.default)) for p in self.params}
        self.reset()

    @property
    def key(self) -> str:
        """Canonical text, e.g. `task_dominance(ratio=10.0, patience=1)`; equal keys share state."""
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.args.items())})"

    @abstractmethod
    def required_names(self) -> frozenset[str]:
        """The values `observe` reads, which the trainer must compute."""

    @abstractmethod
    def reset(self) -> None:
        """Forget the history."""

    @abstractmethod
    def observe(self, values: Mapping[str, float]) -> bool:
        """Add this step's values to the history; True when the preset fires."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """The history as JSON-friendly data."""

    @abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` returned."""


def _malformed(preset: Preset) -> ValueError:
    return ValueError(f"malformed state for preset {preset.key}")


class _StreakPreset(Preset):
    """Fires when one of its signals has been on for `patience` evaluations in a row."""

    def reset(self) -> None:
        self._streaks: dict[str, int] = {}

    @abstractmethod
    def _signals(self, values: Mapping[str, float]) -> dict[str, bool]:
        """Each tracked signal (a pair, a task, ...) and whether it is on this step."""

    def observe(self, values: Mapping[str, float]) -> bool:
        on = self._signals(values)
        self._streaks = {s: self._streaks.get(s, 0) + 1 for s, hit in on.items() if hit}
        return any(n >= self.args["patience"] for n in self._streaks.values())

    def state_dict(self) -> dict[str, Any]:
        return {"streaks": dict(self._streaks)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        streaks = state.get("streaks")
        if not isinstance(streaks, Mapping) or not all(
            isinstance(n, int) and n > 0 for n in streaks.values()
        ):
            raise _malformed(self)
        self._streaks = {str(s): n for s, n in streaks.items()}


class ExplodingGradient(Preset):
    name = "exploding_gradient"
    summary = (
        "grad_norm.total is non-finite, above `threshold`, or above `factor` x the median "
        f"of its last `window` finite values (once {MIN_HISTORY} are known)"
    )
    params = (
        Param(name="factor", default=10, low=1, high=1e12, doc="multiple of the running median"),
        Param(name="window", default=100, low=2, high=10_000, integer=True, doc="values kept"),
        Param(name="threshold", default=math.inf, low=0, high=math.inf, doc="absolute limit"),
    )

    def required_names(self) -> frozenset[str]:
        return frozenset({"grad_norm.total"})

    def reset(self) -> None:
        self._history: deque[float] = deque(maxlen=int(self.args["window"]))

    def observe(self, values: Mapping[str, float]) -> bool:
        norm = values["grad_norm.total"]
        if not math.isfinite(norm):
            return True
        known = len(self._history) >= min(MIN_HISTORY, self.args["window"])
        relative = known and norm > self.args["factor"] * statistics.median(self._history)
        self._history.append(norm)
        return relative or norm > self.args["threshold"]

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self._history)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        history = state.get("history")
        if not isinstance(history, list) or not all(isinstance(v, int | float) for v in history):
            raise _malformed(self)
        self._history = deque(map(float, history), maxlen=int(self.args["window"]))


class VanishingGradient(_StreakPreset):
    name = "vanishing_gradient"
    summary = "grad_norm.total below `threshold` for `patience` evaluations in a row"
    params = (
        Param(name="threshold", default=1e-6, low=0, high=1e12, doc="absolute limit"),
        _patience(5),
    )

    def required_names(self) -> frozenset[str]:
        return frozenset({"grad_norm.total"})

    def _signals(self, values: Mapping[str, float]) -> dict[str, bool]:
        return {"grad_norm.total": values["grad_norm.total"] < self.args["threshold"]}


class LossNotDecreasing(Preset):
    name = "loss_not_decreasing"
    summary = (
        "loss.total has not gone below its best value by more than `min_delta` for "
        "`window` evaluations (non-finite losses never count as improvements)"
    )
    params = (
        Param(name="window", default=100, low=1, high=1_000_000, integer=True, doc="patience"),
        Param(name="min_delta", default=0, low=0, high=math.inf, doc="smallest improvement"),
    )

    def required_names(self) -> frozenset[str]:
        return frozenset({"loss.total"})

    def reset(self) -> None:
        self._best: float | None = None
        self._since_best = 0

    def observe(self, values: Mapping[str, float]) -> bool:
        loss = values["loss.total"]
        if math.isfinite(loss) and (
            self._best is None or loss < self._best - self.args["min_delta"]
        ):
            self._best, self._since_best = loss, 0
        else:
            self._since_best += 1
        return self._since_best >= self.args["window"]

    def state_dict(self) -> dict[str, Any]:
        return {"best": self._best, "since_best": self._since_best}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        best, since_best = state.get("best"), state.get("since_best")
        if not isinstance(best, int | float | None) or not isinstance(since_best, int):
            raise _malformed(self)
        self._best = None if best is None else float(best)
        self._since_best = since_best


class TaskConflict(_StreakPreset):
    name = "task_conflict"
    summary = "some pair's grad_cos below `threshold` for `patience` evaluations in a row"
    params = (
        Param(name="threshold", default=0, low=-1, high=1, doc="cosine limit"),
        _patience(5),
    )
    min_tasks = 2

    def required_names(self) -> frozenset[str]:
        return frozenset(grad_cos_names(self.task_names))

    def _signals(self, values: Mapping[str, float]) -> dict[str, bool]:
        names = grad_cos_names(self.task_names)
        return {name: values[name] < self.args["threshold"] for name in names}


class TaskDominance(_StreakPreset):
    name = "task_dominance"
    summary = (
        "one task's grad_norm above `ratio` x every other task's, for `patience` "
        "evaluations in a row (never fires while a norm is non-finite)"
    )
    params = (
        Param(name="ratio", default=10, low=1, high=1e12, doc="largest / second largest"),
        _patience(1),
    )
    min_tasks = 2

    def required_names(self) -> frozenset[str]:
        return frozenset(f"grad_norm.{task}" for task in self.task_names)

    def _signals(self, values: Mapping[str, float]) -> dict[str, bool]:
        norms = {task: values[f"grad_norm.{task}"] for task in self.task_names}
        if not all(map(math.isfinite, norms.values())):
            return {}
        return {
            task: norm > self.args["ratio"] * max(n for t, n in norms.items() if t != task)
            for task, norm in norms.items()
        }


PRESETS: dict[str, type[Preset]] = {
    cls.name: cls
    for cls in (
        ExplodingGradient,
        VanishingGradient,
        LossNotDecreasing,
        TaskConflict,
        TaskDominance,
    )
}
"""Every preset by the name a condition uses."""
