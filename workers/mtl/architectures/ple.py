"""Progressive Layered Extraction (PLE) and its one-level form, Customized Gate Control (CGC).

Tang, Liu, Zhao and Gong, "Progressive Layered Extraction (PLE): A Novel
Multi-Task Learning (MTL) Model for Personalized Recommendations", RecSys 2020.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from itertools import accumulate, pairwise

from torch import Tensor, nn

from workers.mtl.architectures.gating import Gate, mix_experts
from workers.mtl.architectures.options import int_option
from workers.mtl.architectures.parts import ModelParts
from workers.mtl.architectures.soft_sharing import SoftSharingModel
from workers.mtl.model import MultiTaskModel, Representation
from workers.mtl.problem import Task

ExpertFactory = Callable[[], nn.Module]


class ExtractionLevel(nn.Module):
    """One extraction network (Tang et al. 2020, fig. 5): shared experts, experts of
    each task, a gate per task over its own and the shared experts, and, below
    the top level, a shared gate over every expert that feeds the next level."""

    def __init__(
        self,
        make_expert: ExpertFactory,
        task_names: Sequence[str],
        *,
        gate_in_features: int,
        pool_positions: bool,
        num_shared_experts: int,
        num_task_experts: int,
        with_shared_gate: bool,
    ) -> None:
        super().__init__()
        self.shared_experts = nn.ModuleList(make_expert() for _ in range(num_shared_experts))
        self.task_experts = nn.ModuleDict(
            {
                name: nn.ModuleList(make_expert() for _ in range(num_task_experts))
                for name in task_names
            }
        )
        num_task_inputs = num_task_experts + num_shared_experts
        self.task_gates = nn.ModuleDict(
            {
                name: Gate(gate_in_features, num_task_inputs, pool_positions=pool_positions)
                for name in task_names
            }
        )
        num_all_experts = num_task_experts * len(task_names) + num_shared_experts
        self.shared_gate = (
            Gate(gate_in_features, num_all_experts, pool_positions=pool_positions)
            if with_shared_gate
            else None
        )

    def forward(
        self, shared: Tensor, branches: dict[str, Tensor]
    ) -> tuple[Tensor | None, dict[str, Tensor]]:
        """(shared input, one input per task) -> the same for the next level; the
        shared output is None at the top level."""
        shared_outputs = [expert(shared) for expert in self.shared_experts]
        task_outputs = {
            name: [expert(branches[name]) for expert in experts]
            for name, experts in self.task_experts.items()
        }
        next_branches = {
            name: mix_experts(task_outputs[name] + shared_outputs, gate(branches[name]))
            for name, gate in self.task_gates.items()
        }
        if self.shared_gate is None:
            return None, next_branches
        every_output = [out for outputs in task_outputs.values() for out in outputs]
        return mix_experts(every_output + shared_outputs, self.shared_gate(shared)), next_branches


class ProgressiveLayeredExtraction(SoftSharingModel):
    """A stack of `num_levels` extraction levels; one level is CGC.

    With several levels the problem's encoder layers are divided between the
    levels, so each level's experts are copies of a consecutive slice of the
    encoder; the first level's gates read the flattened input, later gates the
    previous level's output averaged over positions.

    Shared and task-specific parameters follow who depends on what: below the
    top level the shared gate mixes every task's experts into what all tasks
    read next, so only the top level's task experts, the task gates of the top
    two levels and the heads belong to one task; the rest is shared.
    """

    def __init__(
        self,
        parts: ModelParts,
        tasks: Sequence[Task],
        *,
        num_levels: int,
        num_shared_experts: int,
        num_task_experts: int,
    ) -> None:
        super().__init__(parts, tasks)
        blocks = _level_blocks(parts, num_levels)
        self.levels = nn.ModuleList(
            ExtractionLevel(
                make_expert,
                self.task_names,
                gate_in_features=gate_in_features,
                pool_positions=index > 0,
                num_shared_experts=num_shared_experts,
                num_task_experts=num_task_experts,
                with_shared_gate=index < num_levels - 1,
            )
            for index, (make_expert, gate_in_features) in enumerate(blocks)
        )

    def encode(self, inputs: Tensor) -> Representation:
        shared: Tensor | None = inputs
        branches = {name: inputs for name in self.task_names}
        for level in self.levels:
            assert shared is not None, "only the top level drops the shared branch"
            shared, branches = level(shared, branches)
        return branches

    def task_encoder_parameters(self, task: str) -> list[nn.Parameter]:
        top = len(self.levels) - 1
        params = list(self.levels[top].task_experts[task].parameters())
        for index in range(max(top - 1, 0), top + 1):
            params += list(self.levels[index].task_gates[task].parameters())
        return params


def _level_blocks(parts: ModelParts, num_levels: int) -> list[tuple[ExpertFactory, int]]:
    """Per level: a factory of one expert, and the width its gates read."""
    if num_levels == 1:
        return [(parts.make_encoder, parts.input_size)]
    if parts.num_layers < num_levels:
        raise ValueError(
            f"ple with num_levels {num_levels} divides the encoder's layers between the "
            f"levels, and this problem's encoder has {parts.num_layers} layers; "
            f"set num_levels from 1 to {max(parts.num_layers, 1)}"
        )
    base, extra = divmod(parts.num_layers, num_levels)
    bounds = [0, *accumulate(base + (level < extra) for level in range(num_levels))]
    return [
        (
            functools.partial(_layer_slice, parts, start, stop),
            parts.input_size if start == 0 else parts.layer_sizes[start - 1],
        )
        for start, stop in pairwise(bounds)
    ]


def _layer_slice(parts: ModelParts, start: int, stop: int) -> nn.Module:
    return nn.Sequential(*parts.encoder_layers("ple")[start:stop])


def build_ple(
    parts: ModelParts, tasks: Sequence[Task], params: Mapping[str, float]
) -> MultiTaskModel:
    """Model params: num_levels (2; 1 is CGC), num_shared_experts (1), num_task_experts (1)."""
    return ProgressiveLayeredExtraction(
        parts,
        tasks,
        num_levels=int_option(params, "num_levels", 2),
        num_shared_experts=int_option(params, "num_shared_experts", 1, minimum=0),
        num_task_experts=int_option(params, "num_task_experts", 1),
    )
