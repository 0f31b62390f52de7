"""The debug engine: the trainer hook behind breakpoints, the NaN guard, pause and step.

At every step boundary (after backward, before `optimizer.step()`) it runs
steps 3-5 of ARCHITECTURE.md: statistics due this step, then the NaN guard and
the armed breakpoint conditions, then the pending debug commands. A paused job
waits inside this hook, answering commands, until it is resumed or stopped.
An error inside a debug feature is answered to its caller and recorded as a
job event; it never fails the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import structlog
from google.protobuf.message import Message

from mtl.v1 import debug_pb2, debug_types_pb2, job_pb2, worker_pb2
from mtl_service.spec.conditions import MissingValueError
from workers.control import JobControl
from workers.debug.breakpoints import ArmedBreakpoint, BreakpointSet
from workers.debug.command_error import CommandError
from workers.debug.commands import execute
from workers.debug.gradient_norm import GradientNorm
from workers.debug.nan_guard import check_step, guarded_names
from workers.debug.profiler import ProfileCapture
from workers.debug.snapshot import collect_tensors, tensor_info
from workers.debug.task_stats import LossSmoother
from workers.debug.values import StepValues
from workers.debug_clock import DebugClock
from workers.hooks import StepBoundary, StepRecord, TrainerHook, TrainingOutcome

if TYPE_CHECKING:
    from workers.trainer import Trainer

log = structlog.get_logger(__name__)
Send = Callable[[worker_pb2.WorkerMessage], None]
Delegate = Callable[[int, worker_pb2.DebugCommand], None]


class DebugEngine(TrainerHook):
    """Breakpoints, NaN guard, pause/step/resume and command execution for one job."""

    def __init__(
        self,
        *,
        job_id: str,
        send: Send,
        control: JobControl,
        task_names: Sequence[str],
        breakpoints: Sequence[debug_types_pb2.Breakpoint] = (),
        nan_guard: bool = True,
        rank: int = 0,
        world_size: int = 1,
        delegate: Delegate | None = None,
        clock: DebugClock | None = None,
    ) -> None:
        """`rank`, `world_size` and `delegate` place the engine in a distributed
        job: a command for another rank goes to `delegate(rank, command)`."""
        self.job_id = job_id
        self.send = send
        self.control = control
        self.task_names = list(task_names)
        self.nan_guard = nan_guard
        self.rank = rank
        self.world_size = world_size
        self.delegate = delegate
        self._guarded_names = guarded_names(self.task_names)
        self.breakpoints = BreakpointSet(task_names)
        for breakpoint in breakpoints:
            self.breakpoints.arm(breakpoint)
        self.paused: debug_types_pb2.Paused | None = None
        self.steps_to_run: int | None = None
        self.step_reply_id: str | None = None
        # Who sent the command being executed; recorded on the settings it changes.
        self.caller = debug_types_pb2.Caller()
        self.profile: ProfileCapture | None = None
        self.pending_profile: tuple[str, Message] | None = None
        self.smoother = LossSmoother(self.task_names)
        # Counts the engine's work, not the time a paused job waits for commands.
        self.clock = clock or DebugClock()
        self._trainer: Trainer | None = None
        self._gradient_norm: GradientNorm | None = None

    def on_train_start(self, trainer: Trainer) -> None:
        self._trainer = trainer
        self._gradient_norm = GradientNorm(trainer.model)

    def wants_task_gradients(self, trainer: Trainer, step: int) -> bool:
        return self.breakpoints.task_gradients_due(step)

    def on_step_boundary(self, trainer: Trainer, boundary: StepBoundary) -> None:
        started = time.perf_counter()
        self._check(trainer, boundary)
        self.clock.add(time.perf_counter() - started)
        self._serve_commands(trainer, boundary)

    def _check(self, trainer: Trainer, boundary: StepBoundary) -> None:
        """The NaN guard, the due breakpoints and a pending single step."""
        assert self._gradient_norm is not None, "on_train_start runs first"
        due = self.breakpoints.due(boundary.step)
        names = set().union(*(armed.condition.names for armed in due))
        if self.nan_guard:
            names.update(self._guarded_names)
        # One host read per step at most: what the guard and the due breakpoints need.
        values = StepValues(trainer, boundary, self._gradient_norm).read(names) if names else {}
        if self.nan_guard:
            found = check_step(trainer.model, self.task_names, values)
            if found is not None:
                self.pause(
                    boundary,
                    debug_types_pb2.PAUSE_REASON_NAN_GUARD,
                    detail=found.detail,
                    task=found.task,
                    tensor=found.tensor,
                )
        self._evaluate_breakpoints(trainer, boundary, due, values)
        if self.steps_to_run is not None:
            self.steps_to_run -= 1
            if self.steps_to_run <= 0:
                self.pause(boundary, debug_types_pb2.PAUSE_REASON_STEP)

    def on_step_end(self, trainer: Trainer, record: StepRecord) -> None:
        started = time.perf_counter()
        self._step_ended(record)
        self.clock.add(time.perf_counter() - started)

    def _step_ended(self, record: StepRecord) -> None:
        self.smoother.update(record.losses)
        if self.pending_profile is not None:
            correlation_id, request = self.pending_profile
            self.pending_profile = None
            self.profile = ProfileCapture(correlation_id, request, record.step)  # type: ignore[arg-type]
        elif self.profile is not None and self.profile.step_finished(record.step):
            capture, self.profile = self.profile, None
            self.stream(capture.correlation_id, "profile", capture.finish)

    def on_train_end(self, trainer: Trainer, outcome: TrainingOutcome) -> None:
        ended = CommandError("FAILED_PRECONDITION", "the job stopped before the command finished")
        if self.step_reply_id is not None:
            self.fail(self.step_reply_id, ended)
        pending = self.profile.correlation_id if self.profile else None
        pending = pending or (self.pending_profile[0] if self.pending_profile else None)
        if pending is not None:
            if self.profile is not None:
                self.profile.abandon()
            self.fail(pending, ended)

    def pause(
        self,
        boundary: StepBoundary,
        reason: int,
        *,
        detail: str = "",
        task: str = "",
        tensor: str = "",
        paused_by: debug_types_pb2.Caller | None = None,
    ) -> None:
        """Pause at this boundary (the optimizer update of the step is pending)."""
        if self.paused is not None:
            return
        self.paused = debug_types_pb2.Paused(
            step=boundary.step,
            reason=reason,
            detail=detail,
            task=task,
            tensor=tensor,
            paused_by=paused_by,
        )
        self.steps_to_run = None
        self.event(job_pb2.JobEvent(paused=self.paused))
        reason_name = debug_types_pb2.PauseReason.Name(reason).removeprefix("PAUSE_REASON_")
        log.info("job_paused", step=boundary.step, reason=reason_name.lower(), detail=detail)
        if self.step_reply_id is not None:
            reply_id, self.step_reply_id = self.step_reply_id, None
            self.reply(reply_id, stepped=_stepped(boundary.step))
        if self._trainer is not None:
            for hook in self._trainer.hooks:
                hook.on_pause(self._trainer, boundary.step)

    def unpause(self, boundary: StepBoundary, *, skip_optimizer_step: bool, num_steps: int) -> None:
        self.paused = None
        boundary.skip_optimizer_step = skip_optimizer_step
        self.steps_to_run = num_steps or None
        self.event(
            job_pb2.JobEvent(
                resumed=debug_types_pb2.Resumed(
                    step=boundary.step,
                    skipped_optimizer_step=skip_optimizer_step,
                    num_steps=num_steps,
                    resumed_by=self.caller,
                )
            )
        )

    def event(self, event: job_pb2.JobEvent) -> None:
        self.send(
            worker_pb2.WorkerMessage(
                job_event=worker_pb2.JobEventReport(job_id=self.job_id, event=event)
            )
        )

    def reply(self, correlation_id: str, *, more: bool = False, **result: Message | bool) -> None:
        self.send(
            worker_pb2.WorkerMessage(
                debug_reply=worker_pb2.DebugReply(
                    correlation_id=correlation_id, more=more, **result
                )
            )
        )

    def fail(self, correlation_id: str, error: CommandError) -> None:
        failure = worker_pb2.DebugFailure(code=error.code, message=error.message)
        self.reply(correlation_id, failure=failure)

    def debug_error(self, feature: str, message: str, step: int) -> None:
        log.warning("debug_feature_failed", feature=feature, error=message, step=step)
        error = debug_types_pb2.DebugError(feature=feature, message=message, step=step)
        self.event(job_pb2.JobEvent(debug_error=error))

    def stream(self, correlation_id: str, field: str, produce: Callable[[], Any]) -> None:
        """Send every item `produce()` yields as one reply of a stream (fail open)."""
        try:
            items = list(produce())
        except CommandError as error:
            self.fail(correlation_id, error)
            return
        for index, item in enumerate(items):
            self.reply(correlation_id, more=index < len(items) - 1, **{field: item})

    def _evaluate_breakpoints(
        self,
        trainer: Trainer,
        boundary: StepBoundary,
        due: Sequence[ArmedBreakpoint],
        read: Mapping[str, float],
    ) -> None:
        for armed in due:
            try:
                hit = armed.condition.evaluate(read)
            except MissingValueError as error:
                self.breakpoints.disarm(armed.spec.id)
                self.debug_error("breakpoint", f"{armed.spec.id} disarmed: {error}", boundary.step)
                continue
            if hit:
                self._hit(trainer, boundary, armed, armed.condition.values_of(read))

    def _hit(
        self,
        trainer: Trainer,
        boundary: StepBoundary,
        armed: ArmedBreakpoint,
        values: Mapping[str, float],
    ) -> None:
        armed.spec.hit_count += 1
        hit = debug_types_pb2.BreakpointHit(
            breakpoint_id=armed.spec.id,
            condition=armed.spec.condition,
            step=boundary.step,
            action=armed.spec.action,
            values=values,
        )
        if armed.spec.action == debug_types_pb2.BREAKPOINT_ACTION_SNAPSHOT:
            try:
                selected = collect_tensors(trainer, boundary, list(armed.spec.snapshot_selectors))
                hit.tensors.extend(tensor_info(n, t, with_data=False) for n, t in selected.items())
            except CommandError as error:
                self.debug_error("snapshot", f"{armed.spec.id}: {error.message}", boundary.step)
        self.event(job_pb2.JobEvent(breakpoint_hit=hit))
        log.info("breakpoint_hit", breakpoint_id=armed.spec.id, step=boundary.step)
        if armed.spec.action == debug_types_pb2.BREAKPOINT_ACTION_PAUSE:
            detail = f"{armed.spec.id}: {armed.spec.condition}"
            self.pause(boundary, debug_types_pb2.PAUSE_REASON_BREAKPOINT, detail=detail)

    def _serve_commands(self, trainer: Trainer, boundary: StepBoundary) -> None:
        while (command := self.control.next_command(wait=self.paused is not None)) is not None:
            started = time.perf_counter()
            execute(self, trainer, boundary, command)
            self.clock.add(time.perf_counter() - started)

    def state_dict(self) -> dict[str, Any]:
        return {"breakpoints": self.breakpoints.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.breakpoints.load_state_dict(state.get("breakpoints", {}))


def _stepped(step: int) -> Message:
    return debug_pb2.StepJobResponse(step=step)
