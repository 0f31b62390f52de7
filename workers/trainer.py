"""The multi-task training loop, written out as the step boundary of ARCHITECTURE.md."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import structlog
import torch

from mtl.v1 import job_pb2, spec_pb2
from workers.checkpoint import CheckpointDirectory, SavedCheckpoint
from workers.control import JobControl, StopRequest
from workers.distributed.group import RankGroup, RankLost
from workers.hooks import (
    StepBoundary,
    StepRecord,
    StopTraining,
    TrainerHook,
    TrainingOutcome,
    due_every,
    stopped_outcome,
)
from workers.job_build import JobComponents
from workers.mtl.diagnostics import task_gradients_from_losses
from workers.mtl.gradient_capture import capture_representation_gradients
from workers.mtl.model import Representation
from workers.mtl.validation import DELTA_M_KEY, check_baselines, delta_m_percent, evaluate
from workers.mtl.weighting import BackwardContext, GradientSource
from workers.mtl.weighting.gradients import default_source

log = structlog.get_logger(__name__)

CHECKPOINT_FORMAT = 1


class Trainer:
    """Trains one job attempt: restore, loop over steps, checkpoint, report through hooks.

    With `ranks` (a distributed job) the trainer is one rank: it trains on its
    share of each global batch, averages gradients and losses with the other
    ranks after the backward, and only rank 0 validates and checkpoints.
    """

    def __init__(
        self,
        *,
        spec: spec_pb2.JobSpec,
        components: JobComponents,
        device: torch.device,
        checkpoints: CheckpointDirectory,
        control: JobControl,
        hooks: Sequence[TrainerHook] = (),
        ranks: RankGroup | None = None,
    ) -> None:
        self.spec = spec
        self.components = components
        self.model = components.model
        self.optimizer = components.optimizer
        self.strategy = components.strategy
        self.device = device
        self.checkpoints = checkpoints
        self.control = control
        self.hooks = list(hooks)
        self.ranks = ranks
        self.is_leader = ranks is None or ranks.is_leader
        # What the optimizer updates: the gradients the ranks average.
        self._optimized = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.step = 0
        self.user_weights = {
            task.name: float(spec.loss_weights.get(task.name, 1.0)) for task in components.tasks
        }
        self._last_checkpoint_step = -1
        # Validation metrics of the latest evaluation, keyed "task.metric".
        self.last_metrics: dict[str, float] = {}
        if spec.eval_interval > 0:
            _check_validation(spec, components)

    def run(self) -> TrainingOutcome:
        """Train from `self.step` to `spec.steps`, or until stopped or failed."""
        for hook in self.hooks:
            hook.on_train_start(self)
        try:
            if self.is_leader and self.spec.eval_interval > 0 and not self.last_metrics:
                # A first evaluation of the starting model, so that conditions
                # on `metric.<task>.<name>` have a value from the first step
                # (a resumed job restores its latest metrics instead).
                self.validate()
            outcome = self._loop()
        except StopTraining as stop:
            outcome = self._stopped(stop.stop)
        except RankLost as error:
            log.warning("rank_lost", step=self.step, error=str(error))
            outcome = TrainingOutcome(
                state=job_pb2.JOB_STATE_QUEUED,
                final_step=self.step,
                message=str(error),
                rank_lost=True,
            )
        except Exception as error:
            log.exception("job_failed", step=self.step)
            outcome = TrainingOutcome(
                state=job_pb2.JOB_STATE_FAILED,
                final_step=self.step,
                message=f"step {self.step + 1}: {type(error).__name__}: {error}",
            )
        for hook in self.hooks:
            hook.on_train_end(self, outcome)
        return outcome

    def _loop(self) -> TrainingOutcome:
        while self.step < self.spec.steps:
            stop = self.control.stop_request()
            if stop is not None:
                return self._stopped(stop)
            self._train_step(self.step + 1)
        if self._checkpoint_pending():
            self.save_checkpoint()
        return TrainingOutcome(state=job_pb2.JOB_STATE_SUCCEEDED, final_step=self.step)

    def _checkpoint_pending(self) -> bool:
        """Whether this rank should write a checkpoint of the current step now."""
        return (
            self.is_leader
            and self.spec.checkpoint_interval > 0
            and self._last_checkpoint_step != self.step
        )

    def _train_step(self, step: int) -> None:
        started = time.perf_counter()
        tasks = self.components.tasks
        indices = self.components.data_order.indices(step)
        if self.ranks is not None:
            indices = self.ranks.shard(indices)
        batch = self.components.problem.train_data.batch(indices).to(self.device)
        # 1. forward -> per-task losses
        representation = self.model.encode(batch.inputs)
        predictions = self.model.decode(representation)
        losses = {t.name: t.loss(predictions[t.name], batch.targets[t.name]) for t in tasks}
        # 2. weighting strategy -> combined loss / per-task gradients -> backward
        wanted = self._task_gradients_wanted(step, losses, representation)
        self.optimizer.zero_grad(set_to_none=True)
        weighting = self.strategy.backward(
            losses,
            BackwardContext(
                model=self.model,
                representation=representation,
                user_weights=self.user_weights,
                step=step,
            ),
        )
        if self.ranks is not None:
            losses = self.ranks.average_gradients(self._optimized, losses)
        # 3-5. statistics, breakpoint conditions and pending commands: the hooks
        boundary = StepBoundary(
            step=step,
            batch=batch,
            losses={name: loss.detach() for name, loss in losses.items()},
            weighting=weighting,
        )
        if weighting.task_gradients is not None:
            boundary.task_gradients = weighting.task_gradients
            boundary.gradient_source = weighting.gradient_source
        elif wanted is not None:
            boundary.task_gradients, boundary.gradient_source = wanted
        for hook in self.hooks:
            hook.on_step_boundary(self, boundary)
        # 6. optimizer.step(), unless a hook dropped this step's update
        if not boundary.skip_optimizer_step:
            self.optimizer.step()
        self.step = step
        duration = time.perf_counter() - started
        # 7. validation when due, then the checkpoint when due: validating first
        # lets the checkpoint carry the metrics a resumed job's conditions read.
        due = self.is_leader and due_every(self.spec.eval_interval, step)
        metrics = self.validate() if due else {}
        if self.is_leader and due_every(self.spec.checkpoint_interval, step):
            self.save_checkpoint()
        self._step_ended(boundary, duration, metrics)

    def _task_gradients_wanted(
        self, step: int, losses: dict[str, torch.Tensor], representation: Representation
    ) -> tuple[torch.Tensor, GradientSource] | None:
        """Per-task gradients for hooks that asked, taken before the backward frees
        the graph; gradient strategies compute their own and are reused instead.
        On the representation they are captured during the step's own backward
        (the matrix is complete once it ran), else taken now by extra passes."""
        if self.strategy.kind == "gradient":
            return None
        if not any(hook.wants_task_gradients(self, step) for hook in self.hooks):
            return None
        source = default_source(self.model)
        names = [task.name for task in self.components.tasks]
        if source is GradientSource.REPRESENTATION and isinstance(representation, torch.Tensor):
            captured = capture_representation_gradients(
                losses, names, representation, user_weights=self.user_weights
            )
            if captured is not None:
                return captured, source
        matrix = task_gradients_from_losses(
            losses, names, model=self.model, representation=representation, source=source
        )
        return matrix, source

    def validate(self) -> dict[str, float]:
        """Evaluate the model on the validation split now: sets `last_metrics`
        and returns them, with delta-m% when the spec gives baselines."""
        started = time.perf_counter()
        tasks = self.components.tasks
        val_data = self.components.problem.val_data
        assert val_data is not None, "checked when the trainer was built"
        self.last_metrics = evaluate(
            self.model, tasks, val_data, batch_size=self.spec.batch_size, device=self.device
        )
        metrics = dict(self.last_metrics)
        if self.spec.single_task_baselines:
            baselines = self.spec.single_task_baselines
            metrics[DELTA_M_KEY] = delta_m_percent(self.last_metrics, baselines, tasks)
        duration = time.perf_counter() - started
        log.info("validation_done", step=self.step, duration_seconds=duration, metrics=metrics)
        return metrics

    def _step_ended(
        self, boundary: StepBoundary, duration: float, validation_metrics: dict[str, float]
    ) -> None:
        record = StepRecord(
            step=boundary.step,
            losses=boundary.losses,
            weights=dict(boundary.weighting.weights),
            duration_seconds=duration,
            num_samples=boundary.batch.num_samples * (self.ranks.world_size if self.ranks else 1),
            learning_rate=float(self.optimizer.param_groups[0]["lr"]),
            task_statistics=boundary.task_statistics,
            validation_metrics=validation_metrics,
        )
        for hook in self.hooks:
            hook.on_step_end(self, record)

    def _stopped(self, stop: StopRequest) -> TrainingOutcome:
        if stop.resumable and self._checkpoint_pending():
            self.save_checkpoint()
        return stopped_outcome(stop, self.step)

    def save_checkpoint(self) -> SavedCheckpoint | None:
        """Checkpoint the state after `self.step`'s update, unless it is non-finite."""
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            log.warning("checkpoint_refused_non_finite", step=self.step)
            return None
        started = time.perf_counter()
        saved = self.checkpoints.save(self.step, self.state_dict())
        saved.duration_seconds = time.perf_counter() - started
        self._last_checkpoint_step = self.step
        log.info("checkpoint_saved", step=self.step, path=str(saved.path), bytes=saved.size_bytes)
        for hook in self.hooks:
            hook.on_checkpoint(self, saved)
        return saved

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this job exactly where it is."""
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "strategy_name": self.strategy.name,
            "strategy": self.strategy.state_dict(),
            "user_weights": dict(self.user_weights),
            "last_metrics": dict(self.last_metrics),
            "hooks": {type(hook).__name__: hook.state_dict() for hook in self.hooks},
            "rng": _capture_rng(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned (weights and RNG included)."""
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"unsupported checkpoint format {state.get('format')!r}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.strategy.load_state_dict(state["strategy"])
        self.user_weights.update(state["user_weights"])
        self.last_metrics = dict(state.get("last_metrics", {}))
        for hook in self.hooks:
            hook.load_state_dict(state["hooks"].get(type(hook).__name__, {}))
        _restore_rng(state["rng"])
        self.step = int(state["step"])
        self._last_checkpoint_step = self.step

    def load_fork_origin(self, state: dict[str, Any]) -> None:
        """Start from another job's checkpoint, keeping this job's own overrides:
        its loss weights and learning rate, and its strategy if it differs."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        for group in self.optimizer.param_groups:
            group["lr"] = self.spec.optimizer.learning_rate
        if state.get("strategy_name") == self.strategy.name:
            self.strategy.load_state_dict(state["strategy"])
        _restore_rng(state["rng"])
        self.step = int(state["step"])


def _check_validation(spec: spec_pb2.JobSpec, components: JobComponents) -> None:
    """ValueError, before training starts, when the job asks for validation
    its problem cannot give (the service checks what it can at submit)."""
    if components.problem.val_data is None:
        raise ValueError(
            f"eval_interval is {spec.eval_interval} but problem {components.problem.name!r} "
            "has no validation split (val_data is None); set eval_interval to 0"
        )
    check_baselines(components.tasks, spec.single_task_baselines)


def _capture_rng() -> dict[str, Any]:
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": (numpy_state[0], torch.from_numpy(numpy_state[1].copy()), *numpy_state[2:]),
    }


def _restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))
