"""gRPC server metrics under the names of go-grpc-prometheus, as a grpc.aio interceptor.

Every RPC of every service (ours, health, reflection) is measured:

- `grpc_server_started_total`, `grpc_server_msg_received_total`,
  `grpc_server_msg_sent_total` and the `grpc_server_handling_seconds`
  histogram, labelled `grpc_type`, `grpc_service`, `grpc_method`;
- `grpc_server_handled_total`, labelled as above plus `grpc_code`, the final
  status the client saw, spelled as `grpc.StatusCode` names (`OK`, `NOT_FOUND`,
  `CANCELLED`, ...).

Install it *outside* the ErrorInterceptor (first in the server's list) so the
code it reads is the one the ErrorInterceptor's abort set:

    grpc.aio.server(interceptors=[GrpcMetricsInterceptor(registry), ErrorInterceptor()])

Only async behaviors are measured (coroutines, async generators and
coroutines that stream with `context.write`); a synchronous behavior handed to
the aio server passes through unmeasured, because its context cannot be
awaited on from the thread it runs on.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

# The buckets of go-grpc-prometheus (Prometheus' DefBuckets), so dashboards
# written for Go services read ours the same way.
HANDLING_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_LABELS = ("grpc_type", "grpc_service", "grpc_method")

Behavior = Callable[..., Any]


class GrpcServerMetrics:
    """The five `grpc_server_*` metrics, defined once on the registry passed in."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        handling_seconds_buckets: tuple[float, ...] = HANDLING_SECONDS_BUCKETS,
    ) -> None:
        self.started = Counter(
            "grpc_server_started",
            "Total number of RPCs started on the server.",
            _LABELS,
            registry=registry,
        )
        self.handled = Counter(
            "grpc_server_handled",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            (*_LABELS, "grpc_code"),
            registry=registry,
        )
        self.handling_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been application-level "
            "handled by the server.",
            _LABELS,
            buckets=handling_seconds_buckets,
            registry=registry,
        )
        self.msg_received = Counter(
            "grpc_server_msg_received",
            "Total number of RPC stream messages received on the server.",
            _LABELS,
            registry=registry,
        )
        self.msg_sent = Counter(
            "grpc_server_msg_sent",
            "Total number of gRPC stream messages sent by the server.",
            _LABELS,
            registry=registry,
        )


class _Call:
    """One RPC being measured: counts its messages, then records how it ended."""

    __slots__ = ("_labels", "_metrics", "_start")

    def __init__(self, metrics: GrpcServerMetrics, labels: tuple[str, str, str]) -> None:
        self._metrics = metrics
        self._labels = labels
        self._start = time.perf_counter()
        metrics.started.labels(*labels).inc()

    def received(self) -> None:
        self._metrics.msg_received.labels(*self._labels).inc()

    def sent(self) -> None:
        self._metrics.msg_sent.labels(*self._labels).inc()

    def finish(self, code: grpc.StatusCode) -> None:
        self._metrics.handled.labels(*self._labels, code.name).inc()
        self._metrics.handling_seconds.labels(*self._labels).observe(
            time.perf_counter() - self._start
        )


