"""The error root of mtl-service; each subclass names the gRPC status it maps to.

Domain code raises these without importing grpc; one server interceptor turns
them into statuses (with `google.rpc.BadRequest` details for field errors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One invalid field: its dotted path in the request and what is wrong."""

    field: str
    description: str

    def __str__(self) -> str:
        return f"{self.field}: {self.description}"


class MtlError(Exception):
    """Root of every error the service reports to a caller on purpose."""

    status_code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, *, violations: Sequence[FieldViolation] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.violations = tuple(violations)


class InvalidArgument(MtlError):
    """The request is malformed; `violations` names each bad field."""

    status_code = "INVALID_ARGUMENT"

    @classmethod
    def from_violations(cls, violations: Sequence[FieldViolation]) -> InvalidArgument:
        summary = "; ".join(str(v) for v in violations[:5])
        more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
        return cls(f"invalid request: {summary}{more}", violations=violations)


class NotFound(MtlError):
    status_code = "NOT_FOUND"


class FailedPrecondition(MtlError):
    status_code = "FAILED_PRECONDITION"


class ResourceExhausted(MtlError):
    status_code = "RESOURCE_EXHAUSTED"


class Unavailable(MtlError):
    status_code = "UNAVAILABLE"


class DeadlineExceeded(MtlError):
    status_code = "DEADLINE_EXCEEDED"


class Internal(MtlError):
    status_code = "INTERNAL"


_BY_CODE: dict[str, type[MtlError]] = {
    cls.status_code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        FailedPrecondition,
        ResourceExhausted,
        Unavailable,
        DeadlineExceeded,
        Internal,
    )
}


def error_for_code(code: str, message: str) -> MtlError:
    """The MtlError for a status code name a worker reported (INTERNAL if unknown)."""
    return _BY_CODE.get(code, Internal)(message)
