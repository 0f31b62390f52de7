"""Host<->device traffic of a piece of work, counted with torch.profiler.

On CUDA every copy between host and device is a `Memcpy HtoD/DtoH` event
with its size in the trace. On CPU there is no such copy; what is countable
is the scalar reads (`item()`, `bool()`, `float()` of a tensor: the
`aten::_local_scalar_dense` op), each of which would be a host sync on CUDA.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from bench.measure import synchronize

SCALAR_READ = "aten::_local_scalar_dense"


@dataclass(frozen=True, slots=True)
class Transfers:
    """Per-step counts; the copy fields are None off CUDA."""

    scalar_reads: float
    host_to_device: float | None = None
    device_to_host: float | None = None
    largest_copy_bytes: int | None = None


def count_transfers(work: Callable[[], None], *, num_steps: int, device: torch.device) -> Transfers:
    """Profile `work` (which runs `num_steps` steps) and count its transfers per step."""
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as profiler:
        work()
        synchronize(device)
    reads = sum(1 for event in profiler.events() if event.name == SCALAR_READ)
    if device.type != "cuda":
        return Transfers(scalar_reads=reads / num_steps)
    copies = _memcpy_events(profiler)
    to_device = [c for c in copies if "HtoD" in c["name"]]
    to_host = [c for c in copies if "DtoH" in c["name"]]
    return Transfers(
        scalar_reads=reads / num_steps,
        host_to_device=len(to_device) / num_steps,
        device_to_host=len(to_host) / num_steps,
        largest_copy_bytes=max((int(c.get("args", {}).get("bytes", 0)) for c in copies), default=0),
    )


def _memcpy_events(profiler: Any) -> list[dict[str, Any]]:
    """The trace's memcpy events (name and args, the byte count among them)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trace.json"
        profiler.export_chrome_trace(str(path))
        trace = json.loads(path.read_text())
    return [e for e in trace.get("traceEvents", []) if str(e.get("name", "")).startswith("Memcpy")]
