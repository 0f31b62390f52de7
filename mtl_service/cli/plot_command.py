"""`mtlctl plot JOB -o FILE.png`: a job's per-task loss, loss weights and
task-gradient cosines in one picture, drawn from its step reports.

matplotlib (Agg, no display needed) is imported only when a figure is built,
so the other commands start as fast as before.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mtl.v1 import job_pb2
from mtl_service.cli.debug_commands import output_file
from mtl_service.cli.exit_codes import EXIT_OTHER
from mtl_service.client import MtlClient

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PANEL_TITLES = ("Loss per task", "Loss weight per task", "Task-gradient cosine")
NO_STATISTICS = "no task statistics reported: set stats_interval in the job spec"
DPI = 120

# Curves by name: the steps and the values at those steps.
Curves = dict[str, tuple[list[int], list[float]]]


def png_file(text: str) -> Path:
    path = output_file(text)
    if path.suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"{text!r}: name a .png file")
    return path


def add_parser(commands: argparse._SubParsersAction) -> None:
    plot = commands.add_parser(
        "plot", help="draw a job's per-task loss, weights and gradient cosines into a PNG"
    )
    plot.add_argument("job_id")
    plot.add_argument(
        "-o", "--output", type=png_file, required=True, metavar="FILE.png", help="the picture"
    )


def cmd_plot(client: MtlClient, args: argparse.Namespace) -> int:
    job = client.get(args.job_id)
    steps = step_history(client, job)
    if not steps:
        message = f"mtlctl: job {job.id} has reported no steps yet; plot it once it trains"
        print(message, file=sys.stderr)
        return EXIT_OTHER
    figure = build_figure(f"{job.id} ({job.spec.name})" if job.spec.name else job.id, steps)
    figure.savefig(args.output, format="png", dpi=DPI)
    print(f"wrote {args.output} (steps {steps[0].step} to {steps[-1].step})")
    return 0


def step_history(client: MtlClient, job: job_pb2.Job) -> list[job_pb2.StepMetrics]:
    """The job's step metrics up to `job.step`: its whole history once it ended; for a
    live job, the history until the report of the step `job` shows, not the live
    stream after it (a paused job would keep the stream open for ever)."""
    if job.step == 0:
        return []
    steps: list[job_pb2.StepMetrics] = []
    for event in client.watch(job.id):
        steps.extend(event.step_report.steps)
        if steps and steps[-1].step >= job.step:
            break
    return steps


def build_figure(title: str, steps: Iterable[job_pb2.StepMetrics]) -> Figure:
    """Three panels sharing the step axis; a step reported twice (a job that resumed
    from a checkpoint) is drawn with its latest report."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    latest = {metrics.step: metrics for metrics in steps}
    ordered = [latest[step] for step in sorted(latest)]
    figure = Figure(figsize=(10, 10), layout="constrained")
    FigureCanvasAgg(figure)
    loss_axes, weight_axes, cosine_axes = figure.subplots(3, 1, sharex=True)
    losses = _curves(ordered, lambda m: m.task_losses)
    _draw(loss_axes, PANEL_TITLES[0], "loss", losses)
    if all(value > 0 for _, values in losses.values() for value in values):
        loss_axes.set_yscale("log")  # tasks' losses differ by orders of magnitude
    _draw(weight_axes, PANEL_TITLES[1], "weight", _curves(ordered, lambda m: m.task_weights))
    cosines = _curves(ordered, _pair_cosines)
    _draw(cosine_axes, PANEL_TITLES[2], "cosine", cosines)
    cosine_axes.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
    cosine_axes.set_ylim(-1.05, 1.05)
    if not cosines:
        cosine_axes.text(
            0.5, 0.5, NO_STATISTICS, ha="center", va="center", transform=cosine_axes.transAxes
        )
    cosine_axes.set_xlabel("step")
    figure.suptitle(title)
    return figure


def _pair_cosines(metrics: job_pb2.StepMetrics) -> dict[str, float]:
    return {f"{pair.task_a} · {pair.task_b}": pair.cosine for pair in metrics.grad_cosines}


def _curves(
    steps: Sequence[job_pb2.StepMetrics],
    values_of: Callable[[job_pb2.StepMetrics], Mapping[str, float]],
) -> Curves:
    """One curve per name `values_of` gives; non-finite values leave a gap."""
    curves: Curves = {}
    for metrics in steps:
        for name, value in values_of(metrics).items():
            xs, ys = curves.setdefault(name, ([], []))
            xs.append(metrics.step)
            ys.append(value if math.isfinite(value) else math.nan)
    return curves


def _draw(axes: Axes, title: str, ylabel: str, curves: Curves) -> None:
    for name, (xs, ys) in sorted(curves.items()):
        axes.plot(xs, ys, label=name, linewidth=1.2, marker="." if len(xs) < 50 else None)
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    if curves:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")


COMMANDS: dict[str, Callable[[MtlClient, argparse.Namespace], int]] = {"plot": cmd_plot}
