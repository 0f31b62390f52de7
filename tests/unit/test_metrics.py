"""ServiceMetrics on an isolated registry, read back with get_sample_value; and the
worker channel feeding it heartbeats and lost workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from mtl.v1 import job_pb2, worker_pb2
from mtl_service.server import metrics as metrics_module
from mtl_service.server.metrics import ServiceMetrics
from mtl_service.server.worker_channel import WorkerChannelServicer
from mtl_service.server.worker_registry import WorkerRegistry


@pytest.fixture()
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture()
def metrics(registry: CollectorRegistry) -> ServiceMetrics:
    return ServiceMetrics(registry)


def _step(step: int, **fields: Any) -> job_pb2.StepMetrics:
    return job_pb2.StepMetrics(
        step=step,
        task_losses={"value": 40.0 - step, "category": 1.0 / step},
        task_weights={"value": 0.05, "category": 1.0},
        duration_seconds=0.02,
        num_samples=32,
        **fields,
    )


def _stats(norms: dict[str, float], cosine: float) -> dict[str, Any]:
    pair = job_pb2.TaskPairCosine(task_a="value", task_b="category", cosine=cosine)
    return {"task_grad_norms": norms, "grad_cosines": [pair]}


def _job_ids(registry: CollectorRegistry) -> set[str]:
    return {
        sample.labels["job_id"]
        for family in registry.collect()
        for sample in family.samples
        if "job_id" in sample.labels
    }


def test_job_counts_cover_every_state_and_the_queue_length(
    registry: CollectorRegistry, metrics: ServiceMetrics
) -> None:
    metrics.set_job_counts({job_pb2.JOB_STATE_QUEUED: 3, job_pb2.JOB_STATE_RUNNING: 1})
    assert registry.get_sample_value("mtl_jobs", {"state": "queued"}) == 3
    assert registry.get_sample_value("mtl_jobs", {"state": "cancelled"}) == 0
    assert registry.get_sample_value("mtl_queue_length") == 3


def test_workers_and_slots_by_state(registry: CollectorRegistry, metrics: ServiceMetrics) -> None:
    metrics.set_worker_counts(busy=2, idle=1, draining=3)
    assert registry.get_sample_value("mtl_workers", {"state": "busy"}) == 2
    assert registry.get_sample_value("mtl_workers", {"state": "idle"}) == 1
    assert registry.get_sample_value("mtl_workers", {"state": "draining"}) == 3
    assert registry.get_sample_value("mtl_worker_slots", {"state": "busy"}) == 2
    assert registry.get_sample_value("mtl_worker_slots", {"state": "free"}) == 1
    assert registry.get_sample_value("mtl_worker_slots", {"state": "draining"}) == 3


def test_step_reports_keep_the_last_losses_and_the_latest_task_statistics(
    registry: CollectorRegistry, metrics: ServiceMetrics
) -> None:
    steps = [
        _step(1),
        _step(2, **_stats({"value": 3.0, "category": 0.5}, cosine=-0.25)),
        _step(3),
    ]
    metrics.observe_steps("job-1", steps)
    job, value = {"job_id": "job-1"}, {"job_id": "job-1", "task": "value"}
    assert registry.get_sample_value("mtl_job_step", job) == 3
    assert registry.get_sample_value("mtl_task_loss", value) == 37.0
    assert registry.get_sample_value("mtl_task_loss_weight", value) == 0.05
    assert registry.get_sample_value("mtl_task_grad_norm", value) == 3.0
    pair = {"job_id": "job-1", "task_a": "value", "task_b": "category"}
    assert registry.get_sample_value("mtl_task_grad_cosine", pair) == -0.25
    assert registry.get_sample_value("mtl_train_samples_total", job) == 96
    assert registry.get_sample_value("mtl_step_duration_seconds_count", job) == 3
    assert registry.get_sample_value("mtl_step_duration_seconds_sum", job) == pytest.approx(0.06)


def test_validation_metrics_by_task_and_metric_and_delta_m_as_a_ratio(
    registry: CollectorRegistry, metrics: ServiceMetrics
) -> None:
    validation = {"category.accuracy": 0.93, "value.mae": 2.5, "delta_m_percent": -4.0}
    metrics.observe_steps("job-1", [_step(10, validation_metrics=validation)])
    accuracy = {"job_id": "job-1", "task": "category", "metric": "accuracy"}
    assert registry.get_sample_value("mtl_validation_metric", accuracy) == 0.93
    mae = {"job_id": "job-1", "task": "value", "metric": "mae"}
    assert registry.get_sample_value("mtl_validation_metric", mae) == 2.5
    delta = registry.get_sample_value("mtl_job_multitask_delta_ratio", {"job_id": "job-1"})
    assert delta == pytest.approx(-0.04)


def test_checkpoints_observe_their_duration_and_size(
    registry: CollectorRegistry, metrics: ServiceMetrics
) -> None:
    metrics.checkpoint_saved(
        "job-1", job_pb2.CheckpointSaved(size_bytes=4096, duration_seconds=0.3)
    )
    metrics.checkpoint_saved(
        "job-1", job_pb2.CheckpointSaved(size_bytes=8192, duration_seconds=0.7)
    )
    assert registry.get_sample_value("mtl_checkpoint_size_bytes", {"job_id": "job-1"}) == 8192
    assert registry.get_sample_value("mtl_checkpoint_duration_seconds_count") == 2
    assert registry.get_sample_value("mtl_checkpoint_duration_seconds_bucket", {"le": "0.5"}) == 1


def test_debug_counters_per_job(registry: CollectorRegistry, metrics: ServiceMetrics) -> None:
    metrics.breakpoint_hit("job-1")
    metrics.breakpoint_hit("job-1")
    metrics.snapshot_streamed("job-1", 1000)
    metrics.snapshot_streamed("job-1", 24)
    metrics.profile_captured("job-1")
    job = {"job_id": "job-1"}
    assert registry.get_sample_value("mtl_breakpoint_hits_total", job) == 2
    assert registry.get_sample_value("mtl_snapshot_bytes_total", job) == 1024
    assert registry.get_sample_value("mtl_profile_captures_total", job) == 1


def test_the_debug_seconds_of_every_reported_step_add_up_per_job(
    registry: CollectorRegistry, metrics: ServiceMetrics
) -> None:
    metrics.observe_steps("job-1", [_step(1, debug_seconds=0.25), _step(2, debug_seconds=0.5)])
    metrics.observe_steps("job-1", [_step(3, debug_seconds=0.125)])
    metrics.observe_steps("job-2", [_step(1)])
    total = registry.get_sample_value("mtl_job_debug_seconds_total", {"job_id": "job-1"})
    assert total == pytest.approx(0.875)
    assert registry.get_sample_value("mtl_job_debug_seconds_total", {"job_id": "job-2"}) == 0


def test_a_pause_counts_once_and_adds_its_duration_when_it_ends(
    registry: CollectorRegistry, metrics: ServiceMetrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter([100.0, 107.5])
    monkeypatch.setattr(metrics_module.time, "monotonic", lambda: next(clock))
    metrics.job_paused("job-1", "breakpoint")
    paused = {"job_id": "job-1", "reason": "breakpoint"}
    assert registry.get_sample_value("mtl_job_paused", paused) == 1
    metrics.job_resumed("job-1")
    assert registry.get_sample_value("mtl_job_paused", paused) is None
    job = {"job_id": "job-1"}
    assert registry.get_sample_value("mtl_job_pauses_total", job) == 1
    assert registry.get_sample_value("mtl_job_paused_seconds_total", job) == 7.5


def test_gpu_memory_per_worker_device_and_none_for_cpu_workers(
    registry: CollectorRegistry, metrics: ServiceMetrics
) -> None:
    heartbeat = worker_pb2.Heartbeat(memory_allocated_bytes=1 << 30, memory_reserved_bytes=2 << 30)
    metrics.observe_heartbeat("gpu-worker", "cuda:1", heartbeat)
    metrics.observe_heartbeat("cpu-worker", "cpu", worker_pb2.Heartbeat())
    labels = {"worker_id": "gpu-worker", "device": "cuda:1"}
    assert registry.get_sample_value("mtl_gpu_memory_allocated_bytes", labels) == 1 << 30
    assert registry.get_sample_value("mtl_gpu_memory_reserved_bytes", labels) == 2 << 30
    cpu = {"worker_id": "cpu-worker", "device": "cpu"}
    assert registry.get_sample_value("mtl_gpu_memory_allocated_bytes", cpu) is None


def test_forget_job_removes_every_series_of_that_job_only(
    registry: CollectorRegistry, metrics: ServiceMetrics
) -> None:
    for job_id in ("job-1", "job-2"):
        stats = _stats({"value": 1.0}, cosine=0.5)
        metrics.observe_steps(
            job_id, [_step(5, validation_metrics={"delta_m_percent": 1}, **stats)]
        )
        metrics.checkpoint_saved(job_id, job_pb2.CheckpointSaved(size_bytes=1))
        metrics.breakpoint_hit(job_id)
        metrics.snapshot_streamed(job_id, 1)
        metrics.profile_captured(job_id)
        metrics.job_paused(job_id, "user")
    metrics.forget_job("job-1")
    assert _job_ids(registry) == {"job-2"}
    assert registry.get_sample_value("mtl_checkpoint_duration_seconds_count") == 2


_W1 = {"worker_id": "w-1", "device": "cuda:0"}


class _Jobs:
    """The parts of JobManager the worker channel touches when a worker comes and goes."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.metrics = metrics
        self.requeued: list[str] = []

    def on_change(self) -> None:
        pass

    async def requeue(self, job_id: str, reason: str, **options: object) -> None:
        self.requeued.append(job_id)


