"""Debug calls against a training job, timed from a client: AdjustLossWeights
until a step report shows the new weight, and SnapshotTensors of all parameters."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import torch

from bench.jobs import job_spec
from mtl.v1 import debug_types_pb2, job_pb2, spec_pb2
from mtl_service.client import MtlClient
from workers.job_build import load_problem

MIB = 1 << 20


def wait_for_state(client: MtlClient, job_id: str, state: int) -> None:
    """Follow the job's events until it enters `state`; RuntimeError if it ends first."""
    for event in client.watch(job_id):
        if event.HasField("state_change") and event.state_change.to_state == state:
            return
    raise RuntimeError(f"job {job_id} ended before {job_pb2.JobState.Name(state)}")


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One AdjustLossWeights: its round trip, and from its reply to the first
    step report (as the client receives it) that carries the new weight."""

    call_seconds: float
    to_report_seconds: float
    steps_after_effective: int


def adjust_latencies(client: MtlClient, job_id: str, task: str, count: int) -> list[Adjustment]:
    """`count` adjustments of `task`'s weight, each to a value not used before,
    on a job that reports every step."""
    reports: queue.Queue[tuple[float, int, float]] = queue.Queue()
    live = threading.Event()
    follower = threading.Thread(
        target=_follow_reports, args=(client.target, job_id, task, reports, live), daemon=True
    )
    follower.start()
    if not live.wait(60.0):
        raise RuntimeError(f"no live step report from job {job_id} within a minute")
    found = []
    for index in range(count):
        weight = 1.0 - 0.01 * (index + 1)
        started = time.perf_counter()
        reply = client.adjust_loss_weights(job_id, {task: weight})
        answered = time.perf_counter()
        while True:
            seen, step, reported = reports.get(timeout=60.0)
            if abs(reported - weight) < 1e-6:
                break
        found.append(Adjustment(answered - started, seen - answered, step - reply.effective_step))
    return found


def _follow_reports(
    target: str,
    job_id: str,
    task: str,
    reports: queue.Queue[tuple[float, int, float]],
    live: threading.Event,
) -> None:
    """Queue (received at, step, weight of `task`) for every reported step; set
    `live` once the history is replayed (an event newer than the call)."""
    opened = time.time()
    with MtlClient(target) as client:
        for event in client.watch(job_id):
            if not live.is_set() and event.time.seconds + event.time.nanos * 1e-9 >= opened:
                live.set()
            received = time.perf_counter()
            for step in event.step_report.steps:
                reports.put((received, step.step, step.task_weights[task]))


def hidden_size_for(num_bytes: int) -> int:
    """The smallest tabular_regcls hidden size whose model holds `num_bytes` of
    parameters (sized on the meta device, so nothing is allocated)."""
    problem = load_problem(_snapshot_job(2))

    def size(hidden: int) -> int:
        with torch.device("meta"):
            model = problem.build_model("hps", {"hidden_size": hidden}, problem.tasks)
        return sum(p.numel() * p.element_size() for p in model.parameters())

    low, high = 2, 4
    while size(high) < num_bytes:
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if size(middle) < num_bytes else (low, middle)
    return high


def snapshot_rates(client: MtlClient, num_bytes: int, repeats: int) -> list[float]:
    """MiB/s of `repeats` snapshots with data of every parameter of a job that
    holds `num_bytes` of them, paused at step 2 by a breakpoint in its spec."""
    job = client.submit(_snapshot_job(hidden_size_for(num_bytes)))
    try:
        wait_for_state(client, job.id, job_pb2.JOB_STATE_PAUSED)
        rates = []
        for _ in range(repeats):
            started = time.perf_counter()
            snapshot = client.snapshot(job.id, ["param:*"], include_data=True)
            rates.append(snapshot.num_bytes / MIB / (time.perf_counter() - started))
        return rates
    finally:
        client.cancel(job.id, reason="benchmark done")


def _snapshot_job(hidden_size: int) -> spec_pb2.JobSpec:
    spec = job_spec(
        problem="tabular_regcls",
        tasks=["value", "category"],
        batch_size=64,
        model_params={"hidden_size": hidden_size},
        steps=10**9,
    )
    spec.breakpoints.append(
        debug_types_pb2.Breakpoint(
            condition="step >= 2", action=debug_types_pb2.BREAKPOINT_ACTION_PAUSE
        )
    )
    return spec
