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
        params: names of the architecture's own numeric options (model.params);
            a problem adds the options of its blocks (ProblemInfo.model_params).
    """

    description: str
    single_representation: bool
    params: frozenset[str] = frozenset()


ARCHITECTURES: dict[str, ArchitectureInfo] = {
    "hps": ArchitectureInfo(
        description="hard parameter sharing: one shared trunk, one head per task",
        single_representation=True,
    ),
    "mmoe": ArchitectureInfo(
        description="multi-gate mixture of experts (Ma et al. 2018): shared experts, "
        "one softmax gate per task",
        single_representation=False,
        params=frozenset({"num_experts"}),
    ),
    "ple": ArchitectureInfo(
        description="progressive layered extraction (Tang et al. 2020): shared and task "
        "experts per level; num_levels 1 is CGC",
        single_representation=False,
        params=frozenset({"num_levels", "num_shared_experts", "num_task_experts"}),
    ),
    "cross_stitch": ArchitectureInfo(
        description="cross-stitch networks (Misra et al. 2016): one encoder column per "
        "task, learnt mixing after every layer",
        single_representation=False,
    ),
}
