"""`mtlctl problems`: the built-in problems, read from the torch-free catalog (no RPC)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from mtl_service.client import MtlClient
from mtl_service.spec.catalog import ARCHITECTURES, PROBLEMS, ProblemInfo

USER_PROBLEMS = (
    "Your own problem: problem.entrypoint 'package.module:build' instead of problem.name "
    "(see examples/user_problem/README.md)."
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    commands.add_parser(
        "problems",
        help="list the built-in problems: tasks, metrics, architectures, options "
        "(no service needed)",
    )


def cmd_problems(client: MtlClient, args: argparse.Namespace) -> int:
    """Print the catalog; the client is never called."""
    del client, args
    print(problems_text())
    return 0


def problems_text() -> str:
    """Every built-in problem, then the architectures and their own options."""
    blocks = [_problem_block(name, info) for name, info in PROBLEMS.items()]
    width = max(map(len, ARCHITECTURES))
    architectures = [
        f"  {name.ljust(width)}  {info.description}"
        + (f" (model.params: {_names(info.params)})" if info.params else "")
        for name, info in ARCHITECTURES.items()
    ]
    return "\n\n".join([*blocks, "architectures:\n" + "\n".join(architectures), USER_PROBLEMS])


def _problem_block(name: str, info: ProblemInfo) -> str:
    tasks = ", ".join(f"{task} ({', '.join(info.metrics[task])})" for task in info.tasks)
    architectures = info.architectures if info.architectures is not None else ARCHITECTURES
    rows = [
        ("tasks (metrics)", tasks),
        ("architectures", ", ".join(a for a in ARCHITECTURES if a in architectures)),
        ("problem.params", _names(info.params)),
        ("model.params", ", ".join([*sorted(info.model_params), "the architecture's (below)"])),
    ]
    return "\n".join([f"{name}: {info.description}", *(f"  {k:<17}{v}" for k, v in rows)])


def _names(names: frozenset[str]) -> str:
    return ", ".join(sorted(names)) or "none"


COMMANDS: dict[str, Callable[[MtlClient, argparse.Namespace], int]] = {"problems": cmd_problems}
