"""Bearer tokens mapped to roles, checked for every RPC by one server interceptor.

The tokens file (`--auth-tokens FILE`) has one `TOKEN ROLE [NAME]` line per
token; blank lines and lines starting with `#` are ignored. Roles: `viewer`
(read jobs, breakpoints and task statistics), `operator` (viewer + submit,
cancel, fork and every debug RPC), `worker` (only the worker channel) and
`admin` (everything). Health and reflection stay open. Tokens are compared in
constant time and never logged; the NAME (else a fingerprint) stands for the
token where a change is recorded (`current_caller()`).
"""

from __future__ import annotations

import contextvars
import enum
import hashlib
import hmac
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import structlog

from mtl.v1 import debug_types_pb2

log = structlog.get_logger(__name__)

MIN_TOKEN_CHARS = 16
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
# Who makes the RPC being served; set by AuthInterceptor for each call.
_CALLER: contextvars.ContextVar[debug_types_pb2.Caller | None] = contextvars.ContextVar(
    "caller", default=None
)


class Permission(enum.Enum):
    """What an RPC needs."""

    READ = "read"
    OPERATE = "operate"
    WORK = "work"


class Role(enum.Enum):
    """What a token may do."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    WORKER = "worker"
    ADMIN = "admin"

    @property
    def permissions(self) -> frozenset[Permission]:
        return _ROLE_PERMISSIONS[self]


_ROLE_PERMISSIONS = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.OPERATOR: frozenset({Permission.READ, Permission.OPERATE}),
    Role.WORKER: frozenset({Permission.WORK}),
    Role.ADMIN: frozenset(Permission),
}
# Read-only RPCs. GetTaskStats runs on the job's worker at a step boundary but
# changes nothing, so viewers may call it; snapshots can copy the model out, so
# they need an operator like every other debug RPC.
_READ_METHODS = frozenset(
    {
        "/mtl.v1.JobService/GetJob",
        "/mtl.v1.JobService/ListJobs",
        "/mtl.v1.JobService/WatchJob",
        "/mtl.v1.DebugService/ListBreakpoints",
        "/mtl.v1.DebugService/GetTaskStats",
    }
)
_WORKER_METHODS = frozenset({"/mtl.v1.WorkerService/Connect"})


def required_permission(method: str) -> Permission | None:
    """What `method` needs; None for the open services (health, reflection)."""
    if not method.startswith("/mtl.v1."):
        return None
    if method in _READ_METHODS:
        return Permission.READ
    if method in _WORKER_METHODS:
        return Permission.WORK
    return Permission.OPERATE


@dataclass(frozen=True, slots=True)
class Token:
    """One line of the tokens file."""

    secret: bytes
    role: Role
    # The NAME column, else "sha256:" and 8 hex digits: what stands for the token.
    identity: str


@dataclass(frozen=True, slots=True)
class TokenTable:
    """The tokens the service accepts and their roles."""

    entries: tuple[Token, ...]

    @classmethod
    def load(cls, path: Path) -> TokenTable:
        """Parse a tokens file; ValueError names the line (never the token)."""
        entries: list[Token] = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            entries.append(_parse_line(line, f"{path}:{number}"))
        if not entries:
            raise ValueError(f"{path}: no tokens; write one `TOKEN ROLE [NAME]` line per token")
        if len({entry.secret for entry in entries}) != len(entries):
            raise ValueError(f"{path}: a token appears twice; give each its own line")
        if len({entry.identity for entry in entries}) != len(entries):
            raise ValueError(f"{path}: a name appears twice; give each token its own name")
        return cls(tuple(entries))

    def lookup(self, token: str) -> Token | None:
        """The token's entry; every entry is compared, in constant time each."""
        candidate = token.encode()
        found = None
        for entry in self.entries:
            if hmac.compare_digest(entry.secret, candidate):
                found = entry
        return found

    def role_of(self, token: str) -> Role | None:
        """The token's role, if it is known."""
        entry = self.lookup(token)
        return entry.role if entry is not None else None

    def token_for(self, roles: Sequence[Role]) -> str | None:
        """A token with one of `roles` (for the local workers), if any."""
        for wanted in roles:
            for entry in self.entries:
                if entry.role is wanted:
                    return entry.secret.decode()
        return None


