"""Where the deployment assets live, and a runner for the tools that check them."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
DEPLOY = REPOSITORY / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
OVERLAYS = ("cpu", "gpu")


def run_tool(*command: str, cwd: Path = REPOSITORY) -> subprocess.CompletedProcess[str]:
    """Run a checker and capture what it prints; the caller asserts on `returncode`."""
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def printed(result: subprocess.CompletedProcess[str]) -> str:
    """Everything a checker printed, for an assertion message."""
    return f"{' '.join(result.args)}\n{result.stdout}{result.stderr}"
