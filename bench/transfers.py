"""Host<->device traffic of a piece of work, counted with torch.profiler.

On CUDA every copy between host and device is a `Memcpy HtoD/DtoH` event
with its size in the trace. On CPU there is no such copy; what is countable
is the host reads, each of which would be a host sync on CUDA: scalar reads
(`item()`, `bool()`, `float()` of a tensor: the `aten::_local_scalar_dense`
op) and `tolist()` calls, which no profiler event shows and which are
counted by wrapping `Tensor.tolist` while the work runs.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from bench.measure import synchronize

SCALAR_READ = "aten::_local_scalar_dense"


@dataclass(frozen=True, slots=True)
class Transfers:
    """Per-step counts; the copy fields are None off CUDA. `host_reads` are
    scalar reads plus `tolist()` calls."""

    host_reads: float
    host_to_device: float | None = None
    device_to_host: float | None = None
    largest_copy_bytes: int | None = None


def count_transfers(work: Callable[[], None], *, num_steps: int, device: torch.device) -> Transfers:
    """Profile `work` (which runs `num_steps` steps) and count its transfers per step."""
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with _counting_tolist() as tolist_calls, profile(activities=activities) as profiler:
        work()
        synchronize(device)
    scalar_reads = sum(1 for event in profiler.events() if event.name == SCALAR_READ)
    reads = scalar_reads + tolist_calls[0]
    if device.type != "cuda":
        return Transfers(host_reads=reads / num_steps)
    copies = _memcpy_events(profiler)
    to_device = [c for c in copies if "HtoD" in c["name"]]
    to_host = [c for c in copies if "DtoH" in c["name"]]
    return Transfers(
        host_reads=reads / num_steps,
        host_to_device=len(to_device) / num_steps,
        device_to_host=len(to_host) / num_steps,
        largest_copy_bytes=max((int(c.get("args", {}).get("bytes", 0)) for c in copies), default=0),
    )


@contextmanager
def _counting_tolist() -> Iterator[list[int]]:
    """Count `Tensor.tolist()` calls in the block (one-element list, updated live)."""
    calls = [0]
    original = torch.Tensor.tolist

    def counted(tensor: torch.Tensor) -> Any:
        calls[0] += 1
        return original(tensor)

    torch.Tensor.tolist = counted  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        torch.Tensor.tolist = original  # type: ignore[method-assign]


def _memcpy_events(profiler: Any) -> list[dict[str, Any]]:
    """The trace's memcpy events (name and args, the byte count among them)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trace.json"
        profiler.export_chrome_trace(str(path))
        trace = json.loads(path.read_text())
    return [e for e in trace.get("traceEvents", []) if str(e.get("name", "")).startswith("Memcpy")]
