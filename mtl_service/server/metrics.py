"""Every Prometheus metric of the service, defined once, on a registry passed in.

Per-job series (label `job_id`) are removed `job_retention_seconds` after the
job ends, and a worker's GPU series when it disconnects, so the number of
series follows the live jobs and workers.

Samples per second is not a metric of its own: `rate(mtl_train_samples_total[1m])`
gives it, pauses included (a paused job trains nothing), and a gauge would only
repeat the counter.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mtl.v1 import job_pb2, worker_pb2

STEP_DURATION_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
CHECKPOINT_DURATION_BUCKETS = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
# The validation key that is the job's multi-task delta-m%, not a task's metric.
DELTA_M_KEY = "delta_m_percent"

Metric = TypeVar("Metric", Gauge, Counter, Histogram)
# A labelled child: its metric and label values, job_id first.
Series = tuple[Gauge | Counter | Histogram, tuple[str, ...]]


def state_label(state: int) -> str:
    """`JOB_STATE_RUNNING` -> `running`."""
    return job_pb2.JobState.Name(state).removeprefix("JOB_STATE_").lower()


class ServiceMetrics:
    """The service's metrics and the bookkeeping to drop a finished job's series."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._define_fleet_metrics(registry)
        self._define_training_metrics(registry)
        self._define_debug_metrics(registry)
        # Every labelled child a job has, so that forget_job removes them all.
        self._job_series: defaultdict[str, set[Series]] = defaultdict(set)
        self._worker_devices: dict[str, str] = {}
        self._paused: dict[str, tuple[str, float]] = {}

    def _define_fleet_metrics(self, registry: CollectorRegistry) -> None:
        self.jobs = Gauge("mtl_jobs", "Jobs by state.", ["state"], registry=registry)
        self.queue_length = Gauge(
            "mtl_queue_length", "Jobs waiting for a worker slot.", registry=registry
        )
        self.workers = Gauge(
            "mtl_workers", "Connected workers by state.", ["state"], registry=registry
        )
        self.worker_slots = Gauge(
            "mtl_worker_slots",
            "Worker slots by state (busy, free, draining).",
            ["state"],
            registry=registry,
        )
        self.workers_lost = Counter(
            "mtl_workers_lost",
            "Workers that dropped their stream while holding a job, or missed heartbeats.",
            registry=registry,
        )
        self.gpu_memory_allocated = Gauge(
            "mtl_gpu_memory_allocated_bytes",
            "GPU memory torch has allocated on a worker's device.",
            ["worker_id", "device"],
            registry=registry,
        )
        self.gpu_memory_reserved = Gauge(
            "mtl_gpu_memory_reserved_bytes",
            "GPU memory torch's caching allocator reserved on a worker's device.",
            ["worker_id", "device"],
            registry=registry,
        )
        self.checkpoint_duration = Histogram(
            "mtl_checkpoint_duration_seconds",
            "Wall time to serialize, write and fsync one checkpoint.",
            buckets=CHECKPOINT_DURATION_BUCKETS,
            registry=registry,
        )

    def _define_training_metrics(self, registry: CollectorRegistry) -> None:
        job, task = ["job_id"], ["job_id", "task"]
        self.job_step = Gauge("mtl_job_step", "Last step a job reported.", job, registry=registry)
        self.task_loss = Gauge(
            "mtl_task_loss", "Latest loss of each task.", task, registry=registry
        )
        self.task_loss_weight = Gauge(
            "mtl_task_loss_weight", "Loss weight in effect for each task.", task, registry=registry
        )
        self.task_grad_norm = Gauge(
            "mtl_task_grad_norm",
            "Norm of each task's gradient on the shared part, every stats_interval steps.",
            task,
            registry=registry,
        )
        self.task_grad_cosine = Gauge(
            "mtl_task_grad_cosine",
            "Cosine between two tasks' gradients, every stats_interval steps.",
            ["job_id", "task_a", "task_b"],
            registry=registry,
        )
        self.validation_metric = Gauge(
            "mtl_validation_metric",
            "Latest validation metric of each task, every eval_interval steps.",
            ["job_id", "task", "metric"],
            registry=registry,
        )
        self.multitask_delta = Gauge(
            "mtl_job_multitask_delta_ratio",
            "Multi-task delta-m% / 100 against the spec's single-task baselines.",
            job,
            registry=registry,
        )
        self.train_samples = Counter(
            "mtl_train_samples", "Samples trained on.", job, registry=registry
        )
        self.step_duration = Histogram(
            "mtl_step_duration_seconds",
            "Wall time of one training step, forward to optimizer update.",
            job,
            buckets=STEP_DURATION_BUCKETS,
            registry=registry,
        )
        self.checkpoint_size = Gauge(
            "mtl_checkpoint_size_bytes",
            "Size of the job's latest checkpoint.",
            job,
            registry=registry,
        )

    def _define_debug_metrics(self, registry: CollectorRegistry) -> None:
        job = ["job_id"]
        self.job_paused_gauge = Gauge(
            "mtl_job_paused",
            "1 while the job is paused, labelled with why (user, breakpoint, nan_guard, step).",
            ["job_id", "reason"],
            registry=registry,
        )
        self.paused_seconds = Counter(
            "mtl_job_paused_seconds", "Time the job spent paused.", job, registry=registry
        )
        self.pauses = Counter("mtl_job_pauses", "Times the job paused.", job, registry=registry)
        self.breakpoint_hits = Counter(
            "mtl_breakpoint_hits", "Breakpoint conditions that held.", job, registry=registry
        )
        self.snapshot_bytes = Counter(
            "mtl_snapshot_bytes", "Tensor data streamed by SnapshotTensors.", job, registry=registry
        )
        self.profile_captures = Counter(
            "mtl_profile_captures", "Profiler traces captured.", job, registry=registry
        )
        self.debug_seconds = Counter(
            "mtl_job_debug_seconds",
            "Step time spent in the worker's debug hooks (NaN guard, breakpoint conditions, "
            "debug commands, task statistics), paused waits excluded.",
            job,
            registry=registry,
        )

    def set_job_counts(self, counts: Mapping[int, int]) -> None:
        """Set `mtl_jobs` for every state, zero where there are none, and the queue length."""
        for state in job_pb2.JobState.values():
            if state != job_pb2.JOB_STATE_UNSPECIFIED:
                self.jobs.labels(state=state_label(state)).set(counts.get(state, 0))
        self.queue_length.set(counts.get(job_pb2.JOB_STATE_QUEUED, 0))

    def set_worker_counts(self, *, busy: int, idle: int, draining: int = 0) -> None:
        """Workers and their slots by state; a worker is one slot today. A
        draining worker (shutting down, its job handed back) is neither."""
        self.workers.labels(state="busy").set(busy)
        self.workers.labels(state="idle").set(idle)
        self.workers.labels(state="draining").set(draining)
        self.worker_slots.labels(state="busy").set(busy)
        self.worker_slots.labels(state="free").set(idle)
        self.worker_slots.labels(state="draining").set(draining)

    def observe_heartbeat(
        self, worker_id: str, device: str, heartbeat: worker_pb2.Heartbeat
    ) -> None:
        """A worker's GPU memory; CPU workers have no GPU series."""
        if not device.startswith("cuda"):
            return
        self._worker_devices[worker_id] = device
        self.gpu_memory_allocated.labels(worker_id, device).set(heartbeat.memory_allocated_bytes)
        self.gpu_memory_reserved.labels(worker_id, device).set(heartbeat.memory_reserved_bytes)

    def worker_gone(self, worker_id: str, *, lost: bool) -> None:
        """Drop the worker's GPU series; count it when it was lost rather than let go."""
        if lost:
            self.workers_lost.inc()
        device = self._worker_devices.pop(worker_id, None)
        if device is not None:
            _remove(self.gpu_memory_allocated, worker_id, device)
            _remove(self.gpu_memory_reserved, worker_id, device)

    def observe_steps(self, job_id: str, steps: Iterable[job_pb2.StepMetrics]) -> None:
        """Fold a batch of step reports into the job's series."""
        last: job_pb2.StepMetrics | None = None
        debug_seconds = 0.0
        for metrics in steps:
            self._series(self.step_duration, job_id).observe(metrics.duration_seconds)
            self._series(self.train_samples, job_id).inc(metrics.num_samples)
            debug_seconds += metrics.debug_seconds
            # Statistics and validation come on some steps only: keep the latest of each.
            self._set_per_task(self.task_grad_norm, job_id, metrics.task_grad_norms)
            for pair in metrics.grad_cosines:
                self._series(self.task_grad_cosine, job_id, pair.task_a, pair.task_b).set(
                    pair.cosine
                )
            self._observe_validation(job_id, metrics.validation_metrics)
            last = metrics
        if last is None:
            return
        self._series(self.debug_seconds, job_id).inc(debug_seconds)
        self._series(self.job_step, job_id).set(last.step)
        self._set_per_task(self.task_loss, job_id, last.task_losses)
        self._set_per_task(self.task_loss_weight, job_id, last.task_weights)

    def checkpoint_saved(self, job_id: str, checkpoint: job_pb2.CheckpointSaved) -> None:
        self.checkpoint_duration.observe(checkpoint.duration_seconds)
        self._series(self.checkpoint_size, job_id).set(checkpoint.size_bytes)

    def breakpoint_hit(self, job_id: str) -> None:
        self._series(self.breakpoint_hits, job_id).inc()

    def snapshot_streamed(self, job_id: str, num_bytes: int) -> None:
        self._series(self.snapshot_bytes, job_id).inc(num_bytes)

    def profile_captured(self, job_id: str) -> None:
        self._series(self.profile_captures, job_id).inc()

    def job_paused(self, job_id: str, reason: str) -> None:
        self.job_resumed(job_id)
        self._paused[job_id] = (reason, time.monotonic())
        self._series(self.job_paused_gauge, job_id, reason).set(1)
        self._series(self.pauses, job_id).inc()

    def job_resumed(self, job_id: str) -> None:
        """End the job's pause, if it has one, adding its duration."""
        paused = self._paused.pop(job_id, None)
        if paused is None:
            return
        reason, since = paused
        _remove(self.job_paused_gauge, job_id, reason)
        self._series(self.paused_seconds, job_id).inc(time.monotonic() - since)

    def forget_job(self, job_id: str) -> None:
        """Remove every series of the job (after its retention ran out)."""
        self.job_resumed(job_id)
        for metric, labels in self._job_series.pop(job_id, set()):
            _remove(metric, *labels)

    def _series(self, metric: Metric, job_id: str, *labels: str) -> Metric:
        """The job's child of `metric`, remembered so that forget_job removes it."""
        self._job_series[job_id].add((metric, (job_id, *labels)))
        return metric.labels(job_id, *labels)

    def _set_per_task(self, metric: Gauge, job_id: str, values: Mapping[str, float]) -> None:
        for task, value in values.items():
            self._series(metric, job_id, task).set(value)

    def _observe_validation(self, job_id: str, values: Mapping[str, float]) -> None:
        """`<task>.<metric>` keys by task and metric; delta-m% is the job's own ratio."""
        for key, value in values.items():
            if key == DELTA_M_KEY:
                self._series(self.multitask_delta, job_id).set(value / 100)
            else:
                task, _, metric = key.partition(".")
                self._series(self.validation_metric, job_id, task, metric).set(value)


def _remove(metric: Gauge | Counter | Histogram, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # the series is gone already, or never was
        metric.remove(*labels)
