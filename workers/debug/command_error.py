"""The error a debug command answers with; the job goes on."""

from __future__ import annotations


class CommandError(Exception):
    """A command failed; `code` is the gRPC status name the caller gets."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
