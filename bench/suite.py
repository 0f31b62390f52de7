"""The whole suite: which parts run, in what order, at which sizes."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.control_plane import ControlPlaneConfig, measure_control_plane
from bench.end_to_end import measure_end_to_end
from bench.jobs import dense, tabular_mmoe
from bench.measure import Row
from bench.overhead import OverheadConfig, measure_overhead
from bench.strategies import measure_strategies
from bench.task_gradients import measure_task_gradients


@dataclass(frozen=True, slots=True, kw_only=True)
class Sizes:
    """Steps per round and rounds of each part; `full` fits 15 minutes on 2 CPU
    cores (about 5 on a quiet one), `quick` takes about a minute."""

    tabular: OverheadConfig
    dense: OverheadConfig
    service_rounds: int
    service_steps: tuple[int, int]
    gradient_steps: int
    gradient_rounds: int
    strategy_steps: int
    strategy_rounds: int
    control_plane: ControlPlaneConfig


FULL = Sizes(
    tabular=OverheadConfig(steps=300, rounds=9, breakdown=True),
    dense=OverheadConfig(steps=12, rounds=7),
    service_rounds=3,
    service_steps=(1500, 80),
    gradient_steps=8,
    gradient_rounds=7,
    strategy_steps=30,
    strategy_rounds=7,
    control_plane=ControlPlaneConfig(),
)

QUICK = Sizes(
    tabular=OverheadConfig(steps=100, rounds=3, breakdown=True),
    dense=OverheadConfig(steps=4, rounds=3),
    service_rounds=1,
    service_steps=(300, 20),
    gradient_steps=4,
    gradient_rounds=3,
    strategy_steps=10,
    strategy_rounds=3,
    control_plane=ControlPlaneConfig(
        num_clients=200,
        calls_per_client=2,
        num_streams=100,
        watch_seconds=2.0,
        num_adjustments=5,
        snapshot_sizes_mib=(16,),
        snapshot_repeats=1,
    ),
)

# The problems of the overhead and end-to-end parts, by the name `--problem` takes.
PROBLEMS = ("tabular", "dense")

Part = Callable[[Sizes, torch.device, Path, Sequence[str]], list[Row]]


def _overhead(
    sizes: Sizes, device: torch.device, scratch: Path, problems: Sequence[str]
) -> list[Row]:
    chosen = {"tabular": (tabular_mmoe(), sizes.tabular), "dense": (dense(device), sizes.dense)}
    rows: list[Row] = []
    for name in problems:
        problem, config = chosen[name]
        rows += measure_overhead(problem, device, config)
    return rows


def _end_to_end(
    sizes: Sizes, device: torch.device, scratch: Path, problems: Sequence[str]
) -> list[Row]:
    tabular_steps, dense_steps = sizes.service_steps
    chosen = {"tabular": (tabular_mmoe(), tabular_steps), "dense": (dense(device), dense_steps)}
    return measure_end_to_end(
        [chosen[name] for name in problems],
        rounds=sizes.service_rounds,
        device=device,
        data_dir=scratch,
    )


def _task_gradients(
    sizes: Sizes, device: torch.device, scratch: Path, problems: Sequence[str]
) -> list[Row]:
    return measure_task_gradients(
        dense(device), device, steps=sizes.gradient_steps, rounds=sizes.gradient_rounds
    )


def _strategies(
    sizes: Sizes, device: torch.device, scratch: Path, problems: Sequence[str]
) -> list[Row]:
    return measure_strategies(device, steps=sizes.strategy_steps, rounds=sizes.strategy_rounds)


def _control_plane(
    sizes: Sizes, device: torch.device, scratch: Path, problems: Sequence[str]
) -> list[Row]:
    return measure_control_plane(sizes.control_plane, scratch)


PARTS: dict[str, Part] = {
    "overhead": _overhead,
    "end_to_end": _end_to_end,
    "task_gradients": _task_gradients,
    "strategies": _strategies,
    "control_plane": _control_plane,
}


def run_part(
    name: str, sizes: Sizes, device: torch.device, problems: Sequence[str] = PROBLEMS
) -> list[Row]:
    """Run one part with a scratch data directory of its own; `problems`
    narrows the overhead and end-to-end parts to some of `PROBLEMS`."""
    with tempfile.TemporaryDirectory(prefix=f"mtl-bench-{name}-") as scratch:
        return PARTS[name](sizes, device, Path(scratch), problems)
