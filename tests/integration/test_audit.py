"""Live changes (loss weights, learning rate, breakpoints) record who made them: the
token's role and its name (or fingerprint), never the token, in the job's events,
in the service log and in `mtlctl watch`."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from mtl.v1 import debug_types_pb2, job_pb2
from mtl_service.client import MtlClient
from mtl_service.launcher import ServiceProcess
from tests.jobs import quick_job

pytestmark = pytest.mark.integration

WORKER_TOKEN = "worker-token-0123456789"
OPERATOR_TOKEN = "operator-token-0123456789"
ADMIN_TOKEN = "admin-token-0123456789"
ADMIN_FINGERPRINT = "sha256:" + hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()[:8]
ENDLESS_JOB = quick_job(steps=100_000, checkpoint_interval=100_000)


@pytest.fixture(scope="module")
def authed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A service checking tokens (the operator's has a name, the admin's none) with
    one local worker."""
    directory = tmp_path_factory.mktemp("audit")
    tokens = directory / "tokens"
    tokens.write_text(
        f"{WORKER_TOKEN} worker\n{OPERATOR_TOKEN} operator ops-alice\n{ADMIN_TOKEN} admin\n"
    )
    process = ServiceProcess.start(
        data_dir=directory / "data", num_workers=1, extra_args=["--auth-tokens", str(tokens)]
    )
    yield process
    assert process.stop() == 0, process.output


def _running(client: MtlClient) -> str:
    """A job that trains until cancelled, once it reports its first steps."""
    job = client.submit_text(ENDLESS_JOB)
    for event in client.watch(job.id):
        if event.HasField("step_report"):
            return job.id
    raise AssertionError(f"job {job.id} ended: {client.get(job.id).message}")


def _change_everything(operator: MtlClient, admin: MtlClient, job_id: str) -> None:
    """The operator changes a weight and sets a breakpoint; the admin changes the
    learning rate and deletes the breakpoint. Then the job is cancelled."""
    operator.adjust_loss_weights(job_id, {"category": 0.5})
    admin.set_learning_rate(job_id, 0.001)
    breakpoint = operator.set_breakpoint(job_id, "step < 0")
    admin.delete_breakpoint(job_id, breakpoint.id)
    operator.cancel(job_id, "test over")


def _changes(client: MtlClient, job_id: str) -> list[debug_types_pb2.SettingChanged]:
    return [e.setting_changed for e in client.watch(job_id) if e.HasField("setting_changed")]


def test_changes_record_the_role_and_token_name_never_the_token(
    authed_service: ServiceProcess,
) -> None:
    target = authed_service.target
    with (
        MtlClient(target, token=OPERATOR_TOKEN) as operator,
        MtlClient(target, token=ADMIN_TOKEN) as admin,
    ):
        job_id = _running(operator)
        _change_everything(operator, admin, job_id)
        changes = _changes(operator, job_id)
    alice = ("operator", "ops-alice")
    root = ("admin", ADMIN_FINGERPRINT)
    assert [(c.name, c.changed_by.role, c.changed_by.identity) for c in changes] == [
        ("loss_weight.category", *alice),
        ("learning_rate", *root),
        ("breakpoint.bp-1", *alice),
        ("breakpoint.bp-1", *root),
    ]
    assert [(c.old_value, c.new_value, c.detail) for c in changes[2:]] == [
        (0, 1, "step < 0"),
        (1, 0, "step < 0"),
    ]
    logged = [
        (line["name"], line["changed_by_role"], line["changed_by"])
        for line in authed_service.json_lines()
        if line["event"] == "setting_changed" and line.get("job_id") == job_id
    ]
    assert logged == [(c.name, c.changed_by.role, c.changed_by.identity) for c in changes]
    for token in (OPERATOR_TOKEN, ADMIN_TOKEN, WORKER_TOKEN):
        assert token not in "\n".join(authed_service.lines)
        assert all(token not in str(change) for change in changes)
    watched = _mtlctl_watch(target, job_id, token=OPERATOR_TOKEN)
    assert "loss_weight.category 1 -> 0.5 from step" in watched
    assert "by operator ops-alice" in watched
    assert "learning_rate 0.003 -> 0.001 from step" in watched
    assert f"breakpoint bp-1 deleted by admin {ADMIN_FINGERPRINT}: step < 0" in watched


def test_pause_and_resume_record_who_did_them(authed_service: ServiceProcess) -> None:
    target = authed_service.target
    with (
        MtlClient(target, token=OPERATOR_TOKEN) as operator,
        MtlClient(target, token=ADMIN_TOKEN) as admin,
    ):
        job_id = _running(operator)
        operator.pause(job_id)
        admin.resume(job_id)
        operator.cancel(job_id, "test over")
        events = list(operator.watch(job_id))
    paused = [e.paused.paused_by for e in events if e.HasField("paused")]
    resumed = [e.resumed.resumed_by for e in events if e.HasField("resumed")]
    assert [(c.role, c.identity) for c in paused] == [("operator", "ops-alice")]
    assert [(c.role, c.identity) for c in resumed] == [("admin", ADMIN_FINGERPRINT)]


def test_without_tokens_changes_are_anonymous(service: ServiceProcess, client: MtlClient) -> None:
    job_id = _running(client)
    _change_everything(client, client, job_id)
    changes = _changes(client, job_id)
    assert len(changes) == 4
    assert all(c.changed_by == debug_types_pb2.Caller() for c in changes)
    logged = [
        (line["changed_by"], line["changed_by_role"])
        for line in service.json_lines()
        if line["event"] == "setting_changed" and line.get("job_id") == job_id
    ]
    assert logged == [("anonymous", "")] * 4
    watched = _mtlctl_watch(service.target, job_id, token=None)
    assert watched.count("by anonymous") == 4
    assert client.get(job_id).state == job_pb2.JOB_STATE_CANCELLED


def _mtlctl_watch(target: str, job_id: str, *, token: str | None) -> str:
    """What `mtlctl watch` prints for an ended job (exit 1: it was cancelled)."""
    environment = {k: v for k, v in os.environ.items() if k != "MTL_TOKEN"}
    if token is not None:
        environment["MTL_TOKEN"] = token
    command = [sys.executable, "-m", "mtl_service.cli.main", "--target", target, "watch", job_id]
    watched = subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=60, check=False
    )
    assert watched.returncode == 1, watched.stderr
    return watched.stdout
