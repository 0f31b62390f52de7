"""One interceptor turns MtlError into a gRPC status; anything else into INTERNAL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import structlog
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from mtl_service.errors import MtlError

log = structlog.get_logger(__name__)


def status_of(error: MtlError) -> grpc.Status:
    """The rich status for `error`, with BadRequest details for field violations."""
    status = status_pb2.Status(code=code_pb2.Code.Value(error.status_code), message=error.message)
    if error.violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        detail = any_pb2.Any()
        detail.Pack(bad_request)
        status.details.append(detail)
    return rpc_status.to_status(status)


async def _abort_for(error: BaseException, context: grpc.aio.ServicerContext, method: str) -> None:
    if isinstance(error, MtlError):
        await context.abort_with_status(status_of(error))
    request_id = uuid.uuid4().hex[:12]
    log.error("rpc_internal_error", method=method, request_id=request_id, exc_info=error)
    await context.abort(
        grpc.StatusCode.INTERNAL, f"internal error (request id {request_id}); see the service log"
    )


def _wrap_unary(behavior: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Any]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behavior(request, context)
        except Exception as error:  # mapped to a status and logged
            if _is_abort(error):
                raise
            await _abort_for(error, context, method)

    return wrapped


def _wrap_stream(behavior: Callable[..., AsyncIterator[Any]], method: str) -> Callable[..., Any]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for response in behavior(request, context):
                yield response
        except Exception as error:  # mapped to a status and logged
            if _is_abort(error):
                raise
            await _abort_for(error, context, method)

    return wrapped


def _is_abort(error: BaseException) -> bool:
    # context.abort() ends an RPC by raising; let that through untouched.
    return isinstance(error, grpc.aio.AbortError)


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Maps domain errors of every RPC to precise statuses."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith("/mtl.v1."):
            return handler
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=_wrap_unary(handler.unary_unary, method))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=_wrap_stream(handler.unary_stream, method))
        if handler.stream_stream is not None:
            return handler._replace(stream_stream=_wrap_stream(handler.stream_stream, method))
        return handler
