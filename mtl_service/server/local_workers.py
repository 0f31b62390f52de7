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
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

MIN_RESTART_BACKOFF_SECONDS = 0.5
MAX_RESTART_BACKOFF_SECONDS = 30.0
# A worker that ran this long before dying starts over at the shortest backoff.
STABLE_RUN_SECONDS = 10.0


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
    """Starts N `mtl-worker` child processes, restarts any that dies (with
    exponential backoff) and stops them all at shutdown.

    One supervisor thread per slot waits on its process; worker ids carry the
    service's pid so that orphans of a killed service, which reconnect to a
    restarted one, never share an id with the new service's workers.
    """

    def __init__(
        self,
        *,
        num_workers: int,
        service_address: str,
        data_dir: Path,
        extra_args: Sequence[str] = (),
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.num_workers = num_workers
        self.service_address = service_address
        self.data_dir = data_dir
        self.extra_args = tuple(extra_args)
        self.environment = {**os.environ, **(extra_env or {})}
        self._processes: list[subprocess.Popen[bytes]] = []
        self._supervisors: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self) -> None:
        num_gpus = count_gpus()
        threads_each = max(1, (os.cpu_count() or 1) // max(1, self.num_workers))
        prefix = f"{socket.gethostname()}-{os.getpid()}-local"
        for index in range(self.num_workers):
            device = f"cuda:{index % num_gpus}" if num_gpus else "cpu"
            command = [
                sys.executable, "-m", "workers.main",
                "--service", self.service_address,
                "--worker-id", f"{prefix}-{index}",
                "--data-dir", str(self.data_dir),
                "--device", device,
                "--num-threads", str(threads_each),
                *self.extra_args,
            ]  # fmt: skip
            self._processes.append(subprocess.Popen(command, env=self.environment))
            log.info(
                "local_worker_started", index=index, device=device, pid=self._processes[-1].pid
            )
            supervisor = threading.Thread(
                target=self._supervise, args=(index, command), name=f"local-worker-{index}"
            )
            supervisor.start()
            self._supervisors.append(supervisor)

    def stop(self, timeout_seconds: float) -> None:
        """SIGTERM every child (it checkpoints and exits), SIGKILL after the timeout."""
        with self._lock:
            self._stopping.set()
            processes = list(self._processes)
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_seconds
        for process in processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("local_worker_killed", pid=process.pid)
                process.kill()
                process.wait()
        for supervisor in self._supervisors:
            supervisor.join()
        self._processes.clear()

    def _supervise(self, index: int, command: list[str]) -> None:
        """Wait on slot `index`'s process; restart it after backoff until stopping."""
        backoff = MIN_RESTART_BACKOFF_SECONDS
        while True:
            started = time.monotonic()
            exit_code = self._processes[index].wait()
            if time.monotonic() - started > STABLE_RUN_SECONDS:
                backoff = MIN_RESTART_BACKOFF_SECONDS
            if self._stopping.wait(backoff):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._processes[index] = subprocess.Popen(command, env=self.environment)
            log.warning(
                "local_worker_restarted",
                index=index,
                exit_code=exit_code,
                pid=self._processes[index].pid,
                backoff_seconds=backoff,
            )
            backoff = min(2 * backoff, MAX_RESTART_BACKOFF_SECONDS)
