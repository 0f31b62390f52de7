"""The one interface debug and reporting features plug into the training loop through.

A hook sees the loop at fixed points. `on_step_boundary` runs after backward
and weighting, before `optimizer.step()`: gradients, the batch and the losses
of the step are all still there, which is where statistics, breakpoint
conditions and debug commands act (steps 3-5 of the step boundary in
ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import Tensor

from mtl.v1 import job_pb2
from workers.checkpoint import SavedCheckpoint
from workers.control import StopRequest
from workers.mtl.data import Batch
from workers.mtl.diagnostics import GradientDiagnostics
from workers.mtl.weighting import GradientSource, WeightingResult

if TYPE_CHECKING:
    from workers.trainer import Trainer


def due_every(interval: int, step: int) -> bool:
    """Whether something done every `interval` steps (0 or less: never) is due at `step`."""
    return interval > 0 and step % interval == 0


@dataclass(slots=True, kw_only=True)
class StepBoundary:
    """One step between its backward and its optimizer update.

    Attributes:
        step: the step (from 1) whose update is pending.
        batch: the batch it trained on.
        losses: per-task losses, detached.
        weighting: what the strategy reported (weights, per-task gradients).
        task_gradients: [T, D] per-task gradients when a hook asked for them
            this step (`wants_task_gradients`) or the strategy computed them.
        gradient_source: where `task_gradients` were taken.
        task_statistics: norms and cosines of `task_gradients`, on device,
            set by the hook that computes the statistics due this step.
        skip_optimizer_step: set by a hook to drop this step's update.
    """

    step: int
    batch: Batch
    losses: dict[str, Tensor]
    weighting: WeightingResult
    task_gradients: Tensor | None = None
    gradient_source: GradientSource | None = None
    task_statistics: GradientDiagnostics | None = None
    skip_optimizer_step: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    """A finished step's numbers; tensors stay on the device until a hook reads them.

    `task_statistics` is set on steps whose statistics were due (the
    boundary's), `validation_metrics` on steps where validation ran
    ("<task>.<metric>", plus "delta_m_percent" when the spec gives baselines).
    """

    step: int
    losses: dict[str, Tensor]
    weights: dict[str, Tensor]
    duration_seconds: float
    num_samples: int
    learning_rate: float
    task_statistics: GradientDiagnostics | None = None
    validation_metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingOutcome:
    """How a run of the loop ended.

    `state` is SUCCEEDED, FAILED or CANCELLED, or QUEUED when the loop stopped
    resumably (shutdown) after a checkpoint, or lost a peer rank (`rank_lost`).
    """

    state: int
    final_step: int
    message: str = ""
    rank_lost: bool = False


def stopped_outcome(stop: StopRequest, step: int) -> TrainingOutcome:
    """How a loop that obeyed `stop` after `step` ended."""
    return TrainingOutcome(
        state=job_pb2.JOB_STATE_QUEUED if stop.resumable else job_pb2.JOB_STATE_CANCELLED,
        final_step=step,
        message=stop.reason,
    )


class StopTraining(Exception):  # noqa: N818 - a request, not an error
    """Raised by a hook to stop the loop at this boundary, without the update."""

    def __init__(self, stop: StopRequest) -> None:
        super().__init__(stop.reason)
        self.stop = stop


class TrainerHook:
    """Base hook: override what you need; every method is a no-op here."""

    def on_train_start(self, trainer: Trainer) -> None:
        """The model, data and optimizer exist (and were restored on resume)."""

    def wants_task_gradients(self, trainer: Trainer, step: int) -> bool:
        """Whether `step`'s boundary needs per-task gradients (asked before backward)."""
        return False

    def on_step_boundary(self, trainer: Trainer, boundary: StepBoundary) -> None:
        """After backward and weighting, before the optimizer update."""

    def on_step_end(self, trainer: Trainer, record: StepRecord) -> None:
        """After the optimizer update (and a due checkpoint)."""

    def on_pause(self, trainer: Trainer, step: int) -> None:
        """The job paused at `step`'s boundary and will wait there; flush what you hold."""

    def on_checkpoint(self, trainer: Trainer, saved: SavedCheckpoint) -> None:
        """A checkpoint was written."""

    def on_train_end(self, trainer: Trainer, outcome: TrainingOutcome) -> None:
        """The loop ended; flush what you hold."""

    def state_dict(self) -> dict[str, Any]:
        """What the hook needs to continue after a resume (saved in checkpoints)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        del state
