"""Start `mtl-service serve` as a child process and learn its ports from its log.

Used by the quick start, the integration tests and the benchmarks: the
service binds port 0 and reports the ports it got in its `service_ready` log
line, so nothing races for a port.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class ServiceProcess:
    """A running service child process and every JSON line it printed."""

    def __init__(
        self, process: subprocess.Popen[str], data_dir: Path, log_path: Path | None
    ) -> None:
        self.process = process
        self.data_dir = data_dir
        self.lines: list[str] = []
        self.port = 0
        self.metrics_port = 0
        self._ready = threading.Event()
        self._log_file = open(log_path, "a") if log_path is not None else None  # noqa: SIM115
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    @classmethod
    def start(
        cls,
        *,
        data_dir: Path,
        num_workers: int = 1,
        port: int = 0,
        extra_args: Sequence[str] = (),
        log_path: Path | None = None,
        ready_timeout_seconds: float = 60.0,
    ) -> ServiceProcess:
        """Start the service on loopback (gRPC on `port`, 0 for a free one; metrics on
        a free port) and wait until it is ready."""
        command = [
            sys.executable, "-m", "mtl_service.server.main", "serve",
            "--host", "127.0.0.1", "--port", str(port), "--metrics-port", "0",
            "--data-dir", str(data_dir), "--workers", str(num_workers), *extra_args,
        ]  # fmt: skip
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        service = cls(process, data_dir, log_path)
        if not service._ready.wait(ready_timeout_seconds):
            service.stop()
            raise RuntimeError(f"the service did not become ready; its output:\n{service.output}")
        return service

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "\n".join(self.lines[-50:])

    def json_lines(self) -> list[dict[str, Any]]:
        """Every line printed so far, parsed; ValueError names a line that is not JSON."""
        parsed = []
        for line in list(self.lines):
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValueError(f"not a JSON log line: {line!r}") from None
        return parsed

    def stop(self, timeout_seconds: float = 60.0) -> int:
        """SIGTERM (graceful shutdown), SIGKILL after the timeout; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout_seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(10)
        if self._log_file is not None:
            self._log_file.close()
        return code

    def kill(self) -> int:
        """SIGKILL the service (a crash, no graceful shutdown); returns the exit code.

        Its local workers live on as orphans that share its stdout, so the reader
        keeps collecting their lines (and the log file stays open for them)."""
        self.process.kill()
        return self.process.wait()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.rstrip("\n")
            self.lines.append(line)
            if self._log_file is not None:
                self._log_file.write(raw)
                self._log_file.flush()
            if not self._ready.is_set() and '"service_ready"' in line:
                event = json.loads(line)
                self.port, self.metrics_port = event["port"], event["metrics_port"]
                self._ready.set()