def final_code(context: grpc.aio.ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    """The status the client sees once the behavior ended, with `error` or without.

    `context.code()` holds what `abort()` or `set_code()` chose, and grpc sends
    that code even when the behavior then raised; an RPC cut short by the
    client ends with `CancelledError` (or `GeneratorExit` for a stream) and no code.
    """
    code = context.code()
    if code is not None:
        return code
    if error is None:
        return grpc.StatusCode.OK
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN  # what grpc answers to an unexpected exception


class _MeteredContext:
    """The servicer context, counting messages moved with `read()` and `write()`."""

    def __init__(self, context: grpc.aio.ServicerContext, call: _Call) -> None:
        self._context = context
        self._call = call

    async def read(self) -> Any:
        message = await self._context.read()
        if message is not grpc.aio.EOF:
            self._call.received()
        return message

    async def write(self, message: Any) -> None:
        await self._context.write(message)
        self._call.sent()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class _CountedRequests:
    """A request stream that counts each message it hands on."""

    def __init__(self, requests: AsyncIterable[Any], call: _Call) -> None:
        self._requests = requests
        self._iterator: AsyncIterator[Any] | None = None
        self._call = call

    def __aiter__(self) -> _CountedRequests:
        return self

    async def __anext__(self) -> Any:
        # Started lazily: a behavior that reads with context.read() never
        # iterates, and grpc's receiver must not be started for nothing.
        if self._iterator is None:
            self._iterator = self._requests.__aiter__()
        message = await self._iterator.__anext__()
        self._call.received()
        return message


def _wrap_single_response(
    behavior: Behavior, start: Callable[[], _Call], request_streaming: bool
) -> Behavior:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        call = start()
        error: BaseException | None = None
        try:
            return await behavior(*_metered(request, context, call, request_streaming))
        except BaseException as raised:  # recorded, then re-raised untouched
            error = raised
            raise
        finally:
            code = final_code(context, error)
            if code is grpc.StatusCode.OK:
                call.sent()
            call.finish(code)

    return wrapped


def _wrap_streaming_generator(
    behavior: Behavior, start: Callable[[], _Call], request_streaming: bool
) -> Behavior:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        call = start()
        error: BaseException | None = None
        try:
            async for response in behavior(*_metered(request, context, call, request_streaming)):
                yield response
                call.sent()  # the server resumes the generator once the message is out
        except BaseException as raised:  # GeneratorExit too: the client went away
            error = raised
            raise
        finally:
            call.finish(final_code(context, error))

    return wrapped


def _wrap_streaming_coroutine(
    behavior: Behavior, start: Callable[[], _Call], request_streaming: bool
) -> Behavior:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> None:
        call = start()
        error: BaseException | None = None
        try:
            await behavior(*_metered(request, context, call, request_streaming))
        except BaseException as raised:  # recorded, then re-raised untouched
            error = raised
            raise
        finally:
            call.finish(final_code(context, error))

    return wrapped


def _metered(
    request: Any, context: grpc.aio.ServicerContext, call: _Call, request_streaming: bool
) -> tuple[Any, Any]:
    """The arguments the behavior gets: requests and context that count messages."""
    if request_streaming:
        request = _CountedRequests(request, call)
    else:
        call.received()
    return request, _MeteredContext(context, call)


def _grpc_type(handler: grpc.RpcMethodHandler) -> str:
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    if handler.response_streaming:
        return "server_stream"
    return "unary"


def _split_method(full_method: str) -> tuple[str, str]:
    """`/mtl.v1.JobService/GetJob` -> (`mtl.v1.JobService`, `GetJob`)."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service or "unknown", method


_BEHAVIOR_FIELDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


class GrpcMetricsInterceptor(grpc.aio.ServerInterceptor):
    """Measures every RPC into `grpc_server_*` metrics on `registry`."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        handling_seconds_buckets: tuple[float, ...] = HANDLING_SECONDS_BUCKETS,
    ) -> None:
        self.metrics = GrpcServerMetrics(
            registry, handling_seconds_buckets=handling_seconds_buckets
        )

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:  # unknown method: grpc answers UNIMPLEMENTED itself
            return handler
        field = next(name for name in _BEHAVIOR_FIELDS if getattr(handler, name) is not None)
        behavior = getattr(handler, field)
        labels = (_grpc_type(handler), *_split_method(handler_call_details.method))

        def start() -> _Call:
            return _Call(self.metrics, labels)

        if not handler.response_streaming and inspect.iscoroutinefunction(behavior):
            wrapped = _wrap_single_response(behavior, start, handler.request_streaming)
        elif handler.response_streaming and inspect.isasyncgenfunction(behavior):
            wrapped = _wrap_streaming_generator(behavior, start, handler.request_streaming)
        elif handler.response_streaming and inspect.iscoroutinefunction(behavior):
            wrapped = _wrap_streaming_coroutine(behavior, start, handler.request_streaming)
        else:
            return handler  # synchronous behavior; see the module docstring
        return handler._replace(**{field: wrapped})
