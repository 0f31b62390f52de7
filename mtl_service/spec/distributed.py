"""The `distributed` section of a job spec: defaults and field checks."""

from __future__ import annotations

from collections.abc import Iterator

from mtl.v1 import spec_pb2
from mtl_service.errors import FieldViolation

MAX_WORLD_SIZE = 64
BACKENDS = ("auto", "gloo", "nccl")


def fill_distributed_defaults(spec: spec_pb2.JobSpec) -> None:
    """Give `spec.distributed` its documented defaults, in place."""
    spec.distributed.world_size = spec.distributed.world_size or 1
    spec.distributed.backend = spec.distributed.backend or "auto"


def distributed_violations(spec: spec_pb2.JobSpec) -> Iterator[FieldViolation]:
    """What is wrong with a defaulted spec's `distributed` section."""
    world_size = spec.distributed.world_size
    backend = spec.distributed.backend
    if not 1 <= world_size <= MAX_WORLD_SIZE:
        yield FieldViolation(
            "distributed.world_size", f"must be in [1, {MAX_WORLD_SIZE}], got {world_size}"
        )
    elif spec.batch_size > 0 and spec.batch_size % world_size:
        yield FieldViolation(
            "distributed.world_size",
            f"must divide batch_size {spec.batch_size} (the global batch is split evenly "
            f"between the ranks), got {world_size}",
        )
    if backend not in BACKENDS:
        yield FieldViolation(
            "distributed.backend", f"must be one of {list(BACKENDS)}, got {backend!r}"
        )
    elif backend == "nccl" and spec.device == "cpu":
        yield FieldViolation(
            "distributed.backend", "nccl needs CUDA devices; use gloo (or auto) with device cpu"
        )
