"""The grpc_server_* metrics of a real grpc.aio server, read back from its registry."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from prometheus_client import CollectorRegistry

from mtl.v1 import job_pb2, job_pb2_grpc
from mtl_service.errors import InvalidArgument, NotFound
from mtl_service.server.error_interceptor import ErrorInterceptor
from mtl_service.server.grpc_metrics import GrpcMetricsInterceptor

JOB_SERVICE = "mtl.v1.JobService"
HEALTH_SERVICE = "grpc.health.v1.Health"
ECHO_SERVICE = "test.Echo"


class MinimalJobService(job_pb2_grpc.JobServiceServicer):
    """Just enough JobService to reach every outcome the metrics must tell apart."""

    async def GetJob(self, request: job_pb2.GetJobRequest, context: Any) -> job_pb2.GetJobResponse:
        if request.job_id != "job-1":
            raise NotFound(f"job {request.job_id!r} does not exist")
        return job_pb2.GetJobResponse(job=job_pb2.Job(id="job-1"))

    async def ListJobs(self, request: job_pb2.ListJobsRequest, context: Any) -> Any:
        raise RuntimeError("a bug the ErrorInterceptor turns into INTERNAL")

    async def CancelJob(self, request: job_pb2.CancelJobRequest, context: Any) -> Any:
        await asyncio.sleep(30)  # outlives any deadline the tests set

    async def WatchJob(
        self, request: job_pb2.WatchJobRequest, context: Any
    ) -> AsyncIterator[job_pb2.WatchJobResponse]:
        for sequence in (1, 2, 3):
            yield job_pb2.WatchJobResponse(event=job_pb2.JobEvent(sequence=sequence))
        if request.job_id == "bad":
            raise InvalidArgument("after_sequence: beyond the job's history")
        if request.job_id == "forever":
            await asyncio.sleep(30)


async def _count_by_iterating(requests: AsyncIterator[bytes], context: Any) -> bytes:
    return str(len([message async for message in requests])).encode()


async def _count_by_reading(requests: Any, context: Any) -> bytes:
    count = 0
    while await context.read() is not grpc.aio.EOF:
        count += 1
    return str(count).encode()


async def _echo_by_reading_and_writing(requests: Any, context: Any) -> None:
    while (message := await context.read()) is not grpc.aio.EOF:
        await context.write(message)


ECHO_HANDLERS = grpc.method_handlers_generic_handler(
    ECHO_SERVICE,
    {
        "CountByIterating": grpc.stream_unary_rpc_method_handler(_count_by_iterating),
        "CountByReading": grpc.stream_unary_rpc_method_handler(_count_by_reading),
        "Echo": grpc.stream_stream_rpc_method_handler(_echo_by_reading_and_writing),
    },
)


@dataclass
class Served:
    registry: CollectorRegistry
    channel: grpc.Channel

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def handled(self, grpc_type: str, service: str, method: str, code: str) -> float:
        return self.value(
            "grpc_server_handled_total",
            grpc_type=grpc_type,
            grpc_service=service,
            grpc_method=method,
            grpc_code=code,
        )

    def messages(self, grpc_type: str, service: str, method: str) -> tuple[float, float]:
        """(received, sent) for one method."""
        labels = {"grpc_type": grpc_type, "grpc_service": service, "grpc_method": method}
        return (
            self.value("grpc_server_msg_received_total", **labels),
            self.value("grpc_server_msg_sent_total", **labels),
        )


@pytest.fixture()
def served() -> Iterator[Served]:
    """A grpc.aio server on its own event loop thread, interceptors in the app's order."""
    registry = CollectorRegistry()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server(
            interceptors=[GrpcMetricsInterceptor(registry), ErrorInterceptor()]
        )
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        job_pb2_grpc.add_JobServiceServicer_to_server(MinimalJobService(), server)
        server.add_generic_rpc_handlers((ECHO_HANDLERS,))
        reflection.enable_server_reflection((JOB_SERVICE, reflection.SERVICE_NAME), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        return server, port

    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Served(registry, channel)
    finally:
        channel.close()
        asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _eventually(condition: Callable[[], bool], timeout_seconds: float = 5.0) -> None:
    """For outcomes the server records after the client saw them.

    An abort sends the status before it raises, and a cancelled client moves on
    at once; either way the interceptor finishes the RPC a moment later.
    """
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        assert time.monotonic() < deadline, "the server never recorded the outcome"
        time.sleep(0.02)


def test_unary_ok_counts_start_end_and_one_message_each_way(served: Served) -> None:
    health_stub = health_pb2_grpc.HealthStub(served.channel)
    for _ in range(2):
        health_stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    labels = {"grpc_type": "unary", "grpc_service": HEALTH_SERVICE, "grpc_method": "Check"}
    assert served.value("grpc_server_started_total", **labels) == 2
    assert served.handled("unary", HEALTH_SERVICE, "Check", "OK") == 2
    assert served.messages("unary", HEALTH_SERVICE, "Check") == (2, 2)
    assert served.value("grpc_server_handling_seconds_count", **labels) == 2
    assert served.value("grpc_server_handling_seconds_bucket", le="+Inf", **labels) == 2


def test_an_abort_inside_the_servicer_is_counted_with_its_code_and_no_message_sent(
    served: Served,
) -> None:
    health_stub = health_pb2_grpc.HealthStub(served.channel)
    with pytest.raises(grpc.RpcError) as raised:
        health_stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    _eventually(lambda: served.handled("unary", HEALTH_SERVICE, "Check", "NOT_FOUND") == 1)
    assert served.handled("unary", HEALTH_SERVICE, "Check", "OK") == 0
    assert served.messages("unary", HEALTH_SERVICE, "Check") == (1, 0)


def test_domain_errors_are_counted_with_the_code_the_error_interceptor_chose(
    served: Served,
) -> None:
    jobs = job_pb2_grpc.JobServiceStub(served.channel)
    assert jobs.GetJob(job_pb2.GetJobRequest(job_id="job-1"), timeout=5).job.id == "job-1"
    for call, request, code in (
        (jobs.GetJob, job_pb2.GetJobRequest(job_id="job-404"), grpc.StatusCode.NOT_FOUND),
        (jobs.ListJobs, job_pb2.ListJobsRequest(), grpc.StatusCode.INTERNAL),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            call(request, timeout=5)
        assert raised.value.code() is code
    _eventually(lambda: served.handled("unary", JOB_SERVICE, "ListJobs", "INTERNAL") == 1)
    _eventually(lambda: served.handled("unary", JOB_SERVICE, "GetJob", "NOT_FOUND") == 1)
    assert served.handled("unary", JOB_SERVICE, "GetJob", "OK") == 1
    assert served.handled("unary", JOB_SERVICE, "ListJobs", "UNKNOWN") == 0


def test_a_server_stream_counts_every_message_it_yields(served: Served) -> None:
    jobs = job_pb2_grpc.JobServiceStub(served.channel)
    events = list(jobs.WatchJob(job_pb2.WatchJobRequest(job_id="job-1"), timeout=5))
    assert [e.event.sequence for e in events] == [1, 2, 3]
    assert served.handled("server_stream", JOB_SERVICE, "WatchJob", "OK") == 1
    assert served.messages("server_stream", JOB_SERVICE, "WatchJob") == (1, 3)


def test_a_server_stream_that_fails_midway_keeps_its_messages_and_its_code(
    served: Served,
) -> None:
    jobs = job_pb2_grpc.JobServiceStub(served.channel)
    received = []
    with pytest.raises(grpc.RpcError) as raised:
        for response in jobs.WatchJob(job_pb2.WatchJobRequest(job_id="bad"), timeout=5):
            received.append(response)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert len(received) == 3
    _eventually(
        lambda: served.handled("server_stream", JOB_SERVICE, "WatchJob", "INVALID_ARGUMENT") == 1
    )
    assert served.messages("server_stream", JOB_SERVICE, "WatchJob") == (1, 3)


def test_a_client_that_goes_away_from_a_generator_stream_is_cancelled(served: Served) -> None:
    jobs = job_pb2_grpc.JobServiceStub(served.channel)
    stream = jobs.WatchJob(job_pb2.WatchJobRequest(job_id="forever"), timeout=30)
    assert [next(stream).event.sequence for _ in range(3)] == [1, 2, 3]
    stream.cancel()
    _eventually(lambda: served.handled("server_stream", JOB_SERVICE, "WatchJob", "CANCELLED") == 1)
    assert served.handled("server_stream", JOB_SERVICE, "WatchJob", "OK") == 0


def test_a_stream_written_with_context_write_is_measured_until_the_client_cancels(
    served: Served,
) -> None:
    health_stub = health_pb2_grpc.HealthStub(served.channel)
    watch = health_stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()
    _eventually(lambda: served.handled("server_stream", HEALTH_SERVICE, "Watch", "CANCELLED") == 1)
    assert served.messages("server_stream", HEALTH_SERVICE, "Watch") == (1, 1)


def test_a_missed_deadline_is_deadline_exceeded(served: Served) -> None:
    jobs = job_pb2_grpc.JobServiceStub(served.channel)
    with pytest.raises(grpc.RpcError) as raised:
        jobs.CancelJob(job_pb2.CancelJobRequest(job_id="job-1"), timeout=0.2)
    assert raised.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    _eventually(lambda: served.handled("unary", JOB_SERVICE, "CancelJob", "DEADLINE_EXCEEDED") == 1)


@pytest.mark.parametrize("method", ["CountByIterating", "CountByReading"])
def test_a_client_stream_counts_messages_read_either_way(served: Served, method: str) -> None:
    count = served.channel.stream_unary(f"/{ECHO_SERVICE}/{method}")
    assert count(iter([b"a", b"b", b"c", b"d"]), timeout=5) == b"4"
    assert served.handled("client_stream", ECHO_SERVICE, method, "OK") == 1
    assert served.messages("client_stream", ECHO_SERVICE, method) == (4, 1)


def test_a_bidi_stream_with_read_and_write_counts_both_directions(served: Served) -> None:
    echo = served.channel.stream_stream(f"/{ECHO_SERVICE}/Echo")
    assert list(echo(iter([b"x", b"y"]), timeout=5)) == [b"x", b"y"]
    assert served.handled("bidi_stream", ECHO_SERVICE, "Echo", "OK") == 1
    assert served.messages("bidi_stream", ECHO_SERVICE, "Echo") == (2, 2)


def test_reflection_is_measured_as_a_bidi_stream(served: Served) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(served.channel)
    requests = [reflection_pb2.ServerReflectionRequest(list_services="")] * 2
    assert len(list(stub.ServerReflectionInfo(iter(requests), timeout=5))) == 2
    method = ("bidi_stream", reflection.SERVICE_NAME, "ServerReflectionInfo")
    assert served.handled(*method, "OK") == 1
    assert served.messages(*method) == (2, 2)


def test_an_unknown_method_is_left_to_grpc(served: Served) -> None:
    missing = served.channel.unary_unary(f"/{ECHO_SERVICE}/Missing")
    with pytest.raises(grpc.RpcError) as raised:
        missing(b"", timeout=5)
    assert raised.value.code() is grpc.StatusCode.UNIMPLEMENTED
    labels = {"grpc_type": "unary", "grpc_service": ECHO_SERVICE, "grpc_method": "Missing"}
    assert served.value("grpc_server_started_total", **labels) == 0
