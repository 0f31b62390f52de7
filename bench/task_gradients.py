"""Part 2: the cost of per-task gradient norms and the cosine matrix per step.

Four hand loops on the dense problem train the same steps; three of them
compute the statistics before the backward: through the representation
(`task_gradients_from_losses` on the representation: T head-only passes),
through the shared parameters (T passes through the trunk), and a naive
reference (T separate full `backward()` calls, norms and cosines from the
flattened `.grad` of the shared parameters). The figure is the median
per-round extra time over the plain loop.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import Tensor

from bench.jobs import BenchProblem, in_memory
from bench.loops import HandLoop, Statistics
from bench.measure import Row, Timings, interleave, median, percent_longer
from workers.job_build import load_problem
from workers.mtl.diagnostics import (
    GradientDiagnostics,
    gradient_diagnostics,
    task_gradients_from_losses,
)
from workers.mtl.model import MultiTaskModel, Representation
from workers.mtl.weighting import GradientSource

PLAIN = "plain step"
PATHS = {
    "representation path": GradientSource.REPRESENTATION,
    "shared-parameter path": GradientSource.SHARED_PARAMETERS,
}
NAIVE = "naive: T full backward passes"


def service_statistics(model: MultiTaskModel, source: GradientSource) -> Statistics:
    """What the worker computes: per-task gradients on `source`, then their diagnostics."""

    def compute(losses: dict[str, Tensor], representation: Representation) -> GradientDiagnostics:
        gradients = task_gradients_from_losses(
            losses, model.task_names, model=model, representation=representation, source=source
        )
        return gradient_diagnostics(gradients)

    return compute


def naive_statistics(model: MultiTaskModel) -> Statistics:
    """The reference a user might write: one full backward per task, then norms
    and pairwise cosines of the flattened shared-parameter gradients."""
    shared = [p for p in model.shared_parameters() if p.requires_grad]

    def compute(losses: dict[str, Tensor], representation: Representation) -> tuple[Tensor, Tensor]:
        rows = []
        for name in model.task_names:
            model.zero_grad(set_to_none=True)
            losses[name].backward(retain_graph=True)
            rows.append(torch.cat([p.grad.reshape(-1) for p in shared]))  # type: ignore[union-attr]
        norms = torch.stack([row.norm() for row in rows])
        cosines = torch.eye(len(rows), device=norms.device)
        for i, j in itertools.combinations(range(len(rows)), 2):
            cosines[i, j] = cosines[j, i] = rows[i] @ rows[j] / (norms[i] * norms[j])
        return norms, cosines

    return compute


def measure_task_gradients(
    problem: BenchProblem, device: torch.device, *, steps: int, rounds: int
) -> list[Row]:
    """Extra time per step of each path over the plain step; target <= 10% for
    the representation path."""
    data = in_memory(load_problem(problem.spec))
    loops = {PLAIN: HandLoop(problem.spec, device, data)}
    for name, source in PATHS.items():
        loops[name] = HandLoop(problem.spec, device, data)
        loops[name].statistics = service_statistics(loops[name].components.model, source)
    loops[NAIVE] = HandLoop(problem.spec, device, data)
    loops[NAIVE].statistics = naive_statistics(loops[NAIVE].components.model)
    work: dict[str, Callable[[], None]] = {
        name: (lambda loop=loop: loop.run(steps)) for name, loop in loops.items()
    }
    timings = interleave(work, rounds=rounds, device=device)
    agreement = _agreement(loops[PLAIN])
    return [_row(problem, name, timings, steps, agreement) for name in (*PATHS, NAIVE)]


def _row(problem: BenchProblem, name: str, timings: Timings, steps: int, agreement: float) -> Row:
    plain_ms = 1e3 * median(timings.wall[PLAIN]) / steps
    note = f"plain step {plain_ms:.1f} ms"
    if name == NAIVE:
        note += f"; the shared-parameter path agrees with it to {agreement:.0e}"
    return Row(
        section="task gradients",
        name=f"{problem.label}, {len(problem.spec.tasks)} tasks: {name}, extra per step",
        value=percent_longer(timings.wall, name, PLAIN),
        cpu_value=percent_longer(timings.cpu, name, PLAIN),
        unit="%",
        maximum=10.0 if PATHS.get(name) is GradientSource.REPRESENTATION else None,
        note=note,
        detail={"wall_seconds": timings.wall[name], "plain_wall_seconds": timings.wall[PLAIN]},
    )


def _agreement(loop: HandLoop) -> float:
    """Largest relative difference between the norms and cosines of the
    shared-parameter path and of the naive reference, on one batch."""
    model = loop.components.model
    batch = loop.components.problem.train_data.batch(torch.arange(2)).to(loop.device)
    representation = model.encode(batch.inputs)
    predictions = model.decode(representation)
    losses = {
        task.name: task.loss(predictions[task.name], batch.targets[task.name])
        for task in loop.components.tasks
    }
    ours = service_statistics(model, GradientSource.SHARED_PARAMETERS)(losses, representation)
    norms, cosines = naive_statistics(model)(losses, representation)
    model.zero_grad(set_to_none=True)
    assert isinstance(ours, GradientDiagnostics)
    norm_error = ((ours.norms - norms).abs() / norms).max()
    return float(max(norm_error, (ours.cosines - cosines).abs().max()))
