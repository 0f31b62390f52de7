"""Client-side view of a failed RPC: its code, message and bad fields."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


class ClientError(Exception):
    """An RPC failed; `code` is the gRPC status code name, `violations` the bad fields."""

    def __init__(self, code: grpc.StatusCode, message: str, violations: list[tuple[str, str]]):
        super().__init__(message)
        self.code = code
        self.message = message
        self.violations = violations

    def __str__(self) -> str:
        lines = [f"{self.code.name}: {self.message}"]
        lines += [f"  {field}: {description}" for field, description in self.violations]
        return "\n".join(lines)

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> ClientError:
        violations: list[tuple[str, str]] = []
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
        if status is not None:
            for detail in status.details:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad_request = error_details_pb2.BadRequest()
                    detail.Unpack(bad_request)
                    violations += [(v.field, v.description) for v in bad_request.field_violations]
        return cls(error.code(), error.details() or "", violations)  # type: ignore[attr-defined]
