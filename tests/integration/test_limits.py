"""Oversized requests and too many watchers get RESOURCE_EXHAUSTED; the service keeps serving."""

from __future__ import annotations

import contextlib

import grpc
import pytest

from mtl.v1 import job_pb2, job_pb2_grpc
from mtl_service.client import ClientError, MtlClient
from mtl_service.errors import ResourceExhausted
from mtl_service.launcher import ServiceProcess
from mtl_service.server.app import MAX_RECEIVE_MESSAGE_BYTES
from mtl_service.server.event_bus import MAX_WATCHERS_PER_JOB, EventBus
from mtl_service.spec.jobspec import MAX_SPEC_TEXT_BYTES, MAX_TASKS
from tests.jobs import quick_job

pytestmark = pytest.mark.integration


def _rejected(client: MtlClient, spec_text: str) -> ClientError:
    with pytest.raises(ClientError) as raised:
        client.submit_text(spec_text)
    return raised.value


def _still_serving(client: MtlClient) -> None:
    job = client.submit_text(quick_job())
    assert client.get(job.id).state == job_pb2.JOB_STATE_QUEUED


def test_message_over_the_receive_limit_is_refused(idle_service: ServiceProcess) -> None:
    with MtlClient(idle_service.target) as client:
        error = _rejected(client, "#" * (MAX_RECEIVE_MESSAGE_BYTES + 1))
        assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        _still_serving(client)


def test_spec_text_over_its_limit_is_refused(idle_service: ServiceProcess) -> None:
    padding = "#" * (MAX_SPEC_TEXT_BYTES + 1)
    with MtlClient(idle_service.target) as client:
        error = _rejected(client, quick_job() + padding)
        assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert [field for field, _ in error.violations] == ["spec_text"]
        _still_serving(client)


def test_too_many_tasks_are_refused(idle_service: ServiceProcess) -> None:
    tasks = ", ".join(f"task{index}" for index in range(MAX_TASKS + 1))
    spec_text = quick_job().replace("tasks: [value, category]", f"tasks: [{tasks}]")
    with MtlClient(idle_service.target) as client:
        error = _rejected(client, spec_text)
        assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert [field for field, _ in error.violations] == ["tasks"]
        _still_serving(client)


def test_watchers_of_one_job_are_limited(idle_service: ServiceProcess) -> None:
    with MtlClient(idle_service.target) as client:
        job = client.submit_text(quick_job())
    request = job_pb2.WatchJobRequest(job_id=job.id)
    with grpc.insecure_channel(idle_service.target) as channel:
        stub = job_pb2_grpc.JobServiceStub(channel)
        watches = [stub.WatchJob(request, timeout=30) for _ in range(MAX_WATCHERS_PER_JOB)]
        for watch in watches:
            next(watch)  # the history arrived, so the stream is subscribed
        with pytest.raises(grpc.RpcError) as refused:
            next(stub.WatchJob(request, timeout=30))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        watches.pop().cancel()
        with MtlClient(idle_service.target) as client:
            assert next(client.watch(job.id)).sequence == 1
        for watch in watches:
            watch.cancel()


def test_watchers_in_total_are_limited() -> None:
    bus = EventBus(max_watchers_per_job=2, max_watchers=3)
    with contextlib.ExitStack() as stack:
        for job_id in ("job-a", "job-a", "job-b"):
            stack.enter_context(bus.subscribe(job_id))
        with pytest.raises(ResourceExhausted), bus.subscribe("job-c"):
            pass
    with bus.subscribe("job-c"):
        assert bus.watcher_count("job-c") == 1
