"""`mtl-worker --service HOST:PORT`: one worker slot that trains jobs for the service."""

from __future__ import annotations

import argparse
import os
import signal
import socket
from pathlib import Path

import torch

from mtl_service.logs import capture_native_stderr, configure_logging
from workers.runtime import WorkerRuntime


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
    parser.add_argument("--log-level", default="info", help="debug, info, warning or error")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    configure_logging(level=args.log_level)
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    device_name = args.device
    if device_name == "auto":
        device_name = "cuda:0" if torch.cuda.is_available() else "cpu"
    if device_name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"mtl-worker: --device {args.device} needs CUDA, which this machine lacks")
    capture_native_stderr()
    runtime = WorkerRuntime(
        service_address=args.service,
        worker_id=args.worker_id,
        data_dir=args.data_dir,
        device=torch.device(device_name),
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(
            signum,
            lambda number, frame: runtime.shutdown(
                f"worker shutting down on {signal.Signals(number).name}"
            ),
        )
    runtime.run()


if __name__ == "__main__":
    main()
