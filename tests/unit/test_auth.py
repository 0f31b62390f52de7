"""Token file parsing, constant-time lookup and the method → permission table."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mtl_service.server.auth import (
    Permission,
    Role,
    TokenTable,
    bearer_token,
    fingerprint,
    required_permission,
)

VIEWER_TOKEN = "viewer-token-0123456789"
ADMIN_TOKEN = "admin-token-0123456789"


def _table(tmp_path: Path, text: str) -> TokenTable:
    path = tmp_path / "tokens"
    path.write_text(text)
    return TokenTable.load(path)


def test_tokens_file_maps_tokens_to_roles_ignoring_comments(tmp_path: Path) -> None:
    table = _table(tmp_path, f"# team tokens\n\n{VIEWER_TOKEN} viewer\n  {ADMIN_TOKEN}   admin\n")
    assert table.role_of(VIEWER_TOKEN) is Role.VIEWER
    assert table.role_of(ADMIN_TOKEN) is Role.ADMIN
    assert table.role_of("unknown-token-0123456789") is None
    assert table.token_for([Role.WORKER, Role.ADMIN]) == ADMIN_TOKEN


def test_a_token_is_identified_by_its_name_else_by_a_fingerprint(tmp_path: Path) -> None:
    table = _table(tmp_path, f"{VIEWER_TOKEN} viewer ops-alice@example\n{ADMIN_TOKEN} admin\n")
    named, unnamed = (table.lookup(token) for token in (VIEWER_TOKEN, ADMIN_TOKEN))
    assert named is not None and named.identity == "ops-alice@example"
    expected = "sha256:" + hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()[:8]
    assert unnamed is not None and unnamed.identity == expected == fingerprint(ADMIN_TOKEN)
    assert ADMIN_TOKEN not in unnamed.identity


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no tokens"),
        (f"{VIEWER_TOKEN}\n", r"expected `TOKEN ROLE \[NAME\]`, got 1 fields"),
        (f"{VIEWER_TOKEN} viewer alice extra\n", "got 4 fields"),
        (f"{VIEWER_TOKEN} viewer al/ice\n", "a NAME has up to 64 letters"),
        (f"{VIEWER_TOKEN} viewer alice\n{ADMIN_TOKEN} admin alice\n", "a name appears twice"),
        (f"{VIEWER_TOKEN} root\n", "unknown role 'root'"),
        ("short viewer\n", "at least 16 characters"),
        (f"{VIEWER_TOKEN} viewer\n{VIEWER_TOKEN} admin\n", "appears twice"),
    ],
)
def test_bad_tokens_file_is_rejected_without_echoing_tokens(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        _table(tmp_path, text)
    assert VIEWER_TOKEN not in str(raised.value)


@pytest.mark.parametrize(
    ("method", "permission"),
    [
        ("/mtl.v1.JobService/GetJob", Permission.READ),
        ("/mtl.v1.JobService/WatchJob", Permission.READ),
        ("/mtl.v1.DebugService/GetTaskStats", Permission.READ),
        ("/mtl.v1.JobService/SubmitJob", Permission.OPERATE),
        ("/mtl.v1.DebugService/SnapshotTensors", Permission.OPERATE),
        ("/mtl.v1.WorkerService/Connect", Permission.WORK),
        ("/grpc.health.v1.Health/Check", None),
        ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", None),
    ],
)
def test_each_method_needs_its_permission(method: str, permission: Permission | None) -> None:
    assert required_permission(method) is permission


def test_roles_grant_nested_permissions() -> None:
    assert Role.VIEWER.permissions == {Permission.READ}
    assert Role.OPERATOR.permissions == {Permission.READ, Permission.OPERATE}
    assert Role.WORKER.permissions == {Permission.WORK}
    assert Role.ADMIN.permissions == set(Permission)


@pytest.mark.parametrize(
    ("metadata", "token"),
    [
        ((("authorization", f"Bearer {ADMIN_TOKEN}"),), ADMIN_TOKEN),
        ((("authorization", f"bearer {ADMIN_TOKEN}"),), ADMIN_TOKEN),
        ((("authorization", f"Basic {ADMIN_TOKEN}"),), None),
        ((("x-other", "1"),), None),
        (None, None),
    ],
)
def test_bearer_token_reads_the_authorization_header(metadata, token) -> None:
    assert bearer_token(metadata) == token
