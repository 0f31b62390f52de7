"""mtlctl's exit codes, and the one a failed RPC maps to."""

from __future__ import annotations

import grpc

from mtl_service.client import ClientError

EXIT_JOB_UNSUCCESSFUL = 1
EXIT_BAD_INPUT = 2
EXIT_OTHER = 6
_BY_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: EXIT_BAD_INPUT,
    grpc.StatusCode.NOT_FOUND: 3,
    grpc.StatusCode.FAILED_PRECONDITION: 4,
    grpc.StatusCode.UNAVAILABLE: 5,
    grpc.StatusCode.DEADLINE_EXCEEDED: 5,
}


def exit_code(error: ClientError) -> int:
    """The exit code for a failed RPC: 2, 3, 4 or 5 by status, 6 for any other."""
    return _BY_STATUS.get(error.code, EXIT_OTHER)
