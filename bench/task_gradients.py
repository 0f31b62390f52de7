"""Part 2: the cost of per-task gradient norms and the cosine matrix per step.

Five hand loops on the dense problem train the same steps; four of them
compute the statistics: on the representation as a worker does (captured
by hooks during the step's one backward, `capture_representation_gradients`),
on the representation by T head-only passes before the backward
(`task_gradients_from_losses`, the fallback), on the shared parameters (T
passes through the trunk), and a naive reference (T separate full
`backward()` calls, norms and cosines from the flattened `.grad` of the
shared parameters). The figure is the median per-round extra time over the
plain loop.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import Tensor

from bench.jobs import BenchProblem, in_memory
from bench.loops import Finish, HandLoop, Statistics
from bench.measure import Row, Timings, interleave, median, percent_longer
from workers.job_build import load_problem
from workers.mtl.diagnostics import (
    GradientDiagnostics,
    gradient_diagnostics,
    task_gradients_from_losses,
)
from workers.mtl.gradient_capture import capture_representation_gradients
from workers.mtl.model import MultiTaskModel, Representation
from workers.mtl.weighting import GradientSource

PLAIN = "plain step"
CAPTURED = "representation path"
PATHS = {
    "representation path by T head passes": GradientSource.REPRESENTATION,
    "shared-parameter path": GradientSource.SHARED_PARAMETERS,
}
NAIVE = "naive: T full backward passes"


def captured_statistics(model: MultiTaskModel, user_weights: dict[str, float]) -> Statistics:
    """What a worker computes on the representation: per-task gradients captured
    during the step's backward, then (after it) their diagnostics."""

    def start(losses: dict[str, Tensor], representation: Representation) -> Finish:
        assert isinstance(representation, Tensor)
        gradients = capture_representation_gradients(
            losses, model.task_names, representation, user_weights=user_weights
        )
        assert gradients is not None, "the dense heads share no autograd node"
        return lambda: gradient_diagnostics(gradients)

    return start


def pass_statistics(model: MultiTaskModel, source: GradientSource) -> Statistics:
    """Per-task gradients on `source` by extra passes before the backward, then
    their diagnostics (the worker's way on the shared parameters)."""

    def start(losses: dict[str, Tensor], representation: Representation) -> None:
        _diagnostics_by_passes(model, source, losses, representation)

    return start


def _diagnostics_by_passes(
    model: MultiTaskModel,
    source: GradientSource,
    losses: dict[str, Tensor],
    representation: Representation,
) -> GradientDiagnostics:
    gradients = task_gradients_from_losses(
        losses, model.task_names, model=model, representation=representation, source=source
    )
    return gradient_diagnostics(gradients)


def naive_statistics(model: MultiTaskModel) -> Statistics:
    """The reference a user might write: one full backward per task, then norms
    and pairwise cosines of the flattened shared-parameter gradients."""
    shared = [p for p in model.shared_parameters() if p.requires_grad]

    def start(losses: dict[str, Tensor], representation: Representation) -> None:
        _naive_diagnostics(model, shared, losses)

    return start


def _naive_diagnostics(
    model: MultiTaskModel, shared: list[torch.nn.Parameter], losses: dict[str, Tensor]
) -> tuple[Tensor, Tensor]:
    """Norms and cosines from T full backward passes (`.grad` is left set)."""
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


def measure_task_gradients(
    problem: BenchProblem, device: torch.device, *, steps: int, rounds: int
) -> list[Row]:
    """Extra time per step of each path over the plain step; target <= 10% for
    the representation path a worker takes."""
    data = in_memory(load_problem(problem.spec))
    loops = {
        name: HandLoop(problem.spec, device, data) for name in (PLAIN, CAPTURED, *PATHS, NAIVE)
    }
    loops[CAPTURED].statistics = captured_statistics(
        loops[CAPTURED].components.model, loops[CAPTURED].weights
    )
    for name, source in PATHS.items():
        loops[name].statistics = pass_statistics(loops[name].components.model, source)
    loops[NAIVE].statistics = naive_statistics(loops[NAIVE].components.model)
    work: dict[str, Callable[[], None]] = {
        name: (lambda loop=loop: loop.run(steps)) for name, loop in loops.items()
    }
    timings = interleave(work, rounds=rounds, device=device)
    notes = {
        CAPTURED: f"agrees with T head passes to {_captured_agreement(loops[PLAIN]):.0e}",
        NAIVE: f"the shared-parameter path agrees with it to {_naive_agreement(loops[PLAIN]):.0e}",
    }
    return [
        _row(problem, name, timings, steps, notes.get(name, ""))
        for name in (CAPTURED, *PATHS, NAIVE)
    ]


def _row(problem: BenchProblem, name: str, timings: Timings, steps: int, agreement: str) -> Row:
    plain_ms = 1e3 * median(timings.wall[PLAIN]) / steps
    note = f"plain step {plain_ms:.1f} ms" + (f"; {agreement}" if agreement else "")
    return Row(
        section="task gradients",
        name=f"{problem.label}, {len(problem.spec.tasks)} tasks: {name}, extra per step",
        value=percent_longer(timings.wall, name, PLAIN),
        cpu_value=percent_longer(timings.cpu, name, PLAIN),
        unit="%",
        maximum=10.0 if name == CAPTURED else None,
        note=note,
        detail={"wall_seconds": timings.wall[name], "plain_wall_seconds": timings.wall[PLAIN]},
    )


def _forward(loop: HandLoop) -> tuple[Representation, dict[str, Tensor]]:
    """The representation and task losses of the loop's model on two samples."""
    model = loop.components.model
    batch = loop.components.problem.train_data.batch(torch.arange(2)).to(loop.device)
    representation = model.encode(batch.inputs)
    predictions = model.decode(representation)
    losses = {
        task.name: task.loss(predictions[task.name], batch.targets[task.name])
        for task in loop.components.tasks
    }
    return representation, losses


def _difference(ours: GradientDiagnostics, norms: Tensor, cosines: Tensor) -> float:
    norm_error = ((ours.norms - norms).abs() / norms).max()
    return float(max(norm_error, (ours.cosines - cosines).abs().max()))


def _naive_agreement(loop: HandLoop) -> float:
    """Largest relative difference between the norms and cosines of the
    shared-parameter path and of the naive reference, on one batch."""
    model = loop.components.model
    representation, losses = _forward(loop)
    shared_parameters = GradientSource.SHARED_PARAMETERS
    ours = _diagnostics_by_passes(model, shared_parameters, losses, representation)
    shared = [p for p in model.shared_parameters() if p.requires_grad]
    norms, cosines = _naive_diagnostics(model, shared, losses)
    model.zero_grad(set_to_none=True)
    return _difference(ours, norms, cosines)


def _captured_agreement(loop: HandLoop) -> float:
    """The same between the captured representation path (weighted as the
    loop weights its losses) and T head passes."""
    model = loop.components.model
    representation, losses = _forward(loop)
    passes = _diagnostics_by_passes(model, GradientSource.REPRESENTATION, losses, representation)
    assert isinstance(representation, Tensor)
    captured = capture_representation_gradients(
        losses, model.task_names, representation, user_weights=loop.weights
    )
    assert captured is not None
    sum(loop.weights[name] * loss for name, loss in losses.items()).backward()  # type: ignore[union-attr]
    model.zero_grad(set_to_none=True)
    return _difference(gradient_diagnostics(captured), passes.norms, passes.cosines)
