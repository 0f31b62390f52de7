"""Step reports to the service, sent in batches rather than one message per step."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch

from mtl.v1 import job_pb2, worker_pb2
from workers.checkpoint import SavedCheckpoint
from workers.debug_clock import DebugClock
from workers.hooks import StepRecord, TrainerHook, TrainingOutcome
from workers.trainer import Trainer

Send = Callable[[worker_pb2.WorkerMessage], None]


class StepReporter(TrainerHook):
    """Buffers step records and sends them every `report_interval` steps.

    Losses, weights and task statistics stay on the device until a flush,
    where one concatenated `.tolist()` reads them all: one host sync per
    report instead of one per task per step. Validation metrics are already
    numbers (a validation pass reads its metrics anyway). Each step carries the
    seconds its debug hooks added to `clock` (the hooks before this one in the
    trainer's list have finished the step when this one takes them).
    """

    def __init__(
        self,
        *,
        job_id: str,
        report_interval: int,
        send: Send,
        clock: DebugClock | None = None,
    ) -> None:
        self.job_id = job_id
        self.report_interval = report_interval
        self.send = send
        self.clock = clock or DebugClock()
        self._pending: list[StepRecord] = []
        self._debug_seconds: list[float] = []

    def on_step_end(self, trainer: Trainer, record: StepRecord) -> None:
        self._pending.append(record)
        self._debug_seconds.append(self.clock.take())
        if len(self._pending) >= self.report_interval:
            self.flush()

    def on_checkpoint(self, trainer: Trainer, saved: SavedCheckpoint) -> None:
        self.send(
            worker_pb2.WorkerMessage(
                checkpoint_saved=worker_pb2.JobCheckpointSaved(
                    job_id=self.job_id,
                    checkpoint=job_pb2.CheckpointSaved(
                        step=saved.step,
                        path=str(saved.path),
                        size_bytes=saved.size_bytes,
                        duration_seconds=saved.duration_seconds,
                    ),
                )
            )
        )

    def on_pause(self, trainer: Trainer, step: int) -> None:
        self.flush()

    def on_train_end(self, trainer: Trainer, outcome: TrainingOutcome) -> None:
        self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        records, self._pending = self._pending, []
        debug_seconds, self._debug_seconds = self._debug_seconds, []
        task_names = list(records[0].losses)
        rows = _read_rows(records, task_names)
        steps = [
            _step_metrics(record, task_names, row, seconds)
            for record, row, seconds in zip(records, rows, debug_seconds, strict=True)
        ]
        self.send(
            worker_pb2.WorkerMessage(
                step_report=worker_pb2.JobStepReport(job_id=self.job_id, steps=steps)
            )
        )


def _read_rows(records: list[StepRecord], task_names: list[str]) -> list[list[float]]:
    """Each record's numbers as floats, read with one host sync for the whole
    batch: losses and weights in task order, then (on statistics steps) the
    gradient norms and the cosines of the task pairs in
    `itertools.combinations` order."""
    count, size = len(task_names), len(records) * len(task_names)
    # A step's losses come from one forward and its weights from one strategy
    # vector: one stack for all the losses, one for all the weights.
    losses = torch.stack([record.losses[name] for record in records for name in task_names])
    weights = torch.stack([record.weights[name] for record in records for name in task_names])
    parts = [losses.float(), weights.to(losses.device).float()]
    statistics = [r.task_statistics for r in records if r.task_statistics is not None]
    if statistics:
        pairs = torch.triu_indices(count, count, offset=1, device=losses.device)
        for stats in statistics:
            cosines = stats.cosines.to(losses.device)[pairs[0], pairs[1]]
            parts += [stats.norms.to(losses.device).float(), cosines.float()]
    values = torch.cat(parts).tolist()
    rows = [
        values[count * i : count * (i + 1)] + values[size + count * i : size + count * (i + 1)]
        for i in range(len(records))
    ]
    position, extra = 2 * size, count + count * (count - 1) // 2
    for record, row in zip(records, rows, strict=True):
        if record.task_statistics is not None:
            row += values[position : position + extra]
            position += extra
    return rows


def _step_metrics(
    record: StepRecord, task_names: list[str], row: list[float], debug_seconds: float
) -> job_pb2.StepMetrics:
    count = len(task_names)
    losses, weights = row[:count], row[count : 2 * count]
    metrics = job_pb2.StepMetrics(
        step=record.step,
        total_loss=sum(weight * loss for weight, loss in zip(weights, losses, strict=True)),
        duration_seconds=record.duration_seconds,
        num_samples=record.num_samples,
        learning_rate=record.learning_rate,
        debug_seconds=debug_seconds,
    )
    # Map entries set one by one: about half the cost of passing dicts to the constructor.
    for name, loss, weight in zip(task_names, losses, weights, strict=True):
        metrics.task_losses[name] = loss
        metrics.task_weights[name] = weight
    if record.validation_metrics:
        metrics.validation_metrics.update(record.validation_metrics)
    if record.task_statistics is not None:
        norms = row[2 * count : 3 * count]
        metrics.task_grad_norms.update(zip(task_names, norms, strict=True))
        metrics.grad_cosines.extend(
            job_pb2.TaskPairCosine(task_a=a, task_b=b, cosine=cosine)
            for (a, b), cosine in zip(
                itertools.combinations(task_names, 2), row[3 * count :], strict=True
            )
        )
    return metrics
