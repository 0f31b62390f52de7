"""Part 1 (a)-(c): samples/s of the trainer with a worker's hooks against a hand-written loop.

Every contender is built from the same spec (same model init, data order,
seed, batch size and threads) and trains the same steps; rounds alternate
them and the figure is the median of the per-round speed ratios. The
hand-written loop is forward, weighted sum, backward, optimizer.step().
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from bench.jobs import BenchProblem, in_memory
from bench.loops import (
    HandLoop,
    SerialisingConsumer,
    hooked_trainer,
    run_trainer,
    worker_trainer,
)
from bench.measure import Row, Timings, interleave, median, percent_longer, speed_ratio
from bench.transfers import Transfers, count_transfers
from mtl.v1 import spec_pb2
from workers.control import JobControl
from workers.debug.engine import DebugEngine
from workers.hooks import TrainerHook
from workers.job_build import load_problem
from workers.mtl.weighting.gradients import default_source
from workers.reporting import Send, StepReporter
from workers.trainer import Trainer

BREAKPOINTS = ("loss.total > 1e9", "isnan(grad_norm.total)", "step < 0")
BASELINE = "hand loop"
WORKER = "(a) worker hooks"
ARMED = "(b) + 3 breakpoints"
STATS = "(c) stats every step"


@dataclass(frozen=True, slots=True, kw_only=True)
class OverheadConfig:
    """How much to run: steps per round and rounds; `breakdown` adds the
    trainer alone, with the reporter only and with the engine only."""

    steps: int
    rounds: int
    breakdown: bool = False


def measure_overhead(
    problem: BenchProblem, device: torch.device, config: OverheadConfig
) -> list[Row]:
    """Rows (a), (b), (c), the cost of statistics every step, host reads per step,
    and with `breakdown` where the time of (a) goes."""
    data = in_memory(load_problem(problem.spec))
    consumers: list[SerialisingConsumer] = []
    trainers, stats_note = _trainers(problem.spec, device, consumers, config.breakdown)
    for trainer in trainers.values():
        trainer.components.problem = data
    hand = HandLoop(problem.spec, device, data)
    contenders: dict[str, Callable[[], None]] = {BASELINE: lambda: hand.run(config.steps)}
    for name, trainer in trainers.items():
        contenders[name] = _runner(trainer, config.steps)
    timings = interleave(contenders, rounds=config.rounds, device=device)
    for consumer in consumers:
        consumer.close()
    rows = _ratio_rows(problem, timings, config, stats_note)
    own, hand_loop = (
        count_transfers(contenders[name], num_steps=config.steps, device=device)
        for name in (WORKER, BASELINE)
    )
    rows.append(_reads_row(problem, own, hand_loop))
    return rows


def _trainers(
    spec: spec_pb2.JobSpec,
    device: torch.device,
    consumers: list[SerialisingConsumer],
    breakdown: bool,
) -> tuple[dict[str, Trainer], str]:
    def consumer() -> SerialisingConsumer:
        consumers.append(SerialisingConsumer())
        return consumers[-1]

    trainers: dict[str, Trainer] = {}
    if breakdown:
        trainers.update(_breakdown_trainers(spec, device, consumer))
    trainers[WORKER] = worker_trainer(spec, device=device, send=consumer().send)
    trainers[ARMED] = worker_trainer(
        spec, device=device, send=consumer().send, breakpoints=BREAKPOINTS
    )
    trainers[STATS], note = _stats_trainer(spec, device, consumer().send)
    return trainers, note


def _breakdown_trainers(
    spec: spec_pb2.JobSpec, device: torch.device, consumer: Callable[[], SerialisingConsumer]
) -> dict[str, Trainer]:
    """Where (a)'s time goes: the loop alone, then each of the two hooks alone."""

    def reporter(control: JobControl) -> list[TrainerHook]:
        send = consumer().send
        return [StepReporter(job_id="bench", report_interval=spec.report_interval, send=send)]

    def engine(control: JobControl) -> list[TrainerHook]:
        send = consumer().send
        return [DebugEngine(job_id="bench", send=send, control=control, task_names=spec.tasks)]

    return {
        "trainer, no hooks": hooked_trainer(spec, device=device, hooks=lambda control: []),
        "trainer + step reporter": hooked_trainer(spec, device=device, hooks=reporter),
        "trainer + debug engine (NaN guard)": hooked_trainer(spec, device=device, hooks=engine),
    }


