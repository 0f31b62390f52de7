"""`mtl-worker --service HOST:PORT`: one worker slot that trains jobs for the service."""

from __future__ import annotations

import argparse
import contextvars
import logging
import os
import signal
import socket
import threading
from pathlib import Path

import structlog
import torch

from mtl_service.logs import capture_native_stderr, configure_logging
from workers.connection import ChannelSecurity
from workers.runtime import WorkerRuntime

log = structlog.get_logger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtl-worker", description=__doc__)
    parser.add_argument("--service", required=True, help="the service's HOST:PORT")
    parser.add_argument(
        "--worker-id",
        default=f"{socket.gethostname()}-{os.getpid()}",
        help="unique id of this worker (default: HOSTNAME-PID)",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path("mtl-data"), help="where checkpoints are written"
    )
    parser.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when present)"
    )
    parser.add_argument(
        "--num-threads", type=int, default=0, help="torch intra-op threads (0: torch's default)"
    )
    parser.add_argument(
        "--grace-seconds",
        type=float,
        default=30.0,
        help="on SIGTERM, how long the job may take to checkpoint before the worker exits (30)",
    )
    parser.add_argument(
        "--advertise-host",
        default=os.environ.get("MTL_ADVERTISE_HOST"),
        help="address the other ranks of a distributed job reach this worker on when it is "
        "rank 0 (default $MTL_ADVERTISE_HOST, else the local address of the route to the "
        "service; in Kubernetes, the pod IP)",
    )
    parser.add_argument("--log-level", default="info", help="debug, info, warning or error")
    _add_security_arguments(parser)
    return parser


def _add_security_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token",
        default=os.environ.get("MTL_TOKEN"),
        help="bearer token (role worker or admin) when the service checks tokens "
        "(default $MTL_TOKEN)",
    )
    for option, variable, what in (
        ("--tls-ca", "MTL_TLS_CA", "PEM CA that signed the service's certificate (turns TLS on)"),
        ("--tls-cert", "MTL_TLS_CERT", "PEM client certificate for mutual TLS"),
        ("--tls-key", "MTL_TLS_KEY", "PEM key of --tls-cert"),
    ):
        default = os.environ.get(variable)
        parser.add_argument(
            option,
            type=Path,
            default=Path(default) if default else None,
            help=f"{what} (${variable})",
        )


def _exit_after_grace(grace_seconds: float) -> None:
    """Leave even if the job does not reach a step boundary within the grace period."""
    log.warning("worker_grace_expired", grace_seconds=grace_seconds)
    logging.shutdown()  # os._exit skips it: the log lines still queued go out first
    os._exit(1)


def _install_signal_handlers(runtime: WorkerRuntime, grace_seconds: float) -> None:
    """SIGTERM/SIGINT: the job checkpoints and the worker exits, within the grace period."""
    deadline = threading.Timer(grace_seconds, _exit_after_grace, args=(grace_seconds,))
    deadline.daemon = True

    def handle(number: int, frame: object) -> None:
        reason = f"worker shutting down on {signal.Signals(number).name}"
        # On a thread (shutdown() takes a lock the interrupted main thread may hold),
        # with the main thread's log context (worker_id, job_id).
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(runtime.shutdown, reason)).start()
        if not deadline.is_alive():
            deadline.start()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handle)


def build_runtime(args: argparse.Namespace) -> WorkerRuntime:
    """The worker slot `args` describe, its connection complete (it dials in `run()`)."""
    device_name = args.device
    if device_name == "auto":
        device_name = "cuda:0" if torch.cuda.is_available() else "cpu"
    if device_name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"mtl-worker: --device {args.device} needs CUDA, which this machine lacks")
    return WorkerRuntime(
        service_address=args.service,
        worker_id=args.worker_id,
        data_dir=args.data_dir,
        device=torch.device(device_name),
        advertise_host=args.advertise_host,
        security=ChannelSecurity.from_files(
            token=args.token, ca=args.tls_ca, cert=args.tls_cert, key=args.tls_key
        ),
    )


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    configure_logging(level=args.log_level)
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    runtime = build_runtime(args)
    capture_native_stderr()
    _install_signal_handlers(runtime, args.grace_seconds)
    runtime.run()


if __name__ == "__main__":
    main()
