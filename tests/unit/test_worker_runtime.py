"""The worker runtime without a service: how it is built, and what it sends while draining."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mtl.v1 import job_pb2, worker_pb2
from workers.connection import ChannelSecurity
from workers.main import build_parser, build_runtime
from workers.runtime import WorkerRuntime


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


@pytest.fixture()
def sent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[WorkerRuntime, list]:
    """A worker runtime that is not connected, and the messages it would send."""
    runtime = WorkerRuntime(
        service_address="127.0.0.1:1",
        worker_id="worker-under-test",
        data_dir=tmp_path,
        device=torch.device("cpu"),
    )
    messages: list[worker_pb2.WorkerMessage] = []
    monkeypatch.setattr(runtime.connection, "send", messages.append)
    return runtime, messages


def _assignment(job_id: str) -> worker_pb2.ServiceMessage:
    return worker_pb2.ServiceMessage(assign_job=worker_pb2.AssignJob(job_id=job_id))


def test_a_draining_worker_says_so_and_hands_back_a_job_assigned_meanwhile(sent) -> None:
    runtime, messages = sent
    runtime.shutdown("worker shutting down on SIGTERM")
    runtime.connection.on_message(_assignment("job-late"))
    assert [m.WhichOneof("payload") for m in messages] == ["draining", "job_finished"]
    assert messages[0].draining.reason == "worker shutting down on SIGTERM"
    handed_back = messages[1].job_finished
    assert handed_back.job_id == "job-late"
    assert handed_back.state == job_pb2.JOB_STATE_QUEUED
    assert "draining" in handed_back.message
    assert runtime.connection.register().draining


def test_a_job_assigned_just_before_the_shutdown_is_handed_back_unstarted(sent) -> None:
    runtime, messages = sent
    runtime.connection.on_message(_assignment("job-early"))
    runtime.shutdown("worker shutting down on SIGTERM")
    runtime.run()  # takes the queued assignment, then leaves
    finished = [m.job_finished for m in messages if m.HasField("job_finished")]
    assert [(f.job_id, f.state) for f in finished] == [("job-early", job_pb2.JOB_STATE_QUEUED)]
    assert not any(m.HasField("job_started") for m in messages)
