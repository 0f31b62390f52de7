"""Every Prometheus metric of the service, defined once, on a registry passed in.

Per-job series (labels `job_id`, `task`) are removed `job_retention_seconds`
after the job ends, so the number of series follows the live jobs.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mtl.v1 import job_pb2

STEP_DURATION_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


def state_label(state: int) -> str:
    """`JOB_STATE_RUNNING` -> `running`."""
    return job_pb2.JobState.Name(state).removeprefix("JOB_STATE_").lower()


class ServiceMetrics:
    """The service's metrics and the bookkeeping to drop a finished job's series."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.jobs = Gauge("mtl_jobs", "Jobs by state.", ["state"], registry=registry)
        self.job_step = Gauge(
            "mtl_job_step", "Last step a job reported.", ["job_id"], registry=registry
        )
        self.task_loss = Gauge(
            "mtl_task_loss", "Latest loss of each task.", ["job_id", "task"], registry=registry
        )
        self.task_loss_weight = Gauge(
            "mtl_task_loss_weight",
            "Loss weight in effect for each task.",
            ["job_id", "task"],
            registry=registry,
        )
        self.train_samples = Counter(
            "mtl_train_samples", "Samples trained on.", ["job_id"], registry=registry
        )
        self.step_duration = Histogram(
            "mtl_step_duration_seconds",
            "Wall time of one training step, forward to optimizer update.",
            ["job_id"],
            buckets=STEP_DURATION_BUCKETS,
            registry=registry,
        )
        self.workers = Gauge(
            "mtl_workers", "Connected workers by state.", ["state"], registry=registry
        )
        self.job_paused_gauge = Gauge(
            "mtl_job_paused",
            "1 while the job is paused, labelled with why (user, breakpoint, nan_guard, step).",
            ["job_id", "reason"],
            registry=registry,
        )
        self.paused_seconds = Counter(
            "mtl_job_paused_seconds", "Time the job spent paused.", ["job_id"], registry=registry
        )
        self.pauses = Counter(
            "mtl_job_pauses", "Times the job paused.", ["job_id"], registry=registry
        )
        self.breakpoint_hits = Counter(
            "mtl_breakpoint_hits", "Breakpoint conditions that held.", ["job_id"], registry=registry
        )
        self._job_tasks: dict[str, set[str]] = defaultdict(set)
        self._paused: dict[str, tuple[str, float]] = {}

    def set_job_counts(self, counts: dict[int, int]) -> None:
        """Set `mtl_jobs` for every state, zero where there are none."""
        for state in job_pb2.JobState.values():
            if state != job_pb2.JOB_STATE_UNSPECIFIED:
                self.jobs.labels(state=state_label(state)).set(counts.get(state, 0))

    def set_worker_counts(self, *, busy: int, idle: int) -> None:
        self.workers.labels(state="busy").set(busy)
        self.workers.labels(state="idle").set(idle)

    def observe_steps(self, job_id: str, steps: Iterable[job_pb2.StepMetrics]) -> None:
        """Fold a batch of step reports into the job's series."""
        last: job_pb2.StepMetrics | None = None
        for metrics in steps:
            self.step_duration.labels(job_id=job_id).observe(metrics.duration_seconds)
            self.train_samples.labels(job_id=job_id).inc(metrics.num_samples)
            last = metrics
        if last is None:
            return
        self.job_step.labels(job_id=job_id).set(last.step)
        for task, loss in last.task_losses.items():
            self._job_tasks[job_id].add(task)
            self.task_loss.labels(job_id=job_id, task=task).set(loss)
        for task, weight in last.task_weights.items():
            self._job_tasks[job_id].add(task)
            self.task_loss_weight.labels(job_id=job_id, task=task).set(weight)

    def job_paused(self, job_id: str, reason: str) -> None:
        self.job_resumed(job_id)
        self._paused[job_id] = (reason, time.monotonic())
        self.job_paused_gauge.labels(job_id=job_id, reason=reason).set(1)
        self.pauses.labels(job_id=job_id).inc()

    def job_resumed(self, job_id: str) -> None:
        """End the job's pause, if it has one, adding its duration."""
        paused = self._paused.pop(job_id, None)
        if paused is None:
            return
        reason, since = paused
        _remove(self.job_paused_gauge, job_id, reason)
        self.paused_seconds.labels(job_id=job_id).inc(time.monotonic() - since)

    def forget_job(self, job_id: str) -> None:
        """Remove every series of the job (after its retention ran out)."""
        self.job_resumed(job_id)
        for metric in (
            self.job_step,
            self.train_samples,
            self.step_duration,
            self.paused_seconds,
            self.pauses,
            self.breakpoint_hits,
        ):
            _remove(metric, job_id)
        for task in self._job_tasks.pop(job_id, set()):
            for metric in (self.task_loss, self.task_loss_weight):
                _remove(metric, job_id, task)


def _remove(metric: Gauge | Counter | Histogram, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # the job never reported this series
        metric.remove(*labels)
