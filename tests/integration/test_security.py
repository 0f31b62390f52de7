"""Bearer tokens and roles for every RPC, TLS and mutual TLS, against real services."""

from __future__ import annotations

import datetime
import ipaddress
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mtl.v1 import debug_pb2, debug_pb2_grpc, job_pb2, job_pb2_grpc
from mtl_service.client import ClientError, MtlClient
from mtl_service.launcher import ServiceProcess
from tests.jobs import quick_job

pytestmark = pytest.mark.integration

TOKENS = {
    "viewer": "viewer-token-0123456789",
    "operator": "operator-token-0123456789",
    "worker": "worker-token-0123456789",
    "admin": "admin-token-0123456789",
}
Code = grpc.StatusCode


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_chain: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey],
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    is_ca = issuer[1] is key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer[0])
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if not is_ca:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer[1], hashes.SHA256())


def _write(path: Path, *items: x509.Certificate | ec.EllipticCurvePrivateKey) -> Path:
    pem = b""
    for item in items:
        if isinstance(item, x509.Certificate):
            pem += item.public_bytes(serialization.Encoding.PEM)
        else:
            pem += item.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
    path.write_bytes(pem)
    return path


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A test CA, a server certificate for 127.0.0.1 and a client certificate."""
    directory = tmp_path_factory.mktemp("certs")
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _issue("mtl test CA", ca_key, (_name("mtl test CA"), ca_key))
    server = _issue("127.0.0.1", server_key, (ca.subject, ca_key))
    client = _issue("mtlctl", client_key, (ca.subject, ca_key))
    return Certificates(
        ca=_write(directory / "ca.pem", ca),
        server_chain=_write(directory / "server.pem", server, ca),
        server_key=_write(directory / "server.key", server_key),
        client_cert=_write(directory / "client.pem", client),
        client_key=_write(directory / "client.key", client_key),
    )


def _tokens_file(directory: Path) -> Path:
    path = directory / "tokens"
    lines = [f"{token} {role}" for role, token in TOKENS.items()]
    path.write_text("# test tokens\n" + "\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def authed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    directory = tmp_path_factory.mktemp("auth")
    process = ServiceProcess.start(
        data_dir=directory / "data",
        num_workers=0,
        extra_args=["--auth-tokens", str(_tokens_file(directory))],
    )
    yield process
    process.stop()


def _read(channel: grpc.Channel, metadata: tuple) -> None:
    request = job_pb2.GetJobRequest(job_id="job-missing")
    job_pb2_grpc.JobServiceStub(channel).GetJob(request, timeout=10, metadata=metadata)


def _submit(channel: grpc.Channel, metadata: tuple) -> None:
    request = job_pb2.SubmitJobRequest()  # neither spec nor text: INVALID_ARGUMENT once let in
    job_pb2_grpc.JobServiceStub(channel).SubmitJob(request, timeout=10, metadata=metadata)


def _debug(channel: grpc.Channel, metadata: tuple) -> None:
    request = debug_pb2.PauseJobRequest(job_id="job-missing")
    debug_pb2_grpc.DebugServiceStub(channel).PauseJob(request, timeout=10, metadata=metadata)


def _health(channel: grpc.Channel, metadata: tuple) -> None:
    request = health_pb2.HealthCheckRequest(service="")
    health_pb2_grpc.HealthStub(channel).Check(request, timeout=10, metadata=metadata)


CALLS: dict[str, Callable[[grpc.Channel, tuple], None]] = {
    "read": _read,
    "submit": _submit,
    "debug": _debug,
    "health": _health,
}
DENIED = {"read": Code.UNAUTHENTICATED, "submit": Code.UNAUTHENTICATED}
EXPECTED: dict[str, dict[str, Code]] = {
    "none": {**DENIED, "debug": Code.UNAUTHENTICATED, "health": Code.OK},
    "wrong": {**DENIED, "debug": Code.UNAUTHENTICATED, "health": Code.OK},
    "viewer": {
        "read": Code.NOT_FOUND,
        "submit": Code.PERMISSION_DENIED,
        "debug": Code.PERMISSION_DENIED,
        "health": Code.OK,
    },
    "worker": {
        "read": Code.PERMISSION_DENIED,
        "submit": Code.PERMISSION_DENIED,
        "debug": Code.PERMISSION_DENIED,
        "health": Code.OK,
    },
    **{
        role: {
            "read": Code.NOT_FOUND,
            "submit": Code.INVALID_ARGUMENT,
            "debug": Code.NOT_FOUND,
            "health": Code.OK,
        }
        for role in ("operator", "admin")
    },
}


def _metadata(who: str) -> tuple:
    token = {"none": None, "wrong": "wrong-token-0123456789", **TOKENS}[who]
    return (("authorization", f"Bearer {token}"),) if token else ()


@pytest.mark.parametrize("who", list(EXPECTED))
@pytest.mark.parametrize("call", list(CALLS))
def test_auth_matrix(authed_service: ServiceProcess, who: str, call: str) -> None:
    with grpc.insecure_channel(authed_service.target) as channel:
        try:
            CALLS[call](channel, _metadata(who))
            code = Code.OK
        except grpc.RpcError as error:
            code = error.code()
    assert code == EXPECTED[who][call]


def test_denials_are_counted_and_tokens_never_logged(authed_service: ServiceProcess) -> None:
    with grpc.insecure_channel(authed_service.target) as channel, pytest.raises(grpc.RpcError):
        _read(channel, _metadata("wrong"))
    url = f"http://127.0.0.1:{authed_service.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        metrics = response.read().decode()
    assert 'grpc_code="UNAUTHENTICATED"' in metrics
    assert not any(token in authed_service.output for token in TOKENS.values())


def _train_quick_job(client: MtlClient) -> None:
    job = client.submit_text(quick_job(steps=20, checkpoint_interval=-1))
    for _ in client.watch(job.id):
        pass
    assert client.get(job.id).state == job_pb2.JOB_STATE_SUCCEEDED


def test_tls_with_tokens_serves_clients_and_local_workers(
    tmp_path: Path, certs: Certificates
) -> None:
    tls = ["--tls-cert", str(certs.server_chain), "--tls-key", str(certs.server_key)]
    service = ServiceProcess.start(
        data_dir=tmp_path / "data",
        num_workers=1,
        extra_args=[*tls, "--auth-tokens", str(_tokens_file(tmp_path))],
    )
    try:
        with MtlClient(service.target, token=TOKENS["operator"], tls_ca=certs.ca) as client:
            _train_quick_job(client)
        with MtlClient(service.target, timeout_seconds=5) as plaintext:
            with pytest.raises(ClientError) as refused:
                plaintext.list_page()
            assert refused.value.code == Code.UNAVAILABLE
    finally:
        assert service.stop() == 0, service.output


def test_mutual_tls_refuses_a_client_without_a_certificate(
    tmp_path: Path, certs: Certificates
) -> None:
    service = ServiceProcess.start(
        data_dir=tmp_path / "data",
        num_workers=1,
        extra_args=[
            *("--tls-cert", str(certs.server_chain), "--tls-key", str(certs.server_key)),
            *("--tls-client-ca", str(certs.ca)),
        ],
    )
    try:
        with MtlClient(
            service.target, tls_ca=certs.ca, tls_cert=certs.client_cert, tls_key=certs.client_key
        ) as client:
            _train_quick_job(client)
        with MtlClient(service.target, tls_ca=certs.ca, timeout_seconds=5) as anonymous:
            with pytest.raises(ClientError) as refused:
                anonymous.list_page()
            assert refused.value.code == Code.UNAVAILABLE
    finally:
        assert service.stop() == 0, service.output
