"""The import boundaries of STYLE.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(package: str) -> dict[str, set[str]]:
    """Module path -> the modules it imports (absolute names)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def _offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in _imports(package).items()
        for name in names
        if name.split(".")[0] in forbidden or name.startswith(forbidden)
    )


def test_workers_never_import_server_client_or_cli_code() -> None:
    forbidden = ("mtl_service.server", "mtl_service.client", "mtl_service.cli")
    assert _offenders("workers", forbidden) == []


@pytest.mark.parametrize("package", ["mtl_service/server", "mtl_service/spec", "mtl_service/cli"])
def test_the_control_plane_never_imports_torch_or_workers(package: str) -> None:
    assert _offenders(package, ("torch", "workers", "numpy")) == []


def test_the_spec_contract_does_not_import_grpc() -> None:
    assert _offenders("mtl_service/spec", ("grpc",)) == []
