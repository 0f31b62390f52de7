"""Multi-gate Mixture-of-Experts (MMoE).

Ma, Zhao, Yi, Chen, Hong and Chi, "Modeling Task Relationships in Multi-task
Learning with Multi-gate Mixture-of-Experts", KDD 2018.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from workers.mtl.architectures.gating import Gate, mix_experts
from workers.mtl.architectures.options import int_option
from workers.mtl.architectures.parts import ModelParts
from workers.mtl.architectures.soft_sharing import SoftSharingModel
from workers.mtl.model import MultiTaskModel, Representation
from workers.mtl.problem import Task


class MultiGateMixtureOfExperts(SoftSharingModel):
    """`num_experts` expert trunks shared by all tasks, and one softmax gate per
    task that reads the flattened input and mixes the experts' outputs into that
    task's representation (Ma et al. 2018, eq. 5-6).

    Each head reads its own mixture, so the model has no single representation.
    The experts are shared parameters; a task's gate and head are its own,
    since no other task's output depends on them.
    """

    def __init__(self, parts: ModelParts, tasks: Sequence[Task], *, num_experts: int) -> None:
        super().__init__(parts, tasks)
        self.experts = nn.ModuleList(parts.make_encoder() for _ in range(num_experts))
        self.gates = nn.ModuleDict(
            {task.name: Gate(parts.input_size, num_experts, pool_positions=False) for task in tasks}
        )

    def encode(self, inputs: Tensor) -> Representation:
        expert_outputs = [expert(inputs) for expert in self.experts]
        return {
            name: mix_experts(expert_outputs, gate(inputs)) for name, gate in self.gates.items()
        }

    def task_encoder_parameters(self, task: str) -> list[nn.Parameter]:
        return list(self.gates[task].parameters())


def build_mmoe(
    parts: ModelParts, tasks: Sequence[Task], params: Mapping[str, float]
) -> MultiTaskModel:
    """Model params: num_experts (4)."""
    return MultiGateMixtureOfExperts(parts, tasks, num_experts=int_option(params, "num_experts", 4))
