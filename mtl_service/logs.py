"""Structured logging, configured once: JSON lines off a TTY, console on one."""

from __future__ import annotations

import logging
import os
import sys
import threading

import structlog

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
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)


def capture_native_stderr(logger_name: str = "stderr") -> None:
    """Turn whatever native code writes to fd 2 (profiler notices, CUDA warnings,
    a crash's last words) into JSON log lines, so every line stays parseable.

    fd 2 becomes a pipe read by a daemon thread that logs each line as a
    `native_stderr` event; the logs themselves go to stdout, so nothing loops.
    """
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as fd 2
    logger = structlog.get_logger(logger_name)

    def forward() -> None:
        with open(read_end, "rb") as pipe:
            for raw in pipe:
                line = raw.decode(errors="replace").rstrip()
                if line:
                    logger.warning("native_stderr", line=line)

    threading.Thread(target=forward, name="stderr-to-log", daemon=True).start()
