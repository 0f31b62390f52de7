"""Structured logging, configured once: JSON lines off a TTY, console on one.

Lines go to stdout from a writer thread, never from the code that logs: a
parent that stops reading (a full pipe) or goes away (a closed pipe, EPIPE)
must not block the service's event loop or a worker's training loop, nor
crash them.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import deque

import structlog

log = structlog.get_logger(__name__)

# Lines waiting for a slow reader; beyond this they are dropped and counted.
MAX_PENDING_LINES = 10_000
# At exit, how long the last lines may take to go out to a reader that is slow.
FLUSH_TIMEOUT_SECONDS = 2.0
# A native_stderr line longer than this is split.
MAX_NATIVE_LINE_BYTES = 64 * 1024

_SHARED_PROCESSORS: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
    structlog.processors.format_exc_info,
]


def configure_logging(*, level: str = "info", json: bool | None = None) -> None:
    """Route structlog and stdlib loggers (grpc, torch) through one pipeline.

    Every line carries `event`, `level` and `timestamp`, plus whatever is bound
    with `structlog.contextvars.bind_contextvars` (job_id, worker_id, step).
    `json=None` picks JSON unless stdout is a TTY.
    """
    render_json = (not sys.stdout.isatty()) if json is None else json
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if render_json
        else structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    )
    structlog.configure(
        processors=[
            *_SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = LineWriter(sys.stdout.fileno())
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)


def capture_native_stderr(logger_name: str = "stderr") -> None:
    """Turn whatever native code writes to fd 2 (profiler notices, CUDA warnings,
    a crash's last words) into JSON log lines, so every line stays parseable.

    fd 2 becomes a pipe read by a daemon thread that logs each line as a
    `native_stderr` event; the logs themselves go to stdout, and a failed write
    there is never reported on stderr, so nothing loops.
    """
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as fd 2
    logger = structlog.get_logger(logger_name)

    def forward() -> None:
        with open(read_end, "rb") as pipe:
            # Bounded reads: output without newlines must not grow one line forever.
            for raw in iter(lambda: pipe.readline(MAX_NATIVE_LINE_BYTES), b""):
                line = raw.decode(errors="replace").rstrip()
                if line:
                    logger.warning("native_stderr", line=line)

    threading.Thread(target=forward, name="stderr-to-log", daemon=True).start()


class LineWriter(logging.Handler):
    """Formats a record on the logging thread and queues the line; a thread of
    its own writes the lines to `fd`.

    Logging never blocks: while the reader lags, up to `max_pending_lines`
    wait, further ones are dropped and a `log_lines_dropped` line counts them
    once there is room again. Once a write fails (EPIPE: nobody reads any
    more) the handler discards everything, silently: there is nobody left to
    tell, and a report on stderr would come back here as `native_stderr`.
    """

    def __init__(self, fd: int, *, max_pending_lines: int = MAX_PENDING_LINES) -> None:
        super().__init__()
        self.fd = fd
        self.max_pending_lines = max_pending_lines
        self._pending: deque[bytes] = deque()
        self._changed = threading.Condition()
        self._num_dropped = 0
        self._broken = False
        threading.Thread(target=self._write_lines, name="log-writer", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        if self._broken:
            return
        try:
            line = (self.format(record) + "\n").encode(errors="replace")
        except Exception:  # a record that cannot be formatted: logging's own report
            self.handleError(record)
            return
        with self._changed:
            if len(self._pending) >= self.max_pending_lines:
                self._num_dropped += 1
                return
            self._pending.append(line)
            self._changed.notify_all()
            num_dropped, self._num_dropped = self._num_dropped, 0
        if num_dropped:
            log.warning("log_lines_dropped", num_lines=num_dropped)

    def flush(self, timeout_seconds: float = FLUSH_TIMEOUT_SECONDS) -> None:
        """Wait until the pending lines are written, at most `timeout_seconds`
        (logging calls this at exit)."""
        with self._changed:
            self._changed.wait_for(lambda: not self._pending or self._broken, timeout_seconds)

    def _write_lines(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending)
                line = self._pending[0]
            try:
                _write_all(self.fd, line)
            except OSError:  # EPIPE, or the fd was closed
                with self._changed:
                    self._broken = True
                    self._pending.clear()
                    self._changed.notify_all()
                return
            with self._changed:
                self._pending.popleft()
                self._changed.notify_all()


def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is out (a pipe may take part of a line)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
