"""LineWriter: logging never blocks on a reader that lags, nor fails on one that left."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from mtl_service.logs import LineWriter

SMALL_PIPE_BYTES = 4096
NUM_LINES = 2000  # about 50 times what the pipe holds


class _Pipe:
    """A pipe of one page whose ends close once, however often they are closed."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        fcntl.fcntl(self.write_fd, fcntl.F_SETPIPE_SZ, SMALL_PIPE_BYTES)
        self._open = {self.read_fd, self.write_fd}

    def close(self, fd: int) -> None:
        if fd in self._open:
            self._open.discard(fd)
            os.close(fd)

    def read_all(self, into: bytearray) -> None:
        while chunk := os.read(self.read_fd, 65536):
            into += chunk


@pytest.fixture()
def pipe() -> Iterator[_Pipe]:
    opened = _Pipe()
    yield opened
    opened.close(opened.read_fd)
    opened.close(opened.write_fd)


def _logger(handler: LineWriter, name: str) -> logging.Logger:
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.handlers[:] = [handler]
    return logger


def test_lines_beyond_the_limit_are_dropped_and_counted_without_blocking(pipe: _Pipe) -> None:
    writer = LineWriter(pipe.write_fd, max_pending_lines=10)
    logger = _logger(writer, "test.lagging_reader")
    with capture_logs() as notices:
        for number in range(NUM_LINES):
            logger.warning("line %d %s", number, "x" * 100)  # returns although nobody reads
        received = bytearray()
        reader = threading.Thread(target=pipe.read_all, args=(received,))
        reader.start()
        writer.flush(timeout_seconds=30)
        logger.warning("line %d after the reader caught up", NUM_LINES)
        writer.flush(timeout_seconds=30)
    pipe.close(pipe.write_fd)
    reader.join(30)
    numbers = [int(line.split()[1]) for line in received.decode().splitlines()]
    assert numbers == sorted(numbers) and numbers[-1] == NUM_LINES  # each line whole, in order
    assert {notice["event"] for notice in notices} == {"log_lines_dropped"}
    num_dropped = sum(notice["num_lines"] for notice in notices)
    assert num_dropped > 0 and len(numbers) + num_dropped == NUM_LINES + 1


def test_a_closed_pipe_is_neither_raised_nor_reported_on_stderr(
    pipe: _Pipe, capfd: pytest.CaptureFixture[str]
) -> None:
    pipe.close(pipe.read_fd)  # EPIPE from now on
    writer = LineWriter(pipe.write_fd)
    logger = _logger(writer, "test.closed_pipe")
    for number in range(100):
        logger.warning("line %d", number)
    writer.flush(timeout_seconds=30)
    assert capfd.readouterr().err == ""
