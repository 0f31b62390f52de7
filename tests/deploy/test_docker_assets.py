"""deploy/docker: the health check and entrypoint work; the Dockerfiles keep their promises.

No Docker engine runs here, so the images are not built; the pieces they run
are exercised directly and the Dockerfiles are read.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Iterator
from concurrent import futures
from types import ModuleType

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tests.deploy.assets import DEPLOY, REPOSITORY, printed, run_tool

DOCKER = DEPLOY / "docker"
DOCKERFILES = ("Dockerfile.cpu", "Dockerfile.cuda")


def _load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mtl_healthcheck", DOCKER / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = _load_healthcheck()


@pytest.fixture()
def health_server() -> Iterator[tuple[str, health.HealthServicer]]:
    servicer = health.HealthServicer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        server.stop(0)


@pytest.mark.parametrize(
    ("cmdline", "port"),
    [
        (["/opt/venv/bin/python", "/opt/venv/bin/mtl-service", "serve", "--port", "6000"], 6000),
        (["/opt/venv/bin/python", "/opt/venv/bin/mtl-service", "serve", "--port=6001"], 6001),
        (["python", "-m", "mtl_service.server.main", "serve"], 50051),
        (["/opt/venv/bin/python", "/opt/venv/bin/mtl-worker", "--service", "svc:50051"], None),
        (["/bin/sh"], None),
    ],
)
def test_the_health_check_finds_the_port_of_the_service_it_runs_beside(
    cmdline: list[str], port: int | None
) -> None:
    assert healthcheck.served_port(cmdline) == port


def test_the_health_check_passes_while_the_service_is_serving(health_server) -> None:
    target, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert healthcheck.main(["--target", target]) == 0
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert healthcheck.main(["--target", target]) == 1


def test_the_health_check_fails_when_nothing_answers() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    server.stop(0).wait()
    assert healthcheck.main(["--target", f"127.0.0.1:{port}", "--timeout-seconds", "1"]) == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["service", "--help"], "usage: mtl-service serve"),
        (["worker", "--help"], "usage: mtl-worker"),
        (["echo", "anything else runs as given"], "anything else runs as given"),
    ],
)
def test_the_entrypoint_dispatches_service_worker_or_a_command(
    args: list[str], expected: str
) -> None:
    env_path = f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"
    result = run_tool(
        "env", f"PATH={env_path}", "sh", str(DOCKER / "entrypoint.sh"), *args, cwd=REPOSITORY
    )
    assert result.returncode == 0, printed(result)
    assert expected in result.stdout


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (DOCKER / dockerfile).read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [
        (parts[0].upper(), parts[1] if len(parts) > 1 else "")
        for line in joined.splitlines()
        if (parts := line.strip().split(None, 1))
    ]


def _allowed_by_dockerignore() -> list[str]:
    lines = (REPOSITORY / ".dockerignore").read_text().splitlines()
    return [line[1:].rstrip("/") for line in lines if line.startswith("!")]


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_the_image_runs_as_non_root_with_a_health_check_and_an_entrypoint(
    dockerfile: str,
) -> None:
    instructions = _instructions(dockerfile)
    (user,) = [args for name, args in instructions if name == "USER"]
    assert user.split(":")[0] not in {"root", "0"}
    (check,) = [args for name, args in instructions if name == "HEALTHCHECK"]
    assert check.endswith('CMD ["mtl-healthcheck"]')
    assert ("ENTRYPOINT", '["mtl-entrypoint"]') in instructions


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_everything_the_image_copies_is_in_the_build_context(dockerfile: str) -> None:
    allowed = _allowed_by_dockerignore()
    for name, args in _instructions(dockerfile):
        if name != "COPY":
            continue
        *sources, _ = [arg for arg in args.split() if not arg.startswith("--")]
        for source in sources:
            assert any(source == a or source.startswith(f"{a}/") for a in allowed), source
            assert (REPOSITORY / source).exists(), source


def test_the_cpu_image_installs_the_pinned_cpu_torch_before_the_project() -> None:
    instructions = _instructions("Dockerfile.cpu")
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = [args for name, args in instructions if name == "RUN"]
    torch_step = next(i for i, run in enumerate(runs) if "torch==" in run)
    project_step = next(i for i, run in enumerate(runs) if "pip install /src" in run)
    assert "--index-url https://download.pytorch.org/whl/cpu" in runs[torch_step]
    assert ("ARG", "TORCH_VERSION=2.13.0") in instructions
    assert torch_step < project_step


def test_the_cuda_image_starts_from_an_nvidia_cuda_runtime() -> None:
    instructions = _instructions("Dockerfile.cuda")
    (base,) = [args for name, args in instructions if name == "ARG" and "CUDA_IMAGE=" in args]
    assert re.fullmatch(r"CUDA_IMAGE=nvidia/cuda:[\d.]+-runtime-ubuntu[\d.]+", base)
    assert ("FROM", "${CUDA_IMAGE}") in instructions
    assert ("ARG", "TORCH_VERSION=2.13.0") in instructions
