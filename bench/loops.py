"""The two sides of every overhead ratio: a hand-written PyTorch loop and the real trainer."""

from __future__ import annotations

import queue
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from mtl.v1 import debug_types_pb2, job_pb2, spec_pb2, worker_pb2
from workers.checkpoint import CheckpointDirectory
from workers.control import JobControl
from workers.hooks import TrainerHook
from workers.job_build import build_components
from workers.mtl.model import Representation
from workers.mtl.problem import Problem
from workers.runtime import RunningJob, WorkerRuntime
from workers.trainer import Trainer

_STOP = object()


Finish = Callable[[], object]
Statistics = Callable[[dict[str, torch.Tensor], Representation], Finish | None]
"""Computes something from a step's losses and representation before its
backward; what it returns, if anything, runs right after that backward."""


class HandLoop:
    """What a user would write instead of submitting a job: the same model,
    optimizer and data order (built by workers.job_build from the same spec),
    then forward, weighted sum of the task losses, backward, optimizer.step().

    `statistics`, when given, runs after the forward and before the backward,
    and its finishing part after the backward (what the task-gradient
    benchmark times).
    """

    def __init__(
        self,
        spec: spec_pb2.JobSpec,
        device: torch.device,
        problem: Problem | None = None,
        statistics: Statistics | None = None,
    ) -> None:
        self.components = build_components(spec, device)
        if problem is not None:
            self.components.problem = problem
        self.device = device
        self.statistics = statistics
        tasks = self.components.tasks
        self.weights = {t.name: float(spec.loss_weights.get(t.name, 1.0)) for t in tasks}
        self.step = 0

    def run(self, num_steps: int) -> None:
        model, optimizer = self.components.model, self.components.optimizer
        data, order = self.components.problem.train_data, self.components.data_order
        for _ in range(num_steps):
            self.step += 1
            batch = data.batch(order.indices(self.step)).to(self.device)
            representation = model.encode(batch.inputs)
            predictions = model.decode(representation)
            losses = {
                task.name: task.loss(predictions[task.name], batch.targets[task.name])
                for task in self.components.tasks
            }
            finish = self.statistics(losses, representation) if self.statistics else None
            total = sum(self.weights[name] * loss for name, loss in losses.items())
            optimizer.zero_grad(set_to_none=True)
            total.backward()  # type: ignore[union-attr]
            if finish is not None:
                finish()
            optimizer.step()


class SerialisingConsumer:
    """Stands in for the worker's connection: `send` queues the message and a
    thread serialises it, as the real connection thread does before gRPC
    writes it. Counts what went through."""

    def __init__(self) -> None:
        self.num_messages = 0
        self.num_bytes = 0
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._drain, name="bench-consumer", daemon=True)
        self._thread.start()

    def send(self, message: worker_pb2.WorkerMessage) -> None:
        self._queue.put(message)

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def _drain(self) -> None:
        while (message := self._queue.get()) is not _STOP:
            self.num_bytes += len(message.SerializeToString())  # type: ignore[attr-defined]
            self.num_messages += 1


def breakpoint_specs(conditions: Sequence[str]) -> list[debug_types_pb2.Breakpoint]:
    """Armed pause breakpoints, ids bp-1, bp-2, ... as the service assigns them."""
    return [
        debug_types_pb2.Breakpoint(
            id=f"bp-{index}", condition=condition, action=debug_types_pb2.BREAKPOINT_ACTION_PAUSE
        )
        for index, condition in enumerate(conditions, start=1)
    ]


def worker_trainer(
    spec: spec_pb2.JobSpec,
    *,
    device: torch.device,
    send: Callable[[worker_pb2.WorkerMessage], None],
    breakpoints: Sequence[str] = (),
) -> Trainer:
    """The trainer a real worker builds for this assignment, with the hooks it uses.

    It goes through `WorkerRuntime._build_trainer` (private, deliberately) so
    that the benchmark follows whatever hooks the runtime wires in; the
    runtime never dials (its connection is replaced by `send`'s owner).
    """
    runtime = WorkerRuntime(
        service_address="127.0.0.1:1",
        worker_id="bench",
        data_dir=Path(tempfile.mkdtemp(prefix="mtl-bench-")),
        device=device,
    )
    runtime.connection = _Sender(send)  # type: ignore[assignment]
    assignment = worker_pb2.AssignJob(
        job_id="bench-job", spec=spec, breakpoints=breakpoint_specs(breakpoints)
    )
    return runtime._build_trainer(assignment, RunningJob(job_id="bench-job", control=JobControl()))


def hooked_trainer(
    spec: spec_pb2.JobSpec,
    *,
    device: torch.device,
    hooks: Callable[[JobControl], list[TrainerHook]],
) -> Trainer:
    """A trainer with the hooks `hooks(control)` gives (none: the bare loop),
    on its own copy of `spec` (`run_trainer` sets its steps)."""
    control = JobControl()
    own_spec = spec_pb2.JobSpec()
    own_spec.CopyFrom(spec)
    return Trainer(
        spec=own_spec,
        components=build_components(spec, device),
        device=device,
        checkpoints=CheckpointDirectory(Path(tempfile.mkdtemp(prefix="mtl-bench-"))),
        control=control,
        hooks=hooks(control),
    )


def run_trainer(trainer: Trainer, num_steps: int) -> None:
    """`num_steps` more steps through `Trainer.run`, the loop a job runs."""
    trainer.spec.steps = trainer.step + num_steps
    outcome = trainer.run()
    if outcome.state != job_pb2.JOB_STATE_SUCCEEDED or outcome.final_step != trainer.spec.steps:
        raise RuntimeError(f"the benchmark job did not run through: {outcome}")


class _Sender:
    """The part of ServiceConnection the runtime uses when it builds a trainer."""

    def __init__(self, send: Callable[[worker_pb2.WorkerMessage], None]) -> None:
        self.send = send
