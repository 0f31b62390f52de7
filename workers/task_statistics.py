"""Task statistics every `stats_interval` steps: per-task gradient norms and pairwise cosines."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from workers.debug_clock import DebugClock
from workers.hooks import StepBoundary, TrainerHook, due_every
from workers.mtl.diagnostics import gradient_diagnostics

if TYPE_CHECKING:
    from workers.trainer import Trainer


class TaskStatistics(TrainerHook):
    """Computes the statistics due this step (step 3 of the step boundary).

    On a due step it asks the trainer for per-task gradients, which a
    gradient-based strategy has computed anyway; otherwise they are captured
    on the representation during the step's one backward (a few percent of
    a step), or cost T trunk passes on a model without a single
    representation. It leaves their norms and cosines on the boundary as
    device tensors: the step reporter reads them in its batched host sync.
    """

    def __init__(self, *, stats_interval: int, clock: DebugClock | None = None) -> None:
        self.stats_interval = stats_interval
        self.clock = clock or DebugClock()

    def wants_task_gradients(self, trainer: Trainer, step: int) -> bool:
        return due_every(self.stats_interval, step)

    def on_step_boundary(self, trainer: Trainer, boundary: StepBoundary) -> None:
        if due_every(self.stats_interval, boundary.step) and boundary.task_gradients is not None:
            started = time.perf_counter()
            boundary.task_statistics = gradient_diagnostics(boundary.task_gradients.detach())
            self.clock.add(time.perf_counter() - started)
