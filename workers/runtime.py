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
from workers.connection import ChannelSecurity, ServiceConnection
from workers.control import JobControl
from workers.debug.engine import DebugEngine
from workers.debug_clock import DebugClock
from workers.distributed.group import RankGroup, RankLost
from workers.distributed.ranks import (
    RendezvousMailbox,
    control_for,
    meet,
    rank_group,
    share_initial_state,
)
from workers.distributed.rendezvous import default_advertise_host
from workers.distributed.sync import FollowerControl, FollowerSync, LeaderControl, LeaderSync
from workers.environment import describe_device, job_environment, resolve_device
from workers.hooks import StopTraining, TrainerHook, TrainingOutcome, stopped_outcome
from workers.job_build import build_components
from workers.reporting import StepReporter
from workers.task_statistics import TaskStatistics
from workers.trainer import Trainer

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class RunningJob:
    """The job a worker runs now: its mailbox, its trainer once built, and its
    rank group when it is distributed."""

    job_id: str
    control: JobControl
    trainer: Trainer | None = None
    group: RankGroup | None = None


class WorkerRuntime:
    """One worker slot: a connection thread feeding a training loop on the main thread."""

    def __init__(
        self,
        *,
        service_address: str,
        worker_id: str,
        data_dir: Path,
        device: torch.device,
        advertise_host: str | None = None,
        security: ChannelSecurity | None = None,
    ) -> None:
        """`advertise_host`: where the other ranks of a distributed job reach
        this worker when it is rank 0 (default: the address the route to the
        service leaves from). `security`: TLS files and token for the
        connection; None dials in plain text."""
        self.worker_id = worker_id
        self.data_dir = data_dir
        self.device = device
        self._assignments: queue.Queue[worker_pb2.AssignJob | None] = queue.Queue()
        self._current: RunningJob | None = None
        self._lock = threading.Lock()
        self._shutting_down = threading.Event()
        self._rendezvous = RendezvousMailbox()
        self.advertise_host = advertise_host or default_advertise_host(service_address)
        self.connection = ServiceConnection(
            address=service_address,
            worker_id=worker_id,
            register=self._registration,
            on_message=self._on_message,
            heartbeat=self._heartbeat,
            security=security or ChannelSecurity(),
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
        """Drain: tell the service, stop the running job resumably (it checkpoints
        and is handed back), hand back any job still assigned, then leave.

        Call it from a thread, not a signal handler: it takes the runtime's lock."""
        with self._lock:
            if self._shutting_down.is_set():
                return
            log.info("worker_shutting_down", reason=reason)
            self._shutting_down.set()
            # Before the job is handed back, so the service never sees this worker idle.
            self.connection.send(
                worker_pb2.WorkerMessage(draining=worker_pb2.Draining(reason=reason))
            )
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
            draining=self._shutting_down.is_set(),
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
        if kind == "assign_job":
            with self._lock:
                if not self._shutting_down.is_set():
                    self._assignments.put(message.assign_job)
                    return
            self._hand_back(message.assign_job.job_id)
        elif kind == "stop_job":
            self._stop_job(message.stop_job.job_id, message.stop_job.reason, resumable=False)
        elif kind == "debug_command":
            self._debug_command(message.debug_command)
        elif kind == "rendezvous":
            self._rendezvous.deliver(message.rendezvous)
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

    def _hand_back(self, job_id: str) -> None:
        """Return a job assigned while draining, unstarted, instead of dropping it."""
        log.info("job_handed_back", job_id=job_id)
        message = f"worker {self.worker_id} is draining; handed back unstarted"
        self.connection.send(
            worker_pb2.WorkerMessage(
                job_finished=worker_pb2.JobFinished(
                    job_id=job_id, state=job_pb2.JOB_STATE_QUEUED, message=message
                )
            )
        )

    def _run_job(self, assignment: worker_pb2.AssignJob) -> None:
        job_id = assignment.job_id
        group = rank_group(assignment)
        running = RunningJob(job_id=job_id, control=control_for(group), group=group)
        with self._lock:
            # An assignment queued just before shutdown() must not start.
            if self._shutting_down.is_set():
                self._hand_back(job_id)
                return
            self._current = running
        structlog.contextvars.bind_contextvars(job_id=job_id)
        if group is not None:
            structlog.contextvars.bind_contextvars(rank=group.rank)
        try:
            outcome = self._train(assignment, running)
        finally:
            with self._lock:
                self._current = None
        self.connection.send(
            worker_pb2.WorkerMessage(
                job_finished=worker_pb2.JobFinished(
                    job_id=job_id,
                    state=outcome.state,
                    message=outcome.message,
                    final_step=outcome.final_step,
                    rank_lost=outcome.rank_lost,
                )
            )
        )
        if group is not None:
            group.close()  # after JobFinished: the service hears this rank's outcome first
        log.info(
            "job_left", state=job_pb2.JobState.Name(outcome.state), final_step=outcome.final_step
        )
        structlog.contextvars.unbind_contextvars("job_id", "step", "rank")

    def _train(self, assignment: worker_pb2.AssignJob, running: RunningJob) -> TrainingOutcome:
        try:
            trainer = self._build_trainer(assignment, running)
        except Exception as error:  # the spec does not fit this problem or machine
            log.warning("job_build_failed", error=str(error))
            message = f"could not build the job: {error}"
            return TrainingOutcome(state=job_pb2.JOB_STATE_FAILED, final_step=0, message=message)
        with self._lock:
            running.trainer = trainer
        group = running.group
        if group is None or group.is_leader:
            self._restore(trainer, assignment)
        if group is not None:
            try:
                meet(
                    group,
                    assignment,
                    mailbox=self._rendezvous,
                    advertise_host=self.advertise_host,
                    send=self.connection.send,
                    control=running.control,
                    device=trainer.device,
                )
                share_initial_state(trainer, group)
            except StopTraining as stop:
                return stopped_outcome(stop.stop, trainer.step)
            except RankLost as error:
                log.warning("rank_lost", error=str(error))
                return TrainingOutcome(
                    state=job_pb2.JOB_STATE_QUEUED,
                    final_step=trainer.step,
                    message=str(error),
                    rank_lost=True,
                )
            except Exception as error:
                log.exception("rank_setup_failed")
                message = f"rank {group.rank} could not start: {type(error).__name__}: {error}"
                return TrainingOutcome(
                    state=job_pb2.JOB_STATE_FAILED, final_step=trainer.step, message=message
                )
        if group is None or group.is_leader:
            self.connection.send(
                worker_pb2.WorkerMessage(
                    job_started=worker_pb2.JobStarted(
                        job_id=assignment.job_id,
                        environment=job_environment(trainer.device, self.worker_id),
                        resumed_from_step=trainer.step,
                    )
                )
            )
        return trainer.run()

    def _restore(self, trainer: Trainer, assignment: worker_pb2.AssignJob) -> None:
        """Load the job's latest good checkpoint, or its fork origin."""
        preferred = assignment.resume_checkpoint_path
        restored = trainer.checkpoints.load_latest(Path(preferred) if preferred else None)
        if restored is not None:
            trainer.load_state_dict(restored[1])
            log.info("job_resumed", step=trainer.step)
        elif assignment.HasField("fork_origin"):
            origin = assignment.fork_origin
            trainer.load_fork_origin(read_checkpoint(Path(origin.checkpoint_path)))
            log.info("job_forked", parent_job_id=origin.parent_job_id, step=trainer.step)

    def _build_trainer(self, assignment: worker_pb2.AssignJob, running: RunningJob) -> Trainer:
        spec = assignment.spec
        device = resolve_device(spec.device, str(self.device))
        return Trainer(
            spec=spec,
            components=build_components(spec, device),
            device=device,
            checkpoints=CheckpointDirectory(self.data_dir / "checkpoints" / assignment.job_id),
            control=running.control,
            hooks=self._hooks(assignment, running),
            ranks=running.group,
        )

    def _hooks(self, assignment: worker_pb2.AssignJob, running: RunningJob) -> list[TrainerHook]:
        """Rank 0 (or the only rank) reports and debugs the job; another rank
        follows rank 0's decisions and answers the snapshots meant for it."""
        spec, control, group = assignment.spec, running.control, running.group
        send = self.connection.send
        leader = group is None or group.is_leader
        # Debug hooks add their seconds; the reporter, last, reports them per step.
        clock = DebugClock()
        engine = DebugEngine(
            job_id=assignment.job_id,
            send=send,
            control=control,
            task_names=list(spec.tasks),
            breakpoints=assignment.breakpoints if leader else (),
            nan_guard=leader and not spec.disable_nan_guard,
            rank=group.rank if group is not None else 0,
            world_size=group.world_size if group is not None else 1,
            delegate=control.delegate if isinstance(control, LeaderControl) else None,
            clock=clock,
        )
        if group is not None and isinstance(control, FollowerControl):
            return [FollowerSync(group, control, engine)]
        reporter = StepReporter(
            job_id=assignment.job_id, report_interval=spec.report_interval, send=send, clock=clock
        )
        # Statistics first: step 3 of the boundary comes before the engine's conditions.
        statistics = TaskStatistics(stats_interval=spec.stats_interval, clock=clock)
        hooks: list[TrainerHook] = [statistics, engine, reporter]
        if group is not None and isinstance(control, LeaderControl):
            hooks.append(LeaderSync(group, control))
        return hooks
