"""A real Prometheus scrapes a service while a job trains: every dashboard query
returns data, every alert rule evaluates without error, and `promtool check
metrics` has nothing to say about /metrics.

Prometheus (Debian's `prometheus`, from deploy/install-tools.sh) listens on
loopback with a 1 s scrape and evaluation interval and its TSDB in a temp dir;
the tests wait by polling its HTTP API against a deadline, and it is killed at
the end whatever happened.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
import yaml

from mtl.v1 import job_pb2
from mtl_service.client import MtlClient
from mtl_service.launcher import ServiceProcess
from mtl_service.server.local_workers import count_gpus
from tests.deploy.conftest import _require_tool
from tests.deploy.promql import (
    ALERTS,
    alert_rules,
    dashboard_label_values,
    dashboard_queries,
    metric_names,
)
from tests.jobs import quick_job

T = TypeVar("T")
TIMEOUT_SECONDS = 60.0  # generous: a loaded CI machine starts torch slowly
GPU_METRICS = frozenset({"mtl_gpu_memory_allocated_bytes", "mtl_gpu_memory_reserved_bytes"})
# Task statistics every 5 steps, validation with delta-m% and a checkpoint every
# 50, and a breakpoint that only logs: nearly every series the service has.
JOB_SPEC = (
    quick_job(steps=1_000_000, report_interval=5, checkpoint_interval=50)
    + """
stats_interval: 5
eval_interval: 50
single_task_baselines: {value.mse: 30.0, category.accuracy: 0.8}
breakpoints:
  - {condition: "step == 10", action: BREAKPOINT_ACTION_LOG}
"""
)


class PrometheusServer:
    """A `prometheus` process scraping one target, and its HTTP API."""

    def __init__(self, binary: str, workdir: Path, target: str) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = workdir / "prometheus.log"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [
                {"job_name": "mtl-service", "static_configs": [{"targets": [target]}]}
            ],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={workdir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def api(self, path: str, **params: str) -> Any:
        """The `data` of a successful /api/v1 answer; AssertionError with the error otherwise."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{path} {params}: {error.read().decode()}") from None
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.api("query", query=expr)["result"]

    def wait_ready(self) -> None:
        def ready() -> None:
            assert self.process.poll() is None, self.log_path.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    assert response.status == 200
            except OSError as error:
                raise AssertionError(f"prometheus is not ready: {error}") from None

        eventually(ready)

    def kill(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass(frozen=True, slots=True)
class Scene:
    """A paused job's service and the Prometheus that scraped it while it trained."""

    service: ServiceProcess
    prometheus: PrometheusServer
    job_id: str


def eventually(check: Callable[[], T], timeout_seconds: float = TIMEOUT_SECONDS) -> T:
    """`check()` once it stops failing its assertions; its last failure after the deadline."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.25)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _train_then_pause(client: MtlClient, prometheus: PrometheusServer) -> str:
    """Train until Prometheus holds three scrapes of task statistics, then pause the
    job, snapshot it and let one watch run out of time (a non-OK gRPC code)."""
    job = client.submit_text(JOB_SPEC)

    def scraped_three_times() -> None:
        assert prometheus.query("count_over_time(mtl_task_grad_cosine[1m]) >= 3")

    eventually(scraped_three_times)
    client.pause(job.id)
    client.snapshot(job.id, ["loss:*"], include_data=True)
    watch = client.jobs.WatchJob(job_pb2.WatchJobRequest(job_id=job.id), timeout=0.5)
    with pytest.raises(grpc.RpcError) as raised:
        list(watch)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    return job.id


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    binary = _require_tool("prometheus")
    workdir = tmp_path_factory.mktemp("real-prometheus")
    service = ServiceProcess.start(data_dir=workdir / "data", num_workers=1)
    prometheus = PrometheusServer(binary, workdir, f"127.0.0.1:{service.metrics_port}")
    try:
        prometheus.wait_ready()
        with MtlClient(service.target) as client:
            job_id = _train_then_pause(client, prometheus)
            yield Scene(service=service, prometheus=prometheus, job_id=job_id)
            client.cancel(job_id)
    finally:
        prometheus.kill()
        service.stop()


def test_every_dashboard_query_returns_data(scene: Scene) -> None:
    """With `$job_id` as "All"; the GPU panels need a GPU worker to have data."""
    has_gpu = count_gpus() > 0
    queries = [expr.replace("$job_id", ".*") for expr in dashboard_queries()]

    def all_answer() -> None:
        empty = [
            expr
            for expr in queries
            if not scene.prometheus.query(expr)
            and (has_gpu or not metric_names(expr) & GPU_METRICS)
        ]
        assert not empty, "no data for:\n" + "\n".join(empty)

    eventually(all_answer)


def test_the_dashboard_variables_list_the_job(scene: Scene) -> None:
    for metric, label in dashboard_label_values():
        values = scene.prometheus.api(f"label/{label}/values", **{"match[]": metric})
        assert scene.job_id in values, (metric, label, values)


def test_every_alert_rule_evaluates_without_error(scene: Scene) -> None:
    names = {rule["alert"] for rule in alert_rules()}

    def all_evaluated() -> None:
        groups = scene.prometheus.api("rules")["groups"]
        rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
        assert set(rules) == names
        unhealthy = {
            name: (rule["health"], rule.get("lastError"))
            for name, rule in rules.items()
            if rule["health"] != "ok"
        }
        assert not unhealthy, unhealthy

    eventually(all_evaluated)


def test_promtool_check_metrics_reports_nothing(scene: Scene, promtool: str) -> None:
    url = f"http://127.0.0.1:{scene.service.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        exposition = response.read()
    assert b"mtl_task_grad_cosine{" in exposition
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=exposition,
        capture_output=True,
        timeout=60,
        check=False,
    )
    report = (result.stdout + result.stderr).decode()
    assert result.returncode == 0 and not report.strip(), report
