"""Interleaved timing: every contender runs once per round, in a rotated order,
and figures are medians of per-round ratios, so load that comes and goes on a
shared machine hits baseline and candidate alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

Work = Callable[[], None]
"""A fixed amount of work (the same every call), timed as a whole."""


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so wall time covers it (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True, slots=True)
class Timings:
    """Seconds per contender per round: wall clock, and on CPU devices the CPU
    time of this process (all its threads), which other load on the machine
    barely moves. On CUDA the CPU time says nothing about the device's work: None."""

    wall: dict[str, list[float]]
    cpu: dict[str, list[float]] | None


def interleave(
    contenders: Mapping[str, Work], *, rounds: int, device: torch.device, warmup: int = 1
) -> Timings:
    """Time each contender in each round. Round r starts at contender r (mod n),
    so no contender always runs first or right after another."""
    names = list(contenders)
    for name in names:
        for _ in range(warmup):
            contenders[name]()
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            synchronize(device)
            wall_started, cpu_started = time.perf_counter(), time.process_time()
            contenders[name]()
            synchronize(device)
            wall[name].append(time.perf_counter() - wall_started)
            cpu[name].append(time.process_time() - cpu_started)
    return Timings(wall, cpu if device.type == "cpu" else None)


def speed_ratio(
    seconds: Mapping[str, Sequence[float]] | None, name: str, baseline: str
) -> float | None:
    """Median over rounds of baseline time over `name`'s time: a throughput ratio
    (1.0 = as fast as the baseline, 0.9 = 10% fewer samples per second); None
    without timings."""
    if seconds is None:
        return None
    pairs = zip(seconds[baseline], seconds[name], strict=True)
    return median([base / own for base, own in pairs])


def time_ratio(
    seconds: Mapping[str, Sequence[float]] | None, name: str, reference: str
) -> float | None:
    """Median over rounds of `name`'s time over `reference`'s (1.1 = 10% longer);
    None without timings."""
    if seconds is None:
        return None
    pairs = zip(seconds[name], seconds[reference], strict=True)
    return median([own / other for own, other in pairs])


def percent_longer(
    seconds: Mapping[str, Sequence[float]] | None, name: str, reference: str
) -> float | None:
    """`time_ratio` as the percentage of extra time (10.0 = 10% longer)."""
    ratio = time_ratio(seconds, name, reference)
    return None if ratio is None else 100.0 * (ratio - 1.0)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile (0.99 for p99), nearest rank; NaN of nothing."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return float(ordered[rank])


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One line of the results table.

    Attributes:
        section: the benchmark it belongs to ("overhead", "strategies", ...).
        name: what was measured, in words.
        value: the figure; `unit` says how to read it ("x" is a ratio).
        cpu_value: the same figure from CPU time instead of wall-clock time,
            where there is one (in-process timings).
        unit: "x", "%", "ms", "MiB/s", "count" or "" (a note without a figure).
        minimum / maximum: the target, where there is one.
        note: a short remark printed after the figure.
        detail: raw numbers for the JSON file (per-round times, samples).
    """

    section: str
    name: str
    value: float | None
    unit: str
    cpu_value: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        """Whether the target is met, judged on the CPU-time figure where there is
        one (other load on the machine moves wall-clock ratios, not CPU-time ones);
        None without a target or a figure."""
        judged = self.cpu_value if self.cpu_value is not None else self.value
        if judged is None or (self.minimum is None and self.maximum is None):
            return None
        low = self.minimum is None or judged >= self.minimum
        high = self.maximum is None or judged <= self.maximum
        return low and high