def fingerprint(token: str) -> str:
    """A short name for a token that does not give the token away."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:8]


def _parse_line(line: str, where: str) -> Token:
    fields = line.split()
    roles = ", ".join(role.value for role in Role)
    if len(fields) not in (2, 3):
        raise ValueError(f"{where}: expected `TOKEN ROLE [NAME]`, got {len(fields)} fields")
    token, role_name, *name = fields
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"{where}: tokens need at least {MIN_TOKEN_CHARS} characters")
    if name and not _NAME_PATTERN.fullmatch(name[0]):
        raise ValueError(
            f"{where}: a NAME has up to 64 letters, digits and . _ @ -, starting with a "
            f"letter or digit; got {name[0]!r}"
        )
    try:
        role = Role(role_name)
    except ValueError:
        raise ValueError(f"{where}: unknown role {role_name!r}; use one of {roles}") from None
    return Token(secret=token.encode(), role=role, identity=name[0] if name else fingerprint(token))


def current_caller() -> debug_types_pb2.Caller:
    """Who makes the RPC being served; empty (anonymous) when tokens are not checked."""
    caller = _CALLER.get()
    return caller if caller is not None else debug_types_pb2.Caller()


def bearer_token(metadata: Sequence[tuple[str, Any]] | None) -> str | None:
    """The token of an `authorization: Bearer TOKEN` header, if there is one."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token:
                return token.strip()
    return None


def _denied(code: grpc.StatusCode, message: str) -> Callable[..., Awaitable[None]]:
    # A coroutine serves every RPC kind: aio streaming handlers may be coroutines.
    async def deny(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(code, message)

    return deny


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """UNAUTHENTICATED without a known token, PERMISSION_DENIED when its role
    lacks what the method needs; health and reflection pass untouched."""

    def __init__(self, tokens: TokenTable) -> None:
        self.tokens = tokens

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        needed = required_permission(method)
        if handler is None or needed is None:
            return handler
        token = bearer_token(handler_call_details.invocation_metadata)
        entry = self.tokens.lookup(token) if token is not None else None
        if entry is None:
            log.info("rpc_unauthenticated", method=method, token_present=token is not None)
            return _replace_behavior(
                handler,
                _denied(
                    grpc.StatusCode.UNAUTHENTICATED,
                    "missing or unknown token; send `authorization: Bearer TOKEN` (MTL_TOKEN)",
                ),
            )
        role = entry.role
        if needed not in role.permissions:
            log.info("rpc_permission_denied", method=method, role=role.value)
            message = f"role {role.value} may not call {method}"
            return _replace_behavior(handler, _denied(grpc.StatusCode.PERMISSION_DENIED, message))
        caller = debug_types_pb2.Caller(role=role.value, identity=entry.identity)
        return _as_caller(handler, caller)


def _as_caller(
    handler: grpc.RpcMethodHandler, caller: debug_types_pb2.Caller
) -> grpc.RpcMethodHandler:
    """`handler`, with `current_caller()` returning `caller` while it runs. Each
    RPC runs in an asyncio task of its own, so the value ends with the call."""
    if handler.response_streaming:
        streaming = handler.unary_stream or handler.stream_stream

        async def streamed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            _CALLER.set(caller)
            async for response in streaming(request, context):
                yield response

        return _replace_behavior(handler, streamed)
    unary = handler.unary_unary or handler.stream_unary

    async def answered(request: Any, context: grpc.aio.ServicerContext) -> Any:
        _CALLER.set(caller)
        return await unary(request, context)

    return _replace_behavior(handler, answered)


def _replace_behavior(
    handler: grpc.RpcMethodHandler, behavior: Callable[..., Any]
) -> grpc.RpcMethodHandler:
    for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
        if getattr(handler, kind) is not None:
            return handler._replace(**{kind: behavior})
    return handler
