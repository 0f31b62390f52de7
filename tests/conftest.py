"""Fixtures shared by every test: real service processes on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mtl_service.client import MtlClient
from mtl_service.launcher import ServiceProcess


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One service with one local worker, shared by the tests that only submit and read."""
    data_dir = tmp_path_factory.mktemp("service")
    process = ServiceProcess.start(
        data_dir=data_dir, num_workers=1, extra_args=["--job-retention-seconds", "1"]
    )
    yield process
    assert process.stop() == 0, process.output


@pytest.fixture()
def client(service: ServiceProcess) -> Iterator[MtlClient]:
    with MtlClient(service.target) as connected:
        yield connected


@pytest.fixture()
def idle_service(tmp_path: Path) -> Iterator[ServiceProcess]:
    """A service without workers: submitted jobs stay QUEUED."""
    process = ServiceProcess.start(data_dir=tmp_path / "data", num_workers=0)
    yield process
    process.stop()
