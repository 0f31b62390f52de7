"""`mtl-service serve`: run the control plane (and optionally local workers)."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

import structlog

from mtl_service.logs import capture_native_stderr, configure_logging
from mtl_service.server.app import Service, ServiceConfig
from mtl_service.server.auth import TokenTable
from mtl_service.server.local_workers import count_gpus

log = structlog.get_logger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtl-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the service")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (0.0.0.0)")
    serve.add_argument("--port", type=int, default=50051, help="gRPC port (50051; 0 = any free)")
    serve.add_argument(
        "--metrics-port", type=int, default=8000, help="/metrics port (8000; 0 = any free)"
    )
    serve.add_argument(
        "--data-dir", type=Path, default=Path("mtl-data"), help="SQLite store and checkpoints"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local worker processes (default: one per GPU, else 1; 0 for none)",
    )
    serve.add_argument(
        "--grace-seconds", type=float, default=30.0, help="shutdown grace period (30)"
    )
    serve.add_argument(
        "--heartbeat-seconds", type=float, default=5.0, help="worker heartbeat interval (5)"
    )
    serve.add_argument(
        "--job-retention-seconds",
        type=float,
        default=300.0,
        help="how long a finished job's metric series stay (300)",
    )
    serve.add_argument("--log-level", default="info", help="debug, info, warning or error")
    _add_security_arguments(serve)
    return parser


def _add_security_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--auth-tokens",
        type=Path,
        default=None,
        help="file of `TOKEN ROLE [NAME]` lines (roles: viewer, operator, worker, admin); "
        "without it every RPC is open",
    )
    serve.add_argument("--tls-cert", type=Path, default=None, help="PEM certificate (chain)")
    serve.add_argument("--tls-key", type=Path, default=None, help="PEM private key")
    serve.add_argument(
        "--tls-client-ca",
        type=Path,
        default=None,
        help="PEM CA that clients' certificates must chain to (mutual TLS)",
    )


async def serve(config: ServiceConfig) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    service = Service(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await service.start()
        await stop.wait()
    finally:
        await service.stop()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    configure_logging(level=args.log_level)
    num_workers = args.workers if args.workers is not None else max(1, count_gpus())
    try:
        tokens = TokenTable.load(args.auth_tokens) if args.auth_tokens else None
        config = ServiceConfig(
            host=args.host,
            port=args.port,
            metrics_port=args.metrics_port,
            data_dir=args.data_dir,
            num_workers=num_workers,
            grace_seconds=args.grace_seconds,
            heartbeat_interval_seconds=args.heartbeat_seconds,
            job_retention_seconds=args.job_retention_seconds,
            auth_tokens=tokens,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            tls_client_ca=args.tls_client_ca,
        )
    except (ValueError, OSError) as error:
        raise SystemExit(f"mtl-service: {error}") from None
    capture_native_stderr()
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
