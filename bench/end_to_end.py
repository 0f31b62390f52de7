"""Part 1 (d): samples/s of a job run through the real service against the hand loop.

One `mtl-service serve --workers N` child process, N chosen so that each
local worker gets the torch threads of the other parts (cores / N; 2 workers
on 2 cores for 1 thread); one of them trains each job. Each round submits
the job and, in turn, runs the hand-written loop in this process with the
worker's torch threads. The service's figure comes from the step reports' timestamps:
samples of the reports after the first one over the time from the first to
the last, so start-up (scheduling, building the model, the first steps) is
left out; the hand loop likewise times its steps after the first report's.
On CPU both sides are also measured in CPU time: the worker process's (from
/proc, read when the first report arrives and after the job ends) against
this process's.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from bench.jobs import BenchProblem
from bench.loops import HandLoop
from bench.measure import Row, median, synchronize
from mtl.v1 import job_pb2, spec_pb2
from mtl_service.client import MtlClient
from mtl_service.launcher import ServiceProcess


@dataclass(frozen=True, slots=True)
class Rate:
    """Samples per second of wall-clock time and of CPU time (None where not measured)."""

    wall: float
    cpu: float | None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of process `pid` so far; None without /proc."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return None
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pids(service: ServiceProcess) -> dict[str, int]:
    """Pid of each local worker by the index its worker id ends with, from the log."""
    started = [json.loads(line) for line in service.lines if '"local_worker_started"' in line]
    return {str(line["index"]): int(line["pid"]) for line in started}


def local_workers_for(num_threads: int, device: torch.device) -> int:
    """How many local workers make the service give each `num_threads` torch
    threads (it gives each cores / workers); one on CUDA, where threads matter little."""
    if device.type == "cuda":
        return 1
    return max(1, (os.cpu_count() or 1) // num_threads)


def measure_end_to_end(
    problems: Sequence[tuple[BenchProblem, int]],
    *,
    rounds: int,
    device: torch.device,
    data_dir: Path,
) -> list[Row]:
    """One row per (problem, steps): the service's samples/s over the hand loop's."""
    service = ServiceProcess.start(
        data_dir=data_dir,
        num_workers=local_workers_for(torch.get_num_threads(), device),
        log_path=data_dir / "log",
    )
    try:
        pids = worker_pids(service) if device.type == "cpu" else {}
        with MtlClient(service.target) as client:
            return [
                _compare(client, problem, steps, rounds=rounds, device=device, pids=pids)
                for problem, steps in problems
            ]
    finally:
        service.stop()


def _compare(
    client: MtlClient,
    problem: BenchProblem,
    steps: int,
    *,
    rounds: int,
    device: torch.device,
    pids: dict[str, int],
) -> Row:
    spec = spec_pb2.JobSpec()
    spec.CopyFrom(problem.spec)
    spec.steps = steps
    served: list[Rate] = []
    by_hand: list[Rate] = []
    threads = 0
    for index in range(rounds):
        # Round 0 runs the job first: the hand loop needs the worker's thread count.
        for side in ("service", "hand") if index % 2 == 0 else ("hand", "service"):
            if side == "service":
                rate, threads = run_job(client, spec, pids)
                served.append(rate)
            else:
                by_hand.append(_hand_loop_rate(spec, device, threads))
    wall = [s.wall / h.wall for s, h in zip(served, by_hand, strict=True)]
    cpu = [s.cpu / h.cpu for s, h in zip(served, by_hand, strict=True) if s.cpu and h.cpu]
    return Row(
        section="overhead",
        name=f"{problem.label}: (d) through the service / hand loop",
        value=median(wall),
        cpu_value=median(cpu) if cpu else None,
        unit="x",
        minimum=0.97,
        note=f"{median([r.wall for r in served]):.0f} vs {median([r.wall for r in by_hand]):.0f}"
        f" samples/s, {threads} threads",
        detail={"service": [asdict(r) for r in served], "hand": [asdict(r) for r in by_hand]},
    )


def run_job(client: MtlClient, spec: spec_pb2.JobSpec, pids: dict[str, int]) -> tuple[Rate, int]:
    """Submit `spec` and follow it to its end: its rate between the first and
    the last step report, and the worker's torch threads. CPU time is read
    from the worker's pid, when `pids` has the worker that took the job."""
    job = client.submit(spec)
    reports: list[tuple[float, int]] = []
    cpu_at_first: float | None = None
    pid: int | None = None
    for event in client.watch(job.id):
        if event.HasField("step_report"):
            if not reports:
                pid = pids.get(client.get(job.id).worker_id.rsplit("-", 1)[-1])
                cpu_at_first = cpu_seconds(pid) if pid is not None else None
            samples = sum(step.num_samples for step in event.step_report.steps)
            reports.append((event.time.seconds + event.time.nanos * 1e-9, samples))
    cpu_at_end = cpu_seconds(pid) if pid is not None else None
    finished = client.get(job.id)
    if finished.state != job_pb2.JOB_STATE_SUCCEEDED or len(reports) < 2:
        raise RuntimeError(f"benchmark job {job.id} ended {finished.state}: {finished.message}")
    samples = sum(count for _, count in reports[1:])
    cpu = None
    if cpu_at_first is not None and cpu_at_end is not None and cpu_at_end > cpu_at_first:
        cpu = samples / (cpu_at_end - cpu_at_first)
    return Rate(samples / (reports[-1][0] - reports[0][0]), cpu), finished.environment.num_threads


def _hand_loop_rate(spec: spec_pb2.JobSpec, device: torch.device, num_threads: int) -> Rate:
    """Samples/s of the hand loop over the steps after the first report's."""
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        loop = HandLoop(spec, device)
        loop.run(spec.report_interval)
        synchronize(device)
        wall, cpu = time.perf_counter(), time.process_time()
        loop.run(spec.steps - spec.report_interval)
        synchronize(device)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        torch.set_num_threads(previous)
    samples = (spec.steps - spec.report_interval) * spec.batch_size
    return Rate(samples / wall, samples / cpu if device.type == "cpu" else None)
