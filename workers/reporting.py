"""Step reports to the service, sent in batches rather than one message per step."""

from __future__ import annotations

from collections.abc import Callable

import torch

from mtl.v1 import job_pb2, worker_pb2
from workers.checkpoint import SavedCheckpoint
from workers.hooks import StepRecord, TrainerHook, TrainingOutcome
from workers.trainer import Trainer

Send = Callable[[worker_pb2.WorkerMessage], None]


class StepReporter(TrainerHook):
    """Buffers step records and sends them every `report_interval` steps.

    Losses stay on the device until a flush, where one stacked `.tolist()`
    reads them all: one host sync per report instead of one per task per step.
    """

    def __init__(self, *, job_id: str, report_interval: int, send: Send) -> None:
        self.job_id = job_id
        self.report_interval = report_interval
        self.send = send
        self._pending: list[StepRecord] = []

    def on_step_end(self, trainer: Trainer, record: StepRecord) -> None:
        self._pending.append(record)
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

    def on_train_end(self, trainer: Trainer, outcome: TrainingOutcome) -> None:
        self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        records, self._pending = self._pending, []
        task_names = list(records[0].losses)
        # One host sync for the whole batch: losses and weights of every step.
        values = torch.stack(
            [
                torch.stack(
                    [r.losses[n].float().reshape(()) for n in task_names]
                    + [
                        torch.as_tensor(r.weights[n]).float().reshape(()).to(r.losses[n].device)
                        for n in task_names
                    ]
                )
                for r in records
            ]
        ).tolist()
        steps = [
            _step_metrics(record, task_names, row)
            for record, row in zip(records, values, strict=True)
        ]
        self.send(
            worker_pb2.WorkerMessage(
                step_report=worker_pb2.JobStepReport(job_id=self.job_id, steps=steps)
            )
        )


def _step_metrics(
    record: StepRecord, task_names: list[str], row: list[float]
) -> job_pb2.StepMetrics:
    count = len(task_names)
    task_losses = dict(zip(task_names, row[:count], strict=True))
    task_weights = dict(zip(task_names, row[count:], strict=True))
    return job_pb2.StepMetrics(
        step=record.step,
        task_losses=task_losses,
        task_weights=task_weights,
        total_loss=sum(task_weights[name] * task_losses[name] for name in task_names),
        duration_seconds=record.duration_seconds,
        num_samples=record.num_samples,
        learning_rate=record.learning_rate,
    )
