"""Metrics, logs, health and reflection of a running service."""

from __future__ import annotations

import time
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from mtl.v1 import job_pb2
from mtl_service.client import MtlClient
from mtl_service.launcher import ServiceProcess
from tests.jobs import quick_job


def _scrape(service: ServiceProcess) -> dict[tuple[str, tuple], float]:
    url = f"http://127.0.0.1:{service.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _job_series(samples: dict, job_id: str) -> set[str]:
    return {name for name, labels in samples if ("job_id", job_id) in labels}


def test_metrics_show_a_running_job_then_drop_it_after_retention(
    client: MtlClient, service: ServiceProcess
) -> None:
    job = client.submit_text(quick_job(steps=1_000_000, checkpoint_interval=-1))
    for event in client.watch(job.id):
        if event.HasField("step_report"):
            break
    samples = _scrape(service)
    assert {
        "mtl_job_step",
        "mtl_task_loss",
        "mtl_task_loss_weight",
        "mtl_train_samples_total",
        "mtl_step_duration_seconds_count",
    } <= _job_series(samples, job.id)
    assert samples[
        ("mtl_task_loss_weight", (("job_id", job.id), ("task", "value")))
    ] == pytest.approx(0.05)
    assert samples[("mtl_job_step", (("job_id", job.id),))] >= 10
    assert samples[("mtl_jobs", (("state", "running"),))] >= 1
    client.cancel(job.id)
    deadline = time.monotonic() + 30  # retention is 1 s in this service
    while _job_series(_scrape(service), job.id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _job_series(_scrape(service), job.id) == set()


def test_every_log_line_is_json_with_the_required_keys(
    client: MtlClient, service: ServiceProcess
) -> None:
    job = client.submit_text(quick_job(steps=20))
    list(client.watch(job.id))
    lines = service.json_lines()
    assert lines
    for line in lines:
        assert {"event", "level", "timestamp"} <= line.keys(), line
    job_lines = [line for line in lines if line.get("job_id") == job.id]
    events = {line["event"] for line in job_lines}
    assert {"job_submitted", "job_state_changed", "job_left"} <= events
    worker_lines = [line for line in job_lines if line["logger"].startswith("workers.")]
    assert worker_lines and all(line.get("worker_id") for line in worker_lines)


def test_health_is_serving_and_reflection_lists_the_services(service: ServiceProcess) -> None:
    with grpc.insecure_channel(service.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "mtl.v1.JobService"):
            response = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            assert response.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (response,) = list(reflection.ServerReflectionInfo(iter([request]), timeout=10))
        names = {s.name for s in response.list_services_response.service}
        assert {"mtl.v1.JobService", "mtl.v1.WorkerService", "grpc.health.v1.Health"} <= names


def test_sigterm_requeues_the_running_job_and_a_restart_resumes_it(tmp_path) -> None:
    data_dir = tmp_path / "data"
    service = ServiceProcess.start(data_dir=data_dir, num_workers=1)
    with MtlClient(service.target) as client:
        job = client.submit_text(quick_job(steps=1_000, checkpoint_interval=100))
        for event in client.watch(job.id):
            if event.HasField("checkpoint_saved"):
                break
    assert service.stop() == 0, service.output
    restarted = ServiceProcess.start(data_dir=data_dir, num_workers=1)
    try:
        with MtlClient(restarted.target) as client:
            assert client.get(job.id).attempt == 2
            events = list(client.watch(job.id))
            states = [e.state_change for e in events if e.HasField("state_change")]
            requeued = [s for s in states if s.to_state == job_pb2.JOB_STATE_QUEUED][1:]
            assert requeued and "shut" in requeued[0].reason
            resumed = [s for s in states if s.reason.startswith("resumed from step")]
            assert resumed and int(resumed[0].reason.split()[-1]) >= 100
            assert states[-1].to_state == job_pb2.JOB_STATE_SUCCEEDED
            assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    finally:
        assert restarted.stop() == 0
