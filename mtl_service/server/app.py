"""The service: wires the store, jobs, scheduler and servicers, and shuts down gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, start_http_server

from mtl.v1 import debug_pb2, debug_pb2_grpc, job_pb2, job_pb2_grpc, worker_pb2, worker_pb2_grpc
from mtl_service.server.auth import AuthInterceptor, Role, TokenTable
from mtl_service.server.debug_broker import DebugBroker
from mtl_service.server.debug_servicer import DebugServicer
from mtl_service.server.error_interceptor import ErrorInterceptor
from mtl_service.server.event_bus import EventBus
from mtl_service.server.grpc_metrics import GrpcMetricsInterceptor
from mtl_service.server.job_servicer import JobServicer
from mtl_service.server.jobs import JobManager
from mtl_service.server.local_workers import LocalWorkers
from mtl_service.server.metrics import ServiceMetrics
from mtl_service.server.scheduler import Scheduler
from mtl_service.server.store import JobStore
from mtl_service.server.worker_channel import WorkerChannelServicer
from mtl_service.server.worker_registry import WorkerRegistry

log = structlog.get_logger(__name__)

# Clients send small requests; the worker stream carries 1 MiB snapshot chunks.
# A bigger message is refused with RESOURCE_EXHAUSTED before it reaches a servicer.
MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024

SERVICE_NAMES = (
    job_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
    debug_pb2.DESCRIPTOR.services_by_name["DebugService"].full_name,
    worker_pb2.DESCRIPTOR.services_by_name["WorkerService"].full_name,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceConfig:
    """How to run the service.

    Attributes:
        host: address to listen on.
        port: gRPC port; 0 picks a free one.
        metrics_port: port of the Prometheus `/metrics` endpoint; 0 picks a free one.
        data_dir: where the SQLite store and checkpoints live.
        num_workers: local worker processes to start.
        grace_seconds: how long shutdown waits for in-flight RPCs and workers.
        heartbeat_interval_seconds: how often workers send a heartbeat.
        job_retention_seconds: how long a finished job's metric series stay.
        auth_tokens: bearer tokens and their roles; None leaves the RPCs open.
        tls_cert, tls_key: PEM certificate (chain) and key; None serves plain text.
        tls_client_ca: PEM CA that client certificates must chain to (mutual TLS).
    """

    host: str = "0.0.0.0"
    port: int = 50051
    metrics_port: int = 8000
    data_dir: Path
    num_workers: int = 1
    grace_seconds: float = 30.0
    heartbeat_interval_seconds: float = 5.0
    job_retention_seconds: float = 300.0
    auth_tokens: TokenTable | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None

    def __post_init__(self) -> None:
        if self.num_workers < 0:
            raise ValueError(f"--workers must be >= 0, got {self.num_workers}")
        if self.grace_seconds < 0:
            raise ValueError(f"--grace-seconds must be >= 0, got {self.grace_seconds}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together; give both or neither")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ValueError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
        if self.num_workers and self.auth_tokens and self.local_worker_token is None:
            raise ValueError(
                "local workers need a token with role worker or admin in --auth-tokens"
            )

    @property
    def local_worker_token(self) -> str | None:
        """The token local workers present: the first worker (else admin) token."""
        if self.auth_tokens is None:
            return None
        return self.auth_tokens.token_for([Role.WORKER, Role.ADMIN])

    def local_worker_options(self) -> tuple[list[str], dict[str, str]]:
        """Command-line options and environment that let local workers dial in.

        They trust the service's own `--tls-cert` file (self-signed, or holding
        the chain up to its CA) and, under mutual TLS, present it as their
        client certificate; the token goes in the environment, not on the
        command line where `ps` shows it."""
        options = ["--grace-seconds", str(self.grace_seconds)]
        if self.tls_cert is not None:
            options += ["--tls-ca", str(self.tls_cert)]
        if self.tls_client_ca is not None:
            options += ["--tls-cert", str(self.tls_cert), "--tls-key", str(self.tls_key)]
        token = self.local_worker_token
        return options, ({"MTL_TOKEN": token} if token is not None else {})


class Service:
    """A running mtl-service; `start()` then `stop()` (safe to call twice)."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.registry = CollectorRegistry()
        self.metrics = ServiceMetrics(self.registry)
        self.store = JobStore(config.data_dir / "mtl.sqlite3")
        self.bus = EventBus()
        self.workers = WorkerRegistry()
        self.jobs = JobManager(
            store=self.store,
            bus=self.bus,
            metrics=self.metrics,
            workers=self.workers,
            job_retention_seconds=config.job_retention_seconds,
        )
        self.scheduler = Scheduler(self.jobs, self.workers)
        self.jobs.on_change = self.scheduler.wake
        self.broker = DebugBroker(self.jobs, self.workers)
        self.worker_channel = WorkerChannelServicer(
            jobs=self.jobs,
            workers=self.workers,
            broker=self.broker,
            heartbeat_interval_seconds=config.heartbeat_interval_seconds,
        )
        self.health = health.aio.HealthServicer()
        # Metrics outermost, so they record the status auth and ErrorInterceptor produced.
        auth = [AuthInterceptor(config.auth_tokens)] if config.auth_tokens else []
        self.server = grpc.aio.server(
            interceptors=[GrpcMetricsInterceptor(self.registry), *auth, ErrorInterceptor()],
            options=[("grpc.max_receive_message_length", MAX_RECEIVE_MESSAGE_BYTES)],
        )
        self.port = 0
        self.metrics_port = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._metrics_server: object | None = None
        self._local_workers: LocalWorkers | None = None
        self._stopped = False

    async def start(self) -> None:
        """Open the store, give jobs a crash left active a grace period for their
        workers to re-attach, serve, start workers."""
        await self.store.open()
        reattach_grace_seconds = 2 * self.config.heartbeat_interval_seconds
        held = await self.jobs.hold_for_reattach(reattach_grace_seconds)
        await self.jobs.refresh_job_counts()
        job_pb2_grpc.add_JobServiceServicer_to_server(
            JobServicer(self.jobs, self.bus, self.broker), self.server
        )
        debug_pb2_grpc.add_DebugServiceServicer_to_server(
            DebugServicer(self.jobs, self.broker), self.server
        )
        worker_pb2_grpc.add_WorkerServiceServicer_to_server(self.worker_channel, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )
        self.port = self._add_port()
        await self.server.start()
        self._metrics_server, _ = start_http_server(
            self.config.metrics_port, addr=self.config.host, registry=self.registry
        )
        self.metrics_port = self._metrics_server.server_port  # type: ignore[attr-defined]
        self._tasks = [
            asyncio.create_task(self.scheduler.run()),
            asyncio.create_task(self.worker_channel.watch_heartbeats()),
            asyncio.create_task(self.jobs.release_unclaimed(held, reattach_grace_seconds)),
        ]
        if self.config.num_workers:
            self._start_local_workers()
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "service_ready",
            port=self.port,
            metrics_port=self.metrics_port,
            data_dir=str(self.config.data_dir),
            num_workers=self.config.num_workers,
        )

    def _start_local_workers(self) -> None:
        extra_args, extra_env = self.config.local_worker_options()
        self._local_workers = LocalWorkers(
            num_workers=self.config.num_workers,
            service_address=f"127.0.0.1:{self.port}",
            data_dir=self.config.data_dir,
            extra_args=extra_args,
            extra_env=extra_env,
        )
        self._local_workers.start()

    def _add_port(self) -> int:
        """Listen in plain text, with TLS, or with mutual TLS (`--tls-client-ca`)."""
        address = f"{self.config.host}:{self.config.port}"
        config = self.config
        if config.tls_cert is None or config.tls_key is None:
            return self.server.add_insecure_port(address)
        client_ca = config.tls_client_ca.read_bytes() if config.tls_client_ca else None
        credentials = grpc.ssl_server_credentials(
            [(config.tls_key.read_bytes(), config.tls_cert.read_bytes())],
            root_certificates=client_ca,
            require_client_auth=client_ca is not None,
        )
        return self.server.add_secure_port(address, credentials)

    async def stop(self) -> None:
        """Graceful shutdown: NOT_SERVING, workers checkpoint and leave, RPCs drain,
        active jobs go back to the queue, the store closes."""
        if self._stopped:
            return
        self._stopped = True
        deadline = time.monotonic() + self.config.grace_seconds
        log.info("service_stopping", grace_seconds=self.config.grace_seconds)
        await self.health.enter_graceful_shutdown()
        self.scheduler.stop()
        for connection in self.workers.all():
            connection.send(
                worker_pb2.ServiceMessage(
                    shutdown=worker_pb2.ShutdownWorker(reason="the service is shutting down")
                )
            )
        if self._local_workers is not None:
            await asyncio.to_thread(self._local_workers.stop, _remaining(deadline))
        self.bus.close()
        await self.server.stop(_remaining(deadline))
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.jobs.requeue_all_active("the service shut down")
        if self._metrics_server is not None:
            self._metrics_server.shutdown()  # type: ignore[attr-defined]
        await self.store.close()
        log.info("service_stopped")


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
