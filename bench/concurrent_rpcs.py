"""Many clients at once against the service, from one process with grpc.aio:
unary latencies under 200 concurrent clients, and the fan-out of one job's
events to 100 WatchJob streams. Each client is its own channel (connection)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mtl.v1 import job_pb2, job_pb2_grpc

Call = Callable[[], Awaitable[object]]


async def _open_channels(target: str, count: int) -> list[grpc.aio.Channel]:
    channels = [grpc.aio.insecure_channel(target) for _ in range(count)]
    await asyncio.gather(*(channel.channel_ready() for channel in channels))
    return channels


@dataclass(frozen=True, slots=True)
class UnaryLatencies:
    """Seconds per successful call by method, and failed calls by method and status."""

    seconds: dict[str, list[float]]
    failures: dict[str, list[str]]


async def unary_latencies(
    target: str, job_id: str, *, num_clients: int, calls_per_client: int
) -> UnaryLatencies:
    """GetJob, ListJobs and, as the reference, the health check, with
    `num_clients` clients each calling them in turn `calls_per_client` times."""
    channels = await _open_channels(target, num_clients)
    result = UnaryLatencies({}, {})
    try:
        await asyncio.gather(
            *(
                _client_calls(channel, job_id, calls_per_client, result, first=index)
                for index, channel in enumerate(channels)
            )
        )
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))
    return result


async def _client_calls(
    channel: grpc.aio.Channel, job_id: str, rounds: int, result: UnaryLatencies, *, first: int
) -> None:
    """`rounds` times each call in turn, starting from call number `first` (mod 3),
    so that the clients do not all open with the same method."""
    jobs = job_pb2_grpc.JobServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    calls: dict[str, Call] = {
        "GetJob": lambda: jobs.GetJob(job_pb2.GetJobRequest(job_id=job_id)),
        "ListJobs": lambda: jobs.ListJobs(job_pb2.ListJobsRequest(page_size=50)),
        "Health.Check": lambda: health.Check(health_pb2.HealthCheckRequest()),
    }
    names = list(calls)
    shift = first % len(names)
    for _ in range(rounds):
        for name in names[shift:] + names[:shift]:
            call = calls[name]
            started = time.perf_counter()
            try:
                await call()
            except grpc.aio.AioRpcError as error:
                result.failures.setdefault(name, []).append(error.code().name)
                continue
            result.seconds.setdefault(name, []).append(time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class FanOut:
    """Per event, seconds from the service recording it to the last live stream
    receiving it; and the streams the service refused, with its reason."""

    latencies: list[float]
    num_refused: int
    refusal: str


async def watch_fanout(target: str, job_id: str, *, num_streams: int, seconds: float) -> FanOut:
    """Open `num_streams` WatchJob streams on the job, then follow every event the
    job emits while they are all open."""
    channels = await _open_channels(target, num_streams)
    received: list[dict[int, float]] = [{} for _ in channels]
    recorded: dict[int, float] = {}
    refusals: list[str] = []
    started = [asyncio.Event() for _ in channels]

    async def follow(index: int, channel: grpc.aio.Channel) -> None:
        request = job_pb2.WatchJobRequest(job_id=job_id)
        try:
            async for response in job_pb2_grpc.JobServiceStub(channel).WatchJob(request):
                event = response.event
                received[index][event.sequence] = time.time()
                recorded[event.sequence] = event.time.seconds + event.time.nanos * 1e-9
                started[index].set()
        except grpc.aio.AioRpcError as error:
            refusals.append(f"{error.code().name}: {error.details()}")
            started[index].set()

    streams = [asyncio.create_task(follow(i, channel)) for i, channel in enumerate(channels)]
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started)), timeout=120.0)
        live_from = time.time()
        await asyncio.sleep(seconds)
    finally:
        for stream in streams:
            stream.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
        await asyncio.gather(*(channel.close() for channel in channels))
    live = [times for times in received if times]
    everywhere = set.intersection(*(set(times) for times in live)) if live else set()
    latencies = [
        max(times[sequence] for times in live) - recorded[sequence]
        for sequence in sorted(everywhere)
        if recorded[sequence] > live_from
    ]
    return FanOut(latencies, len(refusals), refusals[0] if refusals else "")
