"""The common half of soft-sharing models: one representation and one head per task."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from workers.mtl.architectures.parts import ModelParts
from workers.mtl.model import MultiTaskModel, Representation
from workers.mtl.problem import Task


class SoftSharingModel(MultiTaskModel):
    """A model whose `encode` returns one tensor per task and whose heads each read
    their own task's tensor. Subclasses build the shared part and say which of
    its parameters are task-specific through `task_encoder_parameters`."""

    def __init__(self, parts: ModelParts, tasks: Sequence[Task]) -> None:
        super().__init__([task.name for task in tasks])
        self.heads = nn.ModuleDict({task.name: parts.make_head(task) for task in tasks})

    @property
    def has_single_representation(self) -> bool:
        return False

    def decode(self, representation: Representation) -> dict[str, Tensor]:
        assert isinstance(representation, dict)
        return {name: head(representation[name]) for name, head in self.heads.items()}

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        return self.task_encoder_parameters(task) + list(self.heads[task].parameters())

    def shared_parameters(self) -> list[nn.Parameter]:
        task_specific = {id(p) for task in self.task_names for p in self.task_parameters(task)}
        return [p for p in self.parameters() if id(p) not in task_specific]

    def task_encoder_parameters(self, task: str) -> list[nn.Parameter]:
        """Parameters of the shared part that only `task`'s loss depends on."""
        del task
        return []
