"""The worker process: take jobs from the service, train them, report back."""

from __future__ import annotations

import queue
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import structlog
import torch

from mtl.v1 import job_pb2, worker_pb2
from workers.checkpoint import CheckpointDirectory, read_checkpoint
from workers.connection import ServiceConnection
from workers.control import JobControl
from workers.debug.engine import DebugEngine
from workers.debug_clock import DebugClock
from workers.environment import describe_device, job_environment, resolve_device
from workers.job_build import build_components
from workers.reporting import StepReporter
from workers.task_statistics import TaskStatistics
from workers.trainer import Trainer

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _RunningJob:
    job_id: str
    control: JobControl
    trainer: Trainer | None = None


class WorkerRuntime:
    """One worker slot: a connection thread feeding a training loop on the main thread."""

    def __init__(
        self, *, service_address: str, worker_id: str, data_dir: Path, device: torch.device
    ) -> None:
        self.worker_id = worker_id
        self.data_dir = data_dir
        self.device = device
        self._assignments: queue.Queue[worker_pb2.AssignJob | None] = queue.Queue()
        self._current: _RunningJob | None = None
        self._lock = threading.Lock()
        self._shutting_down = threading.Event()
        self.connection = ServiceConnection(
            address=service_address,
            worker_id=worker_id,
            register=self._registration,
            on_message=self._on_message,
            heartbeat=self._heartbeat,
        )

    def run(self) -> None:
        """Serve jobs until `shutdown()`."""
        structlog.contextvars.bind_contextvars(worker_id=self.worker_id)
        self.connection.start()
        while (assignment := self._assignments.get()) is not None:
            self._run_job(assignment)
        self.connection.close(timeout_seconds=10.0)
        log.info("worker_stopped")

    def shutdown(self, reason: str) -> None:
        """Stop the running job resumably (it checkpoints), then leave."""
        log.info("worker_shutting_down", reason=reason)
        self._shutting_down.set()
        with self._lock:
            if self._current is not None:
                self._current.control.request_stop(reason, resumable=True)
        self._assignments.put(None)

    def _registration(self) -> worker_pb2.RegisterWorker:
        device, device_name = describe_device(self.device)
        with self._lock:
            running = self._current.job_id if self._current is not None else ""
        return worker_pb2.RegisterWorker(
            worker_id=self.worker_id,
            hostname=socket.gethostname(),
            device=device,
            device_name=device_name,
            running_job_id=running,
        )

    def _heartbeat(self) -> worker_pb2.Heartbeat:
        if self.device.type != "cuda":
            return worker_pb2.Heartbeat()
        return worker_pb2.Heartbeat(
            memory_allocated_bytes=torch.cuda.memory_allocated(self.device),
            memory_reserved_bytes=torch.cuda.memory_reserved(self.device),
        )

    def _on_message(self, message: worker_pb2.ServiceMessage) -> None:
        kind = message.WhichOneof("payload")
        if kind == "assign_job" and not self._shutting_down.is_set():
            self._assignments.put(message.assign_job)
        elif kind == "stop_job":
            self._stop_job(message.stop_job.job_id, message.stop_job.reason, resumable=False)
        elif kind == "debug_command":
            self._debug_command(message.debug_command)
        elif kind == "shutdown":
            with self._lock:
                running = self._current.job_id if self._current is not None else None
            if running is not None:
                self._stop_job(running, message.shutdown.reason, resumable=True)

    def _debug_command(self, command: worker_pb2.DebugCommand) -> None:
        with self._lock:
            current = self._current
        if current is not None and current.job_id == command.job_id:
            current.control.submit(command)
            return
        failure = worker_pb2.DebugFailure(
            code="UNAVAILABLE", message=f"job {command.job_id} is not running on this worker"
        )
        self.connection.send(
            worker_pb2.WorkerMessage(
                debug_reply=worker_pb2.DebugReply(
                    correlation_id=command.correlation_id, failure=failure
                )
            )
        )

    def _stop_job(self, job_id: str, reason: str, *, resumable: bool) -> None:
        with self._lock:
            current = self._current
            if current is None or current.job_id != job_id:
                return
            current.control.request_stop(reason, resumable=resumable)
        step = current.trainer.step if current.trainer is not None else 0
        log.info("job_stop_requested", job_id=job_id, step=step, resumable=resumable, reason=reason)

    def _run_job(self, assignment: worker_pb2.AssignJob) -> None:
        job_id = assignment.job_id
        structlog.contextvars.bind_contextvars(job_id=job_id)
        control = JobControl()
        with self._lock:
            self._current = _RunningJob(job_id=job_id, control=control)
        try:
            outcome_state, message, final_step = self._train(assignment, control)
        finally:
            with self._lock:
                self._current = None
        self.connection.send(
            worker_pb2.WorkerMessage(
                job_finished=worker_pb2.JobFinished(
                    job_id=job_id, state=outcome_state, message=message, final_step=final_step
                )
            )
        )
        log.info("job_left", state=job_pb2.JobState.Name(outcome_state), final_step=final_step)
        structlog.contextvars.unbind_contextvars("job_id", "step")

    def _train(self, assignment: worker_pb2.AssignJob, control: JobControl) -> tuple[int, str, int]:
        try:
            trainer = self._build_trainer(assignment, control)
        except Exception as error:  # the spec does not fit this problem or machine
            log.warning("job_build_failed", error=str(error))
            return job_pb2.JOB_STATE_FAILED, f"could not build the job: {error}", 0
        with self._lock:
            if self._current is not None:
                self._current.trainer = trainer
        preferred = assignment.resume_checkpoint_path
        restored = trainer.checkpoints.load_latest(Path(preferred) if preferred else None)
        if restored is not None:
            trainer.load_state_dict(restored[1])
            log.info("job_resumed", step=trainer.step)
        elif assignment.HasField("fork_origin"):
            origin = assignment.fork_origin
            trainer.load_fork_origin(read_checkpoint(Path(origin.checkpoint_path)))
            log.info("job_forked", parent_job_id=origin.parent_job_id, step=trainer.step)
        self.connection.send(
            worker_pb2.WorkerMessage(
                job_started=worker_pb2.JobStarted(
                    job_id=assignment.job_id,
                    environment=job_environment(trainer.device, self.worker_id),
                    resumed_from_step=trainer.step,
                )
            )
        )
        outcome = trainer.run()
        return outcome.state, outcome.message, outcome.final_step

    def _build_trainer(self, assignment: worker_pb2.AssignJob, control: JobControl) -> Trainer:
        spec = assignment.spec
        device = resolve_device(spec.device, str(self.device))
        send = self.connection.send
        # Debug hooks add their seconds; the reporter, last, reports them per step.
        clock = DebugClock()
        engine = DebugEngine(
            job_id=assignment.job_id,
            send=send,
            control=control,
            task_names=list(spec.tasks),
            breakpoints=assignment.breakpoints,
            nan_guard=not spec.disable_nan_guard,
            clock=clock,
        )
        reporter = StepReporter(
            job_id=assignment.job_id, report_interval=spec.report_interval, send=send, clock=clock
        )
        return Trainer(
            spec=spec,
            components=build_components(spec, device),
            device=device,
            checkpoints=CheckpointDirectory(self.data_dir / "checkpoints" / assignment.job_id),
            control=control,
            # Statistics first: step 3 of the boundary comes before the engine's conditions.
            hooks=[
                TaskStatistics(stats_interval=spec.stats_interval, clock=clock),
                engine,
                reporter,
            ],
        )
