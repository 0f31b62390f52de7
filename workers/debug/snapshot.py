"""SnapshotTensors on the worker: select, summarise and stream tensors in chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from mtl.v1 import debug_pb2, debug_types_pb2
from workers.debug.command_error import CommandError
from workers.debug.replay import side_effect_free
from workers.debug.selectors import (
    SelectorError,
    capture_activations,
    parse_selector,
    select_tensors,
)
from workers.debug.tensor_stats import tensor_stats
from workers.hooks import StepBoundary

if TYPE_CHECKING:
    from workers.trainer import Trainer

# Well under gRPC's default 4 MiB message limit, so any snapshot size streams.
CHUNK_BYTES = 1 << 20


def collect_tensors(
    trainer: Trainer, boundary: StepBoundary, selectors: list[str]
) -> dict[str, Tensor]:
    """The tensors `selectors` name at this boundary; CommandError when one is bad."""
    try:
        parsed = [parse_selector(text) for text in selectors]
        plain = [s for s in parsed if s.kind != "activation"]
        tensors: dict[str, Tensor] = {}
        if plain:
            tensors.update(
                select_tensors(
                    plain,
                    model=trainer.model,
                    batch_inputs=boundary.batch.inputs,
                    batch_targets=boundary.batch.targets,
                    losses=boundary.losses,
                ).tensors
            )
        globs = [s.pattern for s in parsed if s.kind == "activation"]
        if globs:
            tensors.update(_activations(trainer, boundary, globs))
    except SelectorError as error:
        raise CommandError("INVALID_ARGUMENT", str(error)) from None
    return tensors


def tensor_info(name: str, tensor: Tensor, *, with_data: bool) -> debug_types_pb2.TensorInfo:
    stats = tensor_stats(tensor)
    return debug_types_pb2.TensorInfo(
        name=name,
        dtype=stats.dtype,
        shape=list(stats.shape),
        stats=debug_types_pb2.TensorStats(
            min=stats.min,
            max=stats.max,
            mean=stats.mean,
            std=stats.std,
            l2_norm=stats.l2_norm,
            nan_count=stats.nan_count,
            inf_count=stats.inf_count,
            zero_fraction=stats.zero_fraction,
        ),
        num_bytes=tensor.numel() * tensor.element_size() if with_data else 0,
    )


def snapshot_responses(
    trainer: Trainer, boundary: StepBoundary, request: debug_pb2.SnapshotTensorsRequest
) -> Iterator[debug_pb2.SnapshotTensorsResponse]:
    """`step`, then per tensor its TensorInfo followed by its chunks in offset order.

    RESOURCE_EXHAUSTED before anything is copied when the data would exceed
    `max_bytes`.
    """
    tensors = collect_tensors(trainer, boundary, list(request.selectors))
    if request.include_data:
        total = sum(t.numel() * t.element_size() for t in tensors.values())
        if total > request.max_bytes:
            raise CommandError(
                "RESOURCE_EXHAUSTED",
                f"the snapshot holds {total} bytes, above max_bytes={request.max_bytes}; "
                "select fewer tensors or raise max_bytes",
            )
    yield debug_pb2.SnapshotTensorsResponse(step=boundary.step)
    for name, tensor in tensors.items():
        info = tensor_info(name, tensor, with_data=request.include_data)
        yield debug_pb2.SnapshotTensorsResponse(tensor=info)
        if request.include_data:
            yield from _chunks(name, tensor)


def _chunks(name: str, tensor: Tensor) -> Iterator[debug_pb2.SnapshotTensorsResponse]:
    raw = tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy()
    view = memoryview(raw)
    for offset in range(0, len(view), CHUNK_BYTES):
        yield debug_pb2.SnapshotTensorsResponse(
            chunk=debug_types_pb2.TensorChunk(
                name=name, offset=offset, data=bytes(view[offset : offset + CHUNK_BYTES])
            )
        )


def _activations(trainer: Trainer, boundary: StepBoundary, globs: list[str]) -> dict[str, Tensor]:
    with (
        side_effect_free(trainer.model),
        torch.no_grad(),
        capture_activations(trainer.model, globs) as captured,
    ):
        trainer.model(boundary.batch.inputs)
    if not captured:
        names = [name for name, _ in trainer.model.named_modules() if name][:12]
        raise CommandError(
            "INVALID_ARGUMENT", f"no module matches {globs}; modules include {names}"
        )
    return dict(captured)
