"""Fixtures of the deployment-asset tests: the tools they run and the rendered overlays.

promtool and kubectl come from deploy/install-tools.sh. Without them these
tests skip on a developer's machine and fail under CI (where CI is set), so a
green CI run has really checked the assets.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.assets import DEPLOY, OVERLAYS, printed, run_tool


def _find_tool(name: str) -> str | None:
    # install-tools.sh may put kubectl into the venv, ahead of an old one on PATH.
    in_venv = Path(sys.executable).parent / name
    if in_venv.is_file():
        return str(in_venv)
    return shutil.which(name)


def _require_tool(name: str) -> str:
    path = _find_tool(name)
    if path is None:
        message = f"{name} is not installed; run deploy/install-tools.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return _require_tool("promtool")


@pytest.fixture(scope="session")
def kubectl() -> str:
    return _require_tool("kubectl")


@pytest.fixture(scope="session")
def rendered(kubectl: str) -> dict[str, list[dict[str, Any]]]:
    """Each overlay as `kubectl kustomize` renders it, one dict per document."""
    documents = {}
    for overlay in OVERLAYS:
        result = run_tool(kubectl, "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay))
        assert result.returncode == 0, printed(result)
        documents[overlay] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return documents
