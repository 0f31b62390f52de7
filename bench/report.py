"""The results table (markdown, so the README can hold it as printed) and the JSON file."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.measure import Row

_FORMATS = {
    "x": "{:.3f}",
    "%": "{:.1f}%",
    "ms": "{:.1f} ms",
    "MiB/s": "{:.0f} MiB/s",
    "count": "{:.2f}",
}


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return _FORMATS.get(unit, "{:.3g}").format(value)


def format_target(row: Row) -> str:
    if row.minimum is not None:
        return f">= {format_value(row.minimum, row.unit)}"
    if row.maximum is not None:
        return f"<= {format_value(row.maximum, row.unit)}"
    return ""


def render_table(rows: Sequence[Row], machine: Mapping[str, Any]) -> str:
    """A markdown table of every row, under a line that describes the machine."""
    status = {True: "met", False: "**not met**", None: ""}
    lines = [
        describe(machine),
        "",
        "| part | measure | value | cpu time | target | status | note |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {row.section} | {row.name} | {format_value(row.value, row.unit)} | "
        f"{format_value(row.cpu_value, row.unit) if row.cpu_value is not None else ''} | "
        f"{format_target(row)} | {status[row.met]} | {row.note} |"
        for row in rows
    ]
    return "\n".join(lines)


def describe(machine: Mapping[str, Any]) -> str:
    gpu = f", {machine['gpu']} (CUDA {machine['cuda']})" if "gpu" in machine else ""
    return (
        f"Machine: {machine['cpu']}, {machine['cores']} cores{gpu}; torch {machine['torch']}, "
        f"{machine['torch_threads']} torch threads, device {machine['device']}; "
        f"Python {machine['python']}; load average {machine['load_average_1min']:.2f} at start; "
        f"{machine['date']}"
    )


def write_json(
    path: Path, rows: Sequence[Row], machine: Mapping[str, Any], config: Mapping[str, Any]
) -> None:
    """Every row with its raw numbers, the machine and the sizes used."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": dict(machine),
        "config": dict(config),
        "rows": [asdict(row) | {"met": row.met} for row in rows],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
