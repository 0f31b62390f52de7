"""`--workers N`: worker processes started beside the service on this machine.

Started with subprocess (never fork: the service holds a gRPC server), each
dials the service like a remote worker would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


def count_gpus() -> int:
    """GPUs on this machine per nvidia-smi, without importing torch; 0 without one."""
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is None:
        return 0
    try:
        listing = subprocess.run(
            [nvidia_smi, "-L"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return 0
    return sum(1 for line in listing.splitlines() if line.startswith("GPU "))


class LocalWorkers:
    """Starts, and at shutdown stops, N `mtl-worker` child processes."""

    def __init__(self, *, num_workers: int, service_address: str, data_dir: Path) -> None:
        self.num_workers = num_workers
        self.service_address = service_address
        self.data_dir = data_dir
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        num_gpus = count_gpus()
        threads_each = max(1, (os.cpu_count() or 1) // max(1, self.num_workers))
        hostname = socket.gethostname()
        for index in range(self.num_workers):
            device = f"cuda:{index % num_gpus}" if num_gpus else "cpu"
            command = [
                sys.executable, "-m", "workers.main",
                "--service", self.service_address,
                "--worker-id", f"{hostname}-local-{index}",
                "--data-dir", str(self.data_dir),
                "--device", device,
                "--num-threads", str(threads_each),
            ]  # fmt: skip
            self._processes.append(subprocess.Popen(command))
            log.info(
                "local_worker_started", index=index, device=device, pid=self._processes[-1].pid
            )

    def stop(self, timeout_seconds: float) -> None:
        """SIGTERM every child (it checkpoints and exits), SIGKILL after the timeout."""
        for process in self._processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_seconds
        for process in self._processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("local_worker_killed", pid=process.pid)
                process.kill()
                process.wait()
        self._processes.clear()
