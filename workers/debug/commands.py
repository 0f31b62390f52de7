"""Debug commands executed at a step boundary, one handler per command."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from mtl.v1 import debug_pb2, debug_types_pb2, job_pb2, worker_pb2
from workers.checkpoint import CheckpointDirectory
from workers.debug.command_error import CommandError
from workers.debug.snapshot import snapshot_responses
from workers.debug.task_stats import task_stats
from workers.hooks import StepBoundary

if TYPE_CHECKING:
    from workers.debug.engine import DebugEngine
    from workers.trainer import Trainer

log = structlog.get_logger(__name__)
Handler = Callable[..., None]
FORK_CHECKPOINTS_KEPT = 100


def execute(
    engine: DebugEngine, trainer: Trainer, boundary: StepBoundary, command: worker_pb2.DebugCommand
) -> None:
    """Run one command and answer it; a failure is answered, never raised."""
    kind = command.WhichOneof("command")
    handler = HANDLERS.get(kind or "")
    cid = command.correlation_id
    engine.caller = command.caller
    try:
        if handler is None:
            raise CommandError("UNIMPLEMENTED", f"this worker does not know command {kind!r}")
        handler(engine, trainer, boundary, cid, getattr(command, kind))
    except CommandError as error:
        engine.fail(cid, error)
    except Exception as error:  # fail open: the feature failed, the job goes on
        log.exception("debug_command_failed", command=kind, step=boundary.step)
        engine.fail(
            cid, CommandError("INTERNAL", f"{kind} failed: {type(error).__name__}: {error}")
        )
        engine.debug_error(kind or "command", f"{type(error).__name__}: {error}", boundary.step)


def _pause(
    engine: DebugEngine,
    trainer: Trainer,
    boundary: StepBoundary,
    cid: str,
    request: debug_pb2.PauseJobRequest,
) -> None:
    engine.pause(
        boundary, debug_types_pb2.PAUSE_REASON_USER, detail="PauseJob", paused_by=engine.caller
    )
    paused_step = engine.paused.step if engine.paused is not None else boundary.step
    engine.reply(cid, paused=debug_pb2.PauseJobResponse(step=paused_step))


def _require_paused(engine: DebugEngine, what: str) -> None:
    if engine.paused is None:
        raise CommandError("FAILED_PRECONDITION", f"the job is not paused; nothing to {what}")


def _resume(
    engine: DebugEngine,
    trainer: Trainer,
    boundary: StepBoundary,
    cid: str,
    request: debug_pb2.ResumeJobRequest,
) -> None:
    _require_paused(engine, "resume")
    engine.unpause(boundary, skip_optimizer_step=request.skip_optimizer_step, num_steps=0)
    engine.reply(cid, resumed=debug_pb2.ResumeJobResponse(step=boundary.step))


def _step(
    engine: DebugEngine,
    trainer: Trainer,
    boundary: StepBoundary,
    cid: str,
    request: debug_pb2.StepJobRequest,
) -> None:
    _require_paused(engine, "step")
    engine.step_reply_id = cid
    engine.unpause(
        boundary, skip_optimizer_step=request.skip_optimizer_step, num_steps=request.num_steps
    )


def _snapshot(
    engine: DebugEngine,
    trainer: Trainer,
    boundary: StepBoundary,
    cid: str,
    request: debug_pb2.SnapshotTensorsRequest,
) -> None:
    if request.rank != engine.rank:
        if engine.delegate is None or not 0 <= request.rank < engine.world_size:
            raise CommandError(
                "INVALID_ARGUMENT",
                f"rank {request.rank} is not a rank of this job (world_size {engine.world_size})",
            )
        forwarded = worker_pb2.DebugCommand(
            correlation_id=cid, job_id=engine.job_id, snapshot=request
        )
        engine.delegate(request.rank, forwarded)  # that rank answers on its own stream
        return
    engine.stream(cid, "snapshot", lambda: snapshot_responses(trainer, boundary, request))


def _adjust_loss_weights(
    engine: DebugEngine,
    trainer: Trainer,
    boundary: StepBoundary,
    cid: str,
    request: debug_pb2.AdjustLossWeightsRequest,
) -> None:
    for task, weight in request.weights.items():
        if task not in trainer.user_weights:
            known = sorted(trainer.user_weights)
            raise CommandError("INVALID_ARGUMENT", f"unknown task {task!r}; tasks: {known}")
        if not math.isfinite(weight) or weight < 0:
            raise CommandError("INVALID_ARGUMENT", f"weight of {task} must be finite and >= 0")
    old = dict(trainer.user_weights)
    trainer.user_weights.update(request.weights)
    effective = boundary.step + 1
    for task, weight in sorted(request.weights.items()):
        engine.event(_setting(f"loss_weight.{task}", old[task], weight, effective, engine.caller))
    engine.reply(
        cid,
        loss_weights=debug_pb2.AdjustLossWeightsResponse(
            old_weights=old, new_weights=dict(trainer.user_weights), effective_step=effective
        ),
    )


def _set_learning_rate(
    engine: DebugEngine,
    trainer: Trainer,
    boundary: StepBoundary,
    cid: str,
    request: debug_pb2.SetLearningRateRequest,
) -> None:
    old = float(trainer.optimizer.param_groups[0]["lr"])
    for group in trainer.optimizer.param_groups:
        group["lr"] = request.learning_rate
    # The update of this boundary's step is still pending: it uses the new rate.
    engine.event(
        _setting("learning_rate", old, request.learning_rate, boundary.step, engine.caller)
    )
    engine.reply(
        cid,
        learning_rate=debug_pb2.SetLearningRateResponse(
            old_learning_rate=old,
            new_learning_rate=request.learning_rate,
            effective_step=boundary.step,
        ),
    )


def _capture_profile(
    engine: DebugEngine,
    trainer: Trainer,
    boundary: StepBoundary,
    cid: str,
    request: debug_pb2.CaptureProfileRequest,
) -> None:
    if engine.profile is not None or engine.pending_profile is not None:
        raise CommandError("FAILED_PRECONDITION", "a profile of this job is already being captured")
    if engine.paused is not None:
        raise CommandError(
            "FAILED_PRECONDITION",
            "the job is paused and would never reach the steps to profile; "
            "resume it first (or profile after `mtlctl step`)",
        )
    engine.pending_profile = (cid, request)


def _task_stats(
    engine: DebugEngine,
    trainer: Trainer,
    boundary: StepBoundary,
    cid: str,
    request: debug_pb2.GetTaskStatsRequest,
) -> None:
    state = job_pb2.JOB_STATE_PAUSED if engine.paused else job_pb2.JOB_STATE_RUNNING
    engine.reply(cid, task_stats=task_stats(trainer, boundary, engine.smoother, state))


def _set_breakpoint(
    engine: DebugEngine,
    trainer: Trainer,
    boundary: StepBoundary,
    cid: str,
    request: debug_types_pb2.Breakpoint,
) -> None:
    try:
        engine.breakpoints.arm(request)
    except ValueError as error:
        raise CommandError("INVALID_ARGUMENT", str(error)) from None
    engine.reply(cid, done=True)


def _delete_breakpoint(
    engine: DebugEngine,
    trainer: Trainer,
    boundary: StepBoundary,
    cid: str,
    request: debug_pb2.DeleteBreakpointRequest,
) -> None:
    if not engine.breakpoints.disarm(request.breakpoint_id):
        raise CommandError("NOT_FOUND", f"no breakpoint {request.breakpoint_id!r} is armed")
    engine.reply(cid, done=True)


def _checkpoint(
    engine: DebugEngine,
    trainer: Trainer,
    boundary: StepBoundary,
    cid: str,
    request: worker_pb2.CheckpointRequest,
) -> None:
    _require_paused(engine, "checkpoint")
    forks = CheckpointDirectory(trainer.checkpoints.directory / "forks", keep=FORK_CHECKPOINTS_KEPT)
    saved = forks.save(trainer.step, trainer.state_dict())
    engine.reply(
        cid,
        checkpoint=job_pb2.CheckpointSaved(
            step=saved.step, path=str(saved.path), size_bytes=saved.size_bytes
        ),
    )


def _setting(
    name: str, old: float, new: float, effective_step: int, caller: debug_types_pb2.Caller
) -> job_pb2.JobEvent:
    return job_pb2.JobEvent(
        setting_changed=debug_types_pb2.SettingChanged(
            name=name,
            old_value=old,
            new_value=new,
            effective_step=effective_step,
            changed_by=caller,
        )
    )


HANDLERS: dict[str, Handler] = {
    "pause": _pause,
    "resume": _resume,
    "step": _step,
    "snapshot": _snapshot,
    "adjust_loss_weights": _adjust_loss_weights,
    "set_learning_rate": _set_learning_rate,
    "capture_profile": _capture_profile,
    "task_stats": _task_stats,
    "set_breakpoint": _set_breakpoint,
    "delete_breakpoint": _delete_breakpoint,
    "checkpoint": _checkpoint,
}
