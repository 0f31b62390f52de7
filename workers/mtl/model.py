"""The interface every multi-task model implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor, nn

Representation = Tensor | dict[str, Tensor]
"""The shared part's output: one tensor all heads read (hard sharing), or one
tensor per task where the sharing is soft (MMoE, PLE, cross-stitch)."""


class MultiTaskModel(nn.Module, ABC):
    """A model split into a shared part and one head per task.

    `forward(x)` is `decode(encode(x))`. Weighting strategies that work on
    representation gradients call the two halves separately; the split of
    parameters into shared and task-specific is what gradient diagnostics and
    gradient-based strategies act on. Model code stays single-device:
    distribution is applied from outside.
    """

    def __init__(self, task_names: list[str]) -> None:
        super().__init__()
        self.task_names = list(task_names)

    @abstractmethod
    def encode(self, inputs: Tensor) -> Representation:
        """The shared part: inputs to the representation the heads read."""

    @abstractmethod
    def decode(self, representation: Representation) -> dict[str, Tensor]:
        """The task heads: representation to one prediction per task."""

    @abstractmethod
    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters every task's loss depends on."""

    @abstractmethod
    def task_parameters(self, task: str) -> list[nn.Parameter]:
        """Parameters only `task`'s loss depends on."""

    @property
    def has_single_representation(self) -> bool:
        """True when every head reads the same representation tensor, which is
        what representation-gradient strategies need."""
        return True

    def forward(self, inputs: Tensor) -> dict[str, Tensor]:
        return self.decode(self.encode(inputs))
