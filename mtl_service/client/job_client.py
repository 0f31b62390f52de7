"""MtlClient: the JobService and DebugService calls with Python types and ClientError on failure."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import grpc

from mtl.v1 import debug_pb2_grpc, job_pb2, job_pb2_grpc, spec_pb2
from mtl_service.client.debug_client import DebugCalls
from mtl_service.client.errors import ClientError

T = TypeVar("T")
MIN_DEBUG_TIMEOUT_SECONDS = 120.0


class MtlClient(DebugCalls):
    """A connection to one mtl-service; use as a context manager or call close().

    The debug calls (set_breakpoint, pause, snapshot, ...) come from DebugCalls.
    """

    def __init__(
        self,
        target: str = "localhost:50051",
        *,
        timeout_seconds: float = 30.0,
        token: str | None = None,
        tls_ca: Path | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
    ) -> None:
        """`token`: bearer token sent with every call; `tls_ca` (the CA that signed
        the service's certificate) turns TLS on, `tls_cert`/`tls_key` add a client
        certificate for mutual TLS."""
        self.target = target
        self.timeout_seconds = timeout_seconds
        self.debug_timeout_seconds = max(timeout_seconds, MIN_DEBUG_TIMEOUT_SECONDS)
        self.channel = _open_channel(target, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.jobs = job_pb2_grpc.JobServiceStub(self.channel)
        self.debug = debug_pb2_grpc.DebugServiceStub(self.channel)

    def __enter__(self) -> MtlClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def submit_text(self, spec_text: str) -> job_pb2.Job:
        """Submit a YAML or JSON job spec; the service parses and validates it."""
        request = job_pb2.SubmitJobRequest(spec_text=spec_text)
        return self._call(self.jobs.SubmitJob, request).job

    def submit(self, spec: spec_pb2.JobSpec) -> job_pb2.Job:
        return self._call(self.jobs.SubmitJob, job_pb2.SubmitJobRequest(spec=spec)).job

    def get(self, job_id: str) -> job_pb2.Job:
        return self._call(self.jobs.GetJob, job_pb2.GetJobRequest(job_id=job_id)).job

    def list_page(
        self, *, states: Sequence[int] = (), page_size: int = 0, page_token: str = ""
    ) -> job_pb2.ListJobsResponse:
        request = job_pb2.ListJobsRequest(
            states=list(states), page_size=page_size, page_token=page_token
        )
        return self._call(self.jobs.ListJobs, request)

    def list_all(self, *, states: Sequence[int] = (), page_size: int = 0) -> Iterator[job_pb2.Job]:
        """Every job, newest first, following page tokens."""
        token = ""
        while True:
            page = self.list_page(states=states, page_size=page_size, page_token=token)
            yield from page.jobs
            token = page.next_page_token
            if not token:
                return

    def cancel(self, job_id: str, reason: str = "") -> job_pb2.Job:
        request = job_pb2.CancelJobRequest(job_id=job_id, reason=reason)
        return self._call(self.jobs.CancelJob, request).job

    def watch(self, job_id: str, *, after_sequence: int = 0) -> Iterator[job_pb2.JobEvent]:
        """The job's events, history first, until the job ends."""
        request = job_pb2.WatchJobRequest(job_id=job_id, after_sequence=after_sequence)
        for response in self._stream(self.jobs.WatchJob, request):
            yield response.event

    def fork(
        self,
        job_id: str,
        *,
        name: str = "",
        loss_weights: Mapping[str, float] | None = None,
        learning_rate: float = 0.0,
        strategy: str = "",
    ) -> job_pb2.Job:
        """Start a new job from a paused job's state (else its last checkpoint) with overrides;
        empty or zero arguments keep the parent's."""
        request = job_pb2.ForkJobRequest(
            job_id=job_id,
            name=name,
            loss_weights=dict(loss_weights or {}),
            learning_rate=learning_rate,
        )
        if strategy:
            request.weighting.strategy = strategy
        return self._call(self.jobs.ForkJob, request).job

    def _call(
        self, method: Callable[..., T], request: object, *, timeout_seconds: float | None = None
    ) -> T:
        try:
            timeout = timeout_seconds or self.timeout_seconds
            return method(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise ClientError.from_rpc_error(error) from None

    def _stream(
        self,
        method: Callable[..., Iterator[T]],
        request: object,
        *,
        timeout_seconds: float | None = None,
    ) -> Iterator[T]:
        """A server stream's responses; without a timeout it lasts while the service sends."""
        try:
            yield from method(request, timeout=timeout_seconds, metadata=self._metadata)
        except grpc.RpcError as error:
            raise ClientError.from_rpc_error(error) from None


def _open_channel(
    target: str, *, tls_ca: Path | None, tls_cert: Path | None, tls_key: Path | None
) -> grpc.Channel:
    """Plain text unless a CA or a client certificate is given."""
    if tls_ca is None and tls_cert is None:
        return grpc.insecure_channel(target)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls_ca.read_bytes() if tls_ca else None,
        private_key=tls_key.read_bytes() if tls_key else None,
        certificate_chain=tls_cert.read_bytes() if tls_cert else None,
    )
    return grpc.secure_channel(target, credentials)