class _Broker:
    def worker_gone(self, worker_id: str) -> None:
        pass


async def _connect_and_leave(metrics: ServiceMetrics, *, holding: str | None) -> list[str]:
    """A cuda worker registers, sends a heartbeat, optionally holds a job, and its
    stream ends; returns the jobs the channel requeued."""
    jobs, workers = _Jobs(metrics), WorkerRegistry()
    channel = WorkerChannelServicer(
        jobs=jobs, workers=workers, broker=_Broker(), heartbeat_interval_seconds=5.0
    )
    leave = asyncio.Event()

    async def messages() -> AsyncIterator[worker_pb2.WorkerMessage]:
        register = worker_pb2.RegisterWorker(worker_id="w-1", device="cuda:0")
        yield worker_pb2.WorkerMessage(register=register)
        heartbeat = worker_pb2.Heartbeat(memory_allocated_bytes=10, memory_reserved_bytes=20)
        yield worker_pb2.WorkerMessage(heartbeat=heartbeat)
        await leave.wait()

    stream = channel.Connect(messages(), context=None)  # type: ignore[arg-type]
    assert (await anext(stream)).HasField("registered")
    rest = asyncio.create_task(_drain(stream))
    while metrics.registry.get_sample_value("mtl_gpu_memory_reserved_bytes", _W1) is None:
        await asyncio.sleep(0.01)
    workers.get("w-1").job_id = holding  # type: ignore[union-attr]
    leave.set()
    assert await rest == []
    return jobs.requeued


async def _drain(stream: AsyncIterator[worker_pb2.ServiceMessage]) -> list[str]:
    return [message.WhichOneof("payload") async for message in stream]


def test_a_worker_that_drops_its_stream_while_holding_a_job_is_lost(
    registry: CollectorRegistry, metrics: ServiceMetrics
) -> None:
    requeued = asyncio.run(_connect_and_leave(metrics, holding="job-1"))
    assert requeued == ["job-1"]
    assert registry.get_sample_value("mtl_workers_lost_total") == 1
    assert registry.get_sample_value("mtl_gpu_memory_allocated_bytes", _W1) is None


def test_an_idle_worker_that_leaves_is_not_lost(
    registry: CollectorRegistry, metrics: ServiceMetrics
) -> None:
    assert asyncio.run(_connect_and_leave(metrics, holding=None)) == []
    assert registry.get_sample_value("mtl_workers_lost_total") == 0
    assert registry.get_sample_value("mtl_gpu_memory_allocated_bytes", _W1) is None
