"""Multi-task architectures, registered by the name a job spec uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from workers.mtl.architectures.cross_stitch import build_cross_stitch
from workers.mtl.architectures.hps import build_hps
from workers.mtl.architectures.mmoe import build_mmoe
from workers.mtl.architectures.parts import ModelParts, mlp_parts
from workers.mtl.architectures.ple import build_ple
from workers.mtl.model import MultiTaskModel
from workers.mtl.problem import Task

ArchitectureBuilder = Callable[[ModelParts, Sequence[Task], Mapping[str, float]], MultiTaskModel]

ARCHITECTURES: dict[str, ArchitectureBuilder] = {
    "hps": build_hps,
    "mmoe": build_mmoe,
    "ple": build_ple,
    "cross_stitch": build_cross_stitch,
}


def build_model(
    architecture: str, parts: ModelParts, tasks: Sequence[Task], params: Mapping[str, float]
) -> MultiTaskModel:
    """The model of `architecture` over `parts`; ValueError lists the known names."""
    try:
        builder = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(
            f"unknown architecture {architecture!r}; known: {sorted(ARCHITECTURES)}"
        ) from None
    return builder(parts, tasks, params)


__all__ = ["ARCHITECTURES", "ArchitectureBuilder", "ModelParts", "build_model", "mlp_parts"]
