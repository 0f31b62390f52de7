"""`make load`: a bounded load test on loopback. Two jobs train while mixed RPCs
(GetJob, ListJobs, WatchJob, GetTaskStats, SnapshotTensors) arrive at a fixed
rate; reports errors (must be zero), latency percentiles per RPC and the
training throughput with and without the load, measured in the same run.

Exit status 1 when any call failed. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from bench.measure import percentile
from mtl.v1 import debug_pb2, debug_pb2_grpc, job_pb2, job_pb2_grpc
from mtl_service.client import MtlClient
from mtl_service.launcher import ServiceProcess

JOB = """
name: load-{index}
problem: {{name: tabular_regcls, params: {{num_samples: 4096, num_val_samples: 256}}}}
model: {{architecture: hps, params: {{hidden_size: 64}}}}
tasks: [value, category]
steps: 1000000
batch_size: 64
seed: {index}
report_interval: 10
checkpoint_interval: -1
"""
MAX_IN_FLIGHT = 256
WATCH_EVENTS = 3  # a watch reads the history's first events, then hangs up


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def _calls(channel: grpc.aio.Channel, job_ids: list[str]) -> dict[str, Callable[[], Awaitable]]:
    jobs = job_pb2_grpc.JobServiceStub(channel)
    debug = debug_pb2_grpc.DebugServiceStub(channel)

    def job_id() -> str:
        return random.choice(job_ids)

    async def watch() -> None:
        call = jobs.WatchJob(job_pb2.WatchJobRequest(job_id=job_id()))
        for _ in range(WATCH_EVENTS):
            await call.read()
        call.cancel()

    async def snapshot() -> None:
        request = debug_pb2.SnapshotTensorsRequest(job_id=job_id(), selectors=["loss:*"])
        async for _ in debug.SnapshotTensors(request):
            pass

    return {
        "GetJob": lambda: jobs.GetJob(job_pb2.GetJobRequest(job_id=job_id())),
        "ListJobs": lambda: jobs.ListJobs(job_pb2.ListJobsRequest(page_size=50)),
        "WatchJob": watch,
        "GetTaskStats": lambda: debug.GetTaskStats(debug_pb2.GetTaskStatsRequest(job_id=job_id())),
        "SnapshotTensors": snapshot,
    }


async def _timed(name: str, call: Callable[[], Awaitable], results: Results) -> None:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(call(), timeout=30)
        results.latencies[name].append(time.perf_counter() - started)
    except grpc.aio.AioRpcError as error:
        results.errors[name].append(error.code().name)
    except TimeoutError:
        results.errors[name].append("timed out after 30 s")


async def generate_load(target: str, job_ids: list[str], *, rate: float, seconds: float) -> Results:
    """Open-loop: one call every 1/rate s, round-robin over the RPC kinds."""
    results = Results()
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    async with grpc.aio.insecure_channel(target) as channel:
        calls = list(_calls(channel, job_ids).items())
        tasks = []
        start = time.perf_counter()
        for number in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + number / rate - time.perf_counter()))
            name, call = calls[number % len(calls)]
            await in_flight.acquire()
            task = asyncio.create_task(_timed(name, call, results))
            task.add_done_callback(lambda _: in_flight.release())
            tasks.append(task)
        await asyncio.gather(*tasks)
    return results


def steps_per_second(client: MtlClient, job_ids: list[str], seconds: float) -> float:
    """Training steps per second of all `job_ids` together over `seconds`."""
    before = sum(client.get(job_id).step for job_id in job_ids)
    time.sleep(seconds)  # the measurement window itself, not synchronisation
    return (sum(client.get(job_id).step for job_id in job_ids) - before) / seconds


def report(results: Results, seconds: float, quiet_rate: float, loaded_rate: float) -> None:
    print(f"{'RPC':16} {'CALLS':>6} {'ERRORS':>6} {'P50 ms':>8} {'P95 ms':>8} {'P99 ms':>8}")
    for name in sorted(results.latencies.keys() | results.errors.keys()):
        seconds_each = results.latencies[name] or [float("nan")]
        p50, p95, p99 = (1000 * percentile(seconds_each, q) for q in (0.5, 0.95, 0.99))
        calls = len(results.latencies[name]) + len(results.errors[name])
        errors = len(results.errors[name])
        print(f"{name:16} {calls:6d} {errors:6d} {p50:8.1f} {p95:8.1f} {p99:8.1f}")
    total = sum(len(v) for v in results.latencies.values())
    print(f"{total / seconds:.0f} successful calls/s over {seconds:.0f} s")
    drop = 100 * (1 - loaded_rate / quiet_rate) if quiet_rate else float("nan")
    print(f"training: {quiet_rate:.0f} steps/s without load, {loaded_rate:.0f} with load")
    print(f"throughput drop under load: {drop:.1f}%")
    for name, messages in results.errors.items():
        if messages:
            print(f"errors of {name}: {sorted(set(messages))}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=400.0, help="calls per second (400)")
    parser.add_argument("--seconds", type=float, default=30.0, help="load duration (30)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as data_dir:
        service = ServiceProcess.start(data_dir=Path(data_dir), num_workers=2)
        try:
            with MtlClient(service.target) as client:
                job_ids = [client.submit_text(JOB.format(index=i)).id for i in range(2)]
                while any(client.get(j).state != job_pb2.JOB_STATE_RUNNING for j in job_ids):
                    time.sleep(0.2)  # polling for the jobs to start; a bench, not a test
                quiet = steps_per_second(client, job_ids, seconds=10)
                load = generate_load(service.target, job_ids, rate=args.rate, seconds=args.seconds)
                steps_before, started = sum(client.get(j).step for j in job_ids), time.monotonic()
                results = asyncio.run(load)
                steps = sum(client.get(j).step for j in job_ids) - steps_before
                loaded = steps / (time.monotonic() - started)
                for job_id in job_ids:
                    client.cancel(job_id, "load test over")
        finally:
            service.stop()
    report(results, args.seconds, quiet, loaded)
    return 1 if any(results.errors.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
