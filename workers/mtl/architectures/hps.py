"""Hard parameter sharing: one shared trunk, one head per task."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from workers.mtl.architectures.parts import ModelParts
from workers.mtl.model import MultiTaskModel, Representation
from workers.mtl.problem import Task


class HardParameterSharing(MultiTaskModel):
    """The classic multi-task network (Caruana 1997): every task reads the same
    trunk output, so the trunk's parameters receive every task's gradient."""

    def __init__(self, parts: ModelParts, tasks: Sequence[Task]) -> None:
        super().__init__([task.name for task in tasks])
        self.trunk = parts.make_encoder()
        self.heads = nn.ModuleDict({task.name: parts.make_head(task) for task in tasks})

    def encode(self, inputs: Tensor) -> Representation:
        return self.trunk(inputs)

    def decode(self, representation: Representation) -> dict[str, Tensor]:
        assert isinstance(representation, Tensor)
        return {name: head(representation) for name, head in self.heads.items()}

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        return list(self.heads[task].parameters())


def build_hps(
    parts: ModelParts, tasks: Sequence[Task], params: Mapping[str, float]
) -> MultiTaskModel:
    """Hard parameter sharing takes no options of its own."""
    del params
    return HardParameterSharing(parts, tasks)
