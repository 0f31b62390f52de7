"""Part 4: the control plane under load, against a real service on loopback.

A service with three local workers trains two jobs throughout: "watched"
(reports every 10 steps) and "adjusted" (reports every step). Against them:
100 WatchJob streams on the watched job, 200 concurrent clients calling
GetJob/ListJobs (and the health check, as the cheapest RPC the same server
answers), AdjustLossWeights on the adjusted job, and on the third worker a
job paused by a breakpoint whose parameters are streamed by SnapshotTensors.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.concurrent_rpcs import FanOut, UnaryLatencies, unary_latencies, watch_fanout
from bench.debug_calls import MIB, Adjustment, adjust_latencies, snapshot_rates, wait_for_state
from bench.jobs import job_spec
from bench.measure import Row, percentile
from mtl.v1 import job_pb2, spec_pb2
from mtl_service.client import MtlClient
from mtl_service.launcher import ServiceProcess


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlPlaneConfig:
    """Sizes of each measurement."""

    num_clients: int = 200
    calls_per_client: int = 10
    num_streams: int = 100
    watch_seconds: float = 5.0
    num_adjustments: int = 20
    snapshot_sizes_mib: tuple[int, ...] = (16, 256)
    snapshot_repeats: int = 3


def training_job(
    name: str, *, hidden_size: int, batch_size: int, report_interval: int
) -> spec_pb2.JobSpec:
    """A tabular job that trains until cancelled."""
    spec = job_spec(
        problem="tabular_regcls",
        tasks=["value", "category"],
        batch_size=batch_size,
        model_params={"hidden_size": hidden_size},
        steps=10**9,
        report_interval=report_interval,
    )
    spec.name = name
    return spec


def measure_control_plane(config: ControlPlaneConfig, data_dir: Path) -> list[Row]:
    service = ServiceProcess.start(data_dir=data_dir, num_workers=3, log_path=data_dir / "log")
    try:
        with MtlClient(service.target) as client:
            return _measure(client, service.target, config)
    finally:
        service.stop()


def _measure(client: MtlClient, target: str, config: ControlPlaneConfig) -> list[Row]:
    watched = client.submit(
        training_job("watched", hidden_size=64, batch_size=64, report_interval=10)
    )
    adjusted = client.submit(
        training_job("adjusted", hidden_size=256, batch_size=256, report_interval=1)
    )
    try:
        for job in (watched, adjusted):
            wait_for_state(client, job.id, job_pb2.JOB_STATE_RUNNING)
        fanout = asyncio.run(
            watch_fanout(
                target, watched.id, num_streams=config.num_streams, seconds=config.watch_seconds
            )
        )
        unary = asyncio.run(
            unary_latencies(
                target,
                watched.id,
                num_clients=config.num_clients,
                calls_per_client=config.calls_per_client,
            )
        )
        adjust = adjust_latencies(client, adjusted.id, "category", config.num_adjustments)
        rates = {
            size: snapshot_rates(client, size * MIB, config.snapshot_repeats)
            for size in config.snapshot_sizes_mib
        }
    finally:
        for job in (watched, adjusted):
            client.cancel(job.id, reason="benchmark done")
    return [
        *_unary_rows(unary, config.num_clients),
        *_fanout_rows(fanout, config.num_streams),
        _adjust_row(adjust),
        *(_snapshot_row(size, values) for size, values in rates.items()),
    ]


def _milliseconds(name: str, seconds: list[float], quantile: float, note: str) -> Row:
    return Row(
        section="control plane",
        name=name,
        value=1e3 * percentile(seconds, quantile) if seconds else None,
        unit="ms",
        note=note,
        detail={"seconds": seconds},
    )


def _unary_rows(latencies: UnaryLatencies, num_clients: int) -> list[Row]:
    health = [1e3 * seconds for seconds in latencies.seconds.get("Health.Check", [])]
    reference = (
        f"health check p50/p99 {percentile(health, 0.5):.1f}/{percentile(health, 0.99):.1f} ms"
    )

    def note(method: str) -> str:
        failed = latencies.failures.get(method, [])
        calls = len(latencies.seconds.get(method, [])) + len(failed)
        failures = f", {len(failed)} failed ({', '.join(sorted(set(failed)))})" if failed else ""
        return f"{calls} calls{failures}; {reference}"

    return [
        _milliseconds(
            f"{method} p{round(100 * quantile)}, {num_clients} concurrent clients",
            latencies.seconds.get(method, []),
            quantile,
            note(method),
        )
        for method in ("GetJob", "ListJobs")
        for quantile in (0.5, 0.99)
    ]


def _fanout_rows(fanout: FanOut, num_streams: int) -> list[Row]:
    note = f"{len(fanout.latencies)} events"
    if fanout.num_refused:
        live = num_streams - fanout.num_refused
        note += f"; {fanout.num_refused} streams refused, on {live}: {fanout.refusal}"
    return [
        _milliseconds(
            f"WatchJob x{num_streams}: event recorded -> on every stream, p{round(100 * q)}",
            fanout.latencies,
            q,
            note,
        )
        for q in (0.5, 0.99)
    ]


def _adjust_row(adjustments: list[Adjustment]) -> Row:
    to_report = [a.to_report_seconds for a in adjustments]
    calls = [a.call_seconds for a in adjustments]
    late = max(a.steps_after_effective for a in adjustments)
    return Row(
        section="control plane",
        name="AdjustLossWeights reply -> first report with the new weight, p50",
        value=1e3 * percentile(to_report, 0.5),
        unit="ms",
        note=f"max {1e3 * max(to_report):.1f} ms; call p50 {1e3 * percentile(calls, 0.5):.1f} ms;"
        f" reported at effective step + {late} at most",
        detail={"adjustments": [asdict(a) for a in adjustments]},
    )


def _snapshot_row(size_mib: int, rates: list[float]) -> Row:
    return Row(
        section="control plane",
        name=f"SnapshotTensors of {size_mib} MiB of parameters (paused job)",
        value=percentile(rates, 0.5),
        unit="MiB/s",
        note=f"{len(rates)} snapshots, {min(rates):.0f}-{max(rates):.0f} MiB/s",
        detail={"mib_per_second": rates},
    )
