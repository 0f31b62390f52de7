"""A parent that stops reading the service's stdout, or closes it, must not stop the
service (or its workers) from serving: logging never blocks and never crashes them."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mtl.v1 import job_pb2
from mtl_service.client import MtlClient
from tests.jobs import quick_job

pytestmark = pytest.mark.integration

# The smallest pipe Linux allows (a page): a few dozen log lines fill it.
SMALL_PIPE_BYTES = 4096
NUM_JOBS = 40  # each logs a job_submitted line of about 200 bytes


@dataclass
class PipedService:
    process: subprocess.Popen[bytes]
    stdout: BinaryIO  # the read end of the service's stdout pipe
    target: str


@pytest.fixture()
def start_piped(tmp_path: Path) -> Iterator[Callable[..., PipedService]]:
    """Starts `mtl-service serve` with stdout on a pipe the test reads only up to
    `service_ready`; stops what is still running at the end (SIGTERM, then SIGKILL)."""
    started: list[PipedService] = []

    def start(*, num_workers: int, pipe_bytes: int | None = None) -> PipedService:
        read_fd, write_fd = os.pipe()
        if pipe_bytes is not None:
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, pipe_bytes)
        command = [
            sys.executable, "-m", "mtl_service.server.main", "serve",
            "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0",
            "--data-dir", str(tmp_path / "data"), "--workers", str(num_workers),
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=write_fd, stderr=subprocess.STDOUT)
        os.close(write_fd)
        stdout = os.fdopen(read_fd, "rb")
        for raw in stdout:
            if b'"service_ready"' in raw:
                port = json.loads(raw)["port"]
                break
        else:
            raise AssertionError(f"the service exited with {process.wait()} before it was ready")
        started.append(PipedService(process, stdout, f"127.0.0.1:{port}"))
        return started[-1]

    yield start
    for service in started:
        if service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
            try:
                service.process.wait(60)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
        service.stdout.close()


def _healthy(target: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=10
        )
    return response.status == health_pb2.HealthCheckResponse.SERVING


def test_the_service_and_its_worker_keep_going_when_stdout_is_closed(
    start_piped: Callable[..., PipedService],
) -> None:
    service = start_piped(num_workers=1)
    service.stdout.close()  # every write to stdout now fails with EPIPE
    with MtlClient(service.target, timeout_seconds=20) as client:
        job = client.submit_text(quick_job(steps=60))
        *_, last = client.watch(job.id)
        assert last.state_change.to_state == job_pb2.JOB_STATE_SUCCEEDED
        assert client.get(job.id).step == 60
    assert _healthy(service.target)
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(60) == 0


def test_a_full_stdout_pipe_never_blocks_the_service(
    start_piped: Callable[..., PipedService],
) -> None:
    service = start_piped(num_workers=0, pipe_bytes=SMALL_PIPE_BYTES)
    with MtlClient(service.target, timeout_seconds=20) as client:
        jobs = [client.submit_text(quick_job()) for _ in range(NUM_JOBS)]
        assert client.get(jobs[-1].id).state == job_pb2.JOB_STATE_QUEUED
    assert _healthy(service.target)
    # Reading again lets out every line that waited, whole, and the shutdown's.
    service.process.send_signal(signal.SIGTERM)
    lines = [json.loads(raw) for raw in service.stdout]
    assert service.process.wait(60) == 0
    events = [line["event"] for line in lines]
    assert events.count("job_submitted") == NUM_JOBS
    assert events[-1] == "service_stopped"
