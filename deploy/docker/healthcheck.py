#!/usr/bin/env python3
"""Container health check: a grpc.health.v1 Check of the service in this container.

Exits 0 when the service answers SERVING and 1 otherwise. A worker container
serves no gRPC; it is healthy while its process runs, so the check passes.

    mtl-healthcheck                      # the --port of PID 1 (`mtl-service serve`)
    mtl-healthcheck --target HOST:PORT   # that address
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

DEFAULT_PORT = 50051


def served_port(cmdline: Sequence[str]) -> int | None:
    """The gRPC port of an `mtl-service serve` command line; None for any other program."""
    runs_service = any(
        Path(arg).name == "mtl-service" or arg == "mtl_service.server.main" for arg in cmdline
    )
    if not runs_service or "serve" not in cmdline:
        return None
    for index, arg in enumerate(cmdline):
        if arg == "--port" and index + 1 < len(cmdline):
            return int(cmdline[index + 1])
        if arg.startswith("--port="):
            return int(arg.removeprefix("--port="))
    return DEFAULT_PORT


def pid1_cmdline() -> list[str]:
    raw = Path("/proc/1/cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_serving(target: str, timeout_seconds: float) -> bool:
    """Whether the overall health ("") of the server at `target` is SERVING."""
    with grpc.insecure_channel(target) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout_seconds
            )
        except grpc.RpcError as error:
            print(f"unhealthy: {target}: {error.code().name}: {error.details()}", file=sys.stderr)
            return False
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        print(f"unhealthy: {target}: {status}", file=sys.stderr)
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mtl-healthcheck", description=__doc__.splitlines()[0])
    parser.add_argument("--target", help="HOST:PORT to check (default: from PID 1)")
    parser.add_argument("--timeout-seconds", type=float, default=3.0, help="RPC deadline (3)")
    args = parser.parse_args(argv)
    target = args.target
    if target is None:
        port = served_port(pid1_cmdline())
        if port is None:
            return 0  # a worker (or a shell): nothing serves gRPC here
        target = f"127.0.0.1:{port}"
    return 0 if is_serving(target, args.timeout_seconds) else 1


if __name__ == "__main__":
    sys.exit(main())
