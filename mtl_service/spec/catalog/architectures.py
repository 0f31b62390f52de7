"""Multi-task architectures the workers can build."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchitectureInfo:
    """An architecture as the service sees it.

    Attributes:
        description: one line for the README and `mtlctl problems`.
        single_representation: every head reads the same shared tensor, so
            representation-gradient strategies apply.
    """

    description: str
    single_representation: bool


ARCHITECTURES: dict[str, ArchitectureInfo] = {
    "hps": ArchitectureInfo(
        description="hard parameter sharing: one shared trunk, one head per task",
        single_representation=True,
    ),
}
