"""Part 3: step time of every weighting strategy relative to static, at T = 2, 4, 8 tasks,
and (on CUDA) the host<->device copies each strategy makes per step.

The problem is GradNorm's synthetic regression with `num_tasks` tasks and
hard parameter sharing; each strategy trains through the trainer without
hooks (the real step: forward, the strategy's backward, optimizer.step()),
interleaved with the others, on the same data.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict

import torch

from bench.jobs import job_spec
from bench.loops import hooked_trainer, run_trainer
from bench.measure import Row, Timings, interleave, median, time_ratio
from bench.transfers import Transfers, count_transfers
from mtl.v1 import spec_pb2
from workers.job_build import JobComponents, build_components, load_problem
from workers.mtl.problems.gradnorm_regression import task_name
from workers.mtl.weighting import STRATEGIES, BackwardContext

TASK_COUNTS = (2, 4, 8)
BASELINE = "static"
COPY_CHECK_TASKS = 4


def strategy_spec(strategy: str, num_tasks: int) -> spec_pb2.JobSpec:
    return job_spec(
        problem="gradnorm_regression",
        problem_params={"num_tasks": num_tasks, "num_samples": 1024, "num_val_samples": 64},
        tasks=[task_name(index) for index in range(num_tasks)],
        batch_size=64,
        strategy=strategy,
    )


def measure_strategies(
    device: torch.device, *, steps: int, rounds: int, task_counts: Sequence[int] = TASK_COUNTS
) -> list[Row]:
    """One row per strategy: its step time over static's at the largest T
    (the others in the note), then the copy check."""
    by_count = {
        count: _step_times(device, count, steps=steps, rounds=rounds) for count in task_counts
    }
    rows = [_strategy_row(name, by_count, steps) for name in STRATEGIES if name != BASELINE]
    rows.append(_copy_check(device))
    return rows


def _step_times(device: torch.device, num_tasks: int, *, steps: int, rounds: int) -> Timings:
    problem = load_problem(strategy_spec(BASELINE, num_tasks))
    work: dict[str, Callable[[], None]] = {}
    for name in STRATEGIES:
        trainer = hooked_trainer(
            strategy_spec(name, num_tasks), device=device, hooks=lambda control: []
        )
        trainer.components.problem = problem
        work[name] = lambda trainer=trainer: run_trainer(trainer, steps)
    return interleave(work, rounds=rounds, device=device)


def _strategy_row(name: str, by_count: dict[int, Timings], steps: int) -> Row:
    wall = {n: time_ratio(t.wall, name, BASELINE) for n, t in by_count.items()}
    cpu = {n: time_ratio(t.cpu, name, BASELINE) for n, t in by_count.items()}
    largest = max(by_count)
    step_ms = 1e3 * median(by_count[largest].wall[name]) / steps
    shown, clock = (wall, "wall") if cpu[largest] is None else (cpu, "cpu time")
    others = ", ".join(f"T={n} {shown[n]:.2f}x" for n in sorted(by_count)[:-1]) + f" ({clock})"
    return Row(
        section="strategies",
        name=f"{name}: step time / static at T={largest}",
        value=wall[largest],
        cpu_value=cpu[largest],
        unit="x",
        note=f"{others}; {step_ms:.2f} ms/step",
        detail={f"T={n}": {"wall": wall[n], "cpu": cpu[n]} for n in by_count},
    )


def _copy_check(device: torch.device, num_steps: int = 5) -> Row:
    """On CUDA: strategies whose step copies a gradient-sized tensor between host
    and device (the batch stays on the device, so every copy is the step's own)."""
    name = f"strategies copying a task gradient host<->device per step, T={COPY_CHECK_TASKS}"
    if device.type != "cuda":
        return Row(
            section="strategies",
            name=name,
            value=None,
            unit="",
            note="needs CUDA: run bench/gpu.sh on a GPU machine",
        )
    found: dict[str, Transfers] = {}
    gradient_bytes = 0
    for strategy in STRATEGIES:
        components = build_components(strategy_spec(strategy, COPY_CHECK_TASKS), device)
        step, gradient_bytes = _device_step(components, device)
        step()  # the first step creates optimizer and strategy state
        found[strategy] = count_transfers(
            _repeated(step, num_steps), num_steps=num_steps, device=device
        )
    copying = [s for s, t in found.items() if (t.largest_copy_bytes or 0) >= gradient_bytes]
    any_copy = [s for s, t in found.items() if (t.host_to_device or 0) + (t.device_to_host or 0)]
    return Row(
        section="strategies",
        name=name,
        value=float(len(copying)),
        unit="count",
        maximum=0.0,
        note=f"{', '.join(copying) or 'none'}; smaller copies (weights, Gramian) in "
        f"{', '.join(any_copy) or 'none'}",
        detail={strategy: asdict(transfers) for strategy, transfers in found.items()},
    )


def _device_step(components: JobComponents, device: torch.device) -> tuple[Callable[[], None], int]:
    """A step on one batch that already lies on the device, and the size in
    bytes of one task's gradient on the representation."""
    model, optimizer, strategy = components.model, components.optimizer, components.strategy
    batch = components.problem.train_data.batch(components.data_order.indices(1)).to(device)
    counter = itertools.count(1)

    def step() -> None:
        representation = model.encode(batch.inputs)
        predictions = model.decode(representation)
        losses = {
            t.name: t.loss(predictions[t.name], batch.targets[t.name]) for t in components.tasks
        }
        optimizer.zero_grad(set_to_none=True)
        context = BackwardContext(
            model=model, representation=representation, user_weights={}, step=next(counter)
        )
        strategy.backward(losses, context)
        optimizer.step()

    size = model.encode(batch.inputs)
    assert isinstance(size, torch.Tensor)
    return step, size.numel() * size.element_size()


def _repeated(step: Callable[[], None], times: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(times):
            step()

    return run