def _stats_trainer(spec: spec_pb2.JobSpec, device: torch.device, send: Send) -> tuple[Trainer, str]:
    """Statistics every step through stats_interval 1 when the worker honours it,
    else through an armed breakpoint that reads per-task gradient norms."""
    every_step = spec_pb2.JobSpec()
    every_step.CopyFrom(spec)
    every_step.stats_interval = 1
    trainer = worker_trainer(every_step, device=device, send=send)
    if any(hook.wants_task_gradients(trainer, 1) for hook in trainer.hooks):
        return trainer, f"stats_interval 1, on the {default_source(trainer.model)}"
    condition = f"grad_norm.{spec.tasks[0]} < 0"
    trainer = worker_trainer(spec, device=device, send=send, breakpoints=[condition])
    return trainer, f"the worker ignores stats_interval: breakpoint {condition!r} instead"


def _runner(trainer: Trainer, num_steps: int) -> Callable[[], None]:
    return lambda: run_trainer(trainer, num_steps)


def _ratio_rows(
    problem: BenchProblem, timings: Timings, config: OverheadConfig, stats_note: str
) -> list[Row]:
    step_ms = {name: 1e3 * median(times) / config.steps for name, times in timings.wall.items()}
    targets = {WORKER: 0.97, ARMED: 0.95}

    def row(name: str, note: str = "") -> Row:
        return Row(
            section="overhead",
            name=f"{problem.label}: {name} / hand loop",
            value=speed_ratio(timings.wall, name, BASELINE),
            cpu_value=speed_ratio(timings.cpu, name, BASELINE),
            unit="x",
            minimum=targets.get(name),
            note=note or f"{step_ms[name]:.2f} vs {step_ms[BASELINE]:.2f} ms/step",
            detail={
                "wall_seconds": timings.wall[name],
                "hand_wall_seconds": timings.wall[BASELINE],
            },
        )

    rows = [row(name) for name in timings.wall if name not in (BASELINE, STATS)]
    rows.append(row(STATS, note=stats_note))
    rows.append(
        Row(
            section="overhead",
            name=f"{problem.label}: cost of task statistics every step, vs (a)",
            value=percent_longer(timings.wall, STATS, WORKER),
            cpu_value=percent_longer(timings.cpu, STATS, WORKER),
            unit="%",
            note=f"+{step_ms[STATS] - step_ms[WORKER]:.2f} ms/step; {stats_note}",
        )
    )
    return rows


def _reads_row(problem: BenchProblem, own: Transfers, hand_loop: Transfers) -> Row:
    """Host reads per step that (a) adds to the hand loop (the optimizer's own
    reads of its CPU step counters are in both): on CUDA each one is a sync."""
    if own.device_to_host is None or hand_loop.device_to_host is None:
        value = own.host_reads - hand_loop.host_reads
        what, note = "host reads", "item()/bool()/tolist() of a tensor: a sync each on CUDA"
    else:
        value = own.device_to_host - hand_loop.device_to_host
        what, note = "device-to-host copies", f"{own.host_reads:.1f} host reads in all"
    return Row(
        section="overhead",
        name=f"{problem.label}: (a) {what} per step beyond the hand loop",
        value=value,
        unit="count",
        maximum=0.0,
        note=note,
        detail={"worker": asdict(own), "hand_loop": asdict(hand_loop)},
    )
