"""The interface of loss weighting strategies: losses in, gradients set, weights out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Literal

from torch import Tensor, nn

from workers.mtl.model import MultiTaskModel, Representation


class GradientSource(StrEnum):
    """Where gradient-based strategies read per-task gradients."""

    # Gradients on the shared representation: T cheap head backward passes
    # plus one trunk backward. Needs a model with a single representation.
    REPRESENTATION = "representation"
    # Gradients on the shared parameters: exact, T trunk backward passes.
    SHARED_PARAMETERS = "shared_parameters"


@dataclass(slots=True, kw_only=True)
class BackwardContext:
    """What a strategy may use to turn per-task losses into gradients.

    Attributes:
        model: the model being trained.
        representation: `model.encode(inputs)`, still part of the graph.
        user_weights: the user's multiplier per task (spec's loss_weights,
            changed live by the debug API); a strategy applies it on top of
            the weights it computes.
        step: the step being computed, from 1.
    """

    model: MultiTaskModel
    representation: Representation
    user_weights: Mapping[str, float]
    step: int


@dataclass(slots=True, kw_only=True)
class WeightingResult:
    """What a strategy reports after its backward.

    Attributes:
        weights: the effective weight of each task's loss this step.
        task_gradients: [T, D] per-task gradients (rows in task order) on
            `gradient_source`, when the strategy computed them anyway, so
            diagnostics can reuse them instead of paying for them again.
        gradient_source: where `task_gradients` were taken.
    """

    weights: dict[str, float]
    task_gradients: Tensor | None = None
    gradient_source: GradientSource | None = None


class WeightingStrategy(ABC):
    """Combines per-task losses into parameter gradients.

    `backward` must leave `.grad` set on every trainable parameter of the
    model (and of `parameters()`), exactly as `loss.backward()` would.
    Subclasses cite their paper in the class docstring.
    """

    name: ClassVar[str]
    kind: ClassVar[Literal["loss", "gradient"]]
    # Sources a gradient-based strategy can work on; empty for loss-based ones.
    supported_sources: ClassVar[frozenset[GradientSource]] = frozenset()

    def __init__(
        self,
        *,
        task_names: list[str],
        params: Mapping[str, float],
        gradient_source: GradientSource | None = None,
    ) -> None:
        self.task_names = list(task_names)
        self.params = dict(params)
        self.gradient_source = gradient_source

    def backward_passes(self) -> int:
        """Backward passes one step costs, for the strategy's cost report."""
        return 1

    def parameters(self) -> list[nn.Parameter]:
        """Learnable parameters of the strategy the optimizer must update."""
        return []

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint; `load_state_dict` restores it exactly."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        del state

    @abstractmethod
    def backward(self, losses: Mapping[str, Tensor], context: BackwardContext) -> WeightingResult:
        """Run the backward pass(es) for this step and report the weights used."""
