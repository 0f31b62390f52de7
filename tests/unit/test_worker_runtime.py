"""The worker runtime's contract with the service, without a service: how it is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.connection import ChannelSecurity
from workers.main import build_parser, build_runtime


def test_the_worker_connection_is_built_with_its_token_and_tls_files(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / name for name in ("ca.pem", "client.pem", "client.key"))
    for path in (ca, cert, key):
        path.write_bytes(f"PEM of {path.name}".encode())
    args = build_parser().parse_args(
        ["--service", "127.0.0.1:1", "--device", "cpu", "--token", "worker-token-0123456789"]
        + ["--tls-ca", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)]
    )
    runtime = build_runtime(args)
    assert runtime.connection.security == ChannelSecurity(
        token="worker-token-0123456789",
        root_certificates=b"PEM of ca.pem",
        certificate_chain=b"PEM of client.pem",
        private_key=b"PEM of client.key",
    )
    assert runtime.connection.security.metadata == (
        ("authorization", "Bearer worker-token-0123456789"),
    )


def test_without_token_or_tls_the_worker_dials_in_plain_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("MTL_TOKEN", "MTL_TLS_CA", "MTL_TLS_CERT", "MTL_TLS_KEY"):
        monkeypatch.delenv(variable, raising=False)
    args = build_parser().parse_args(["--service", "127.0.0.1:1", "--device", "cpu"])
    assert build_runtime(args).connection.security == ChannelSecurity()
