"""The interface of loss weighting strategies: losses in, gradients set, weights out.

Every strategy computes one weight w_t per task such that the gradient it
applies is that of sum_t w_t L_t (loss-based strategies) or sum_t w_t g_t
(gradient-based ones, g_t being task t's gradient on the gradient source).

User weights: `BackwardContext.user_weights` holds a multiplier u_t per task
(1.0 where a task is absent). It scales each task's term on top of the
strategy: the applied gradient is sum_t u_t w_t g_t, task t's head receives
u_t w_t times its own gradient, a regulariser a strategy adds for task t
(uncertainty weighting's log-variance) is scaled by u_t too, and the weights
reported are u_t w_t. The strategy computes w_t without seeing u, so it never
adapts against the user (GradNorm would otherwise equalise a doubled task
back): u_t = 2 always doubles task t's share relative to the strategy alone.

Reported weights stay tensors on the losses' device: reading them is a host
sync the caller chooses to pay, at report intervals or when a breakpoint needs
them. Strategies that solve a small optimisation problem over the T x T
Gramian (MGDA, CAGrad, Nash-MTL, UPGrad) copy it to the host once a step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol, Self, runtime_checkable

import torch
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
            changed live by the debug API); applied on top of the weights the
            strategy computes, as the module docstring says.
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
        weights: the effective weight u_t w_t of each task this step, a 0-dim
            tensor on the losses' device (`float()` it when you need a number;
            that is a host sync).
        task_gradients: [T, D] per-task gradients (rows in task order) on
            `gradient_source`, when the strategy computed them anyway, so
            diagnostics can reuse them instead of paying for them again.
        gradient_source: where `task_gradients` were taken.
    """

    weights: dict[str, Tensor]
    task_gradients: Tensor | None = None
    gradient_source: GradientSource | None = None


@runtime_checkable
class Checkpointable(Protocol):
    """A piece of strategy state with its own checkpoint and device move."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...

    def to(self, device: torch.device) -> Any: ...


class WeightingStrategy(ABC):
    """Combines per-task losses into parameter gradients.

    `backward` must leave `.grad` set on every trainable parameter of the
    model (and of `parameters()`), exactly as `loss.backward()` would.
    Subclasses cite their paper in the class docstring, declare their options
    with defaults in `defaults`, create their state in `_create_state` and
    name the attributes that hold it in `state_attributes` (tensors,
    generators, `Checkpointable` objects or plain numbers): `state_dict`,
    `load_state_dict` and `to` handle those.
    """

    name: ClassVar[str]
    kind: ClassVar[Literal["loss", "gradient"]]
    # Sources a gradient-based strategy can work on; empty for loss-based ones.
    supported_sources: ClassVar[frozenset[GradientSource]] = frozenset()
    defaults: ClassVar[Mapping[str, float]] = {}
    state_attributes: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        task_names: list[str],
        params: Mapping[str, float],
        gradient_source: GradientSource | None = None,
    ) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"weighting strategy {self.name!r} has no params {unknown}; "
                f"it takes {sorted(self.defaults) or 'none'}"
            )
        if gradient_source is not None and gradient_source not in self.supported_sources:
            supported = sorted(map(str, self.supported_sources)) or "none"
            raise ValueError(
                f"weighting strategy {self.name!r} cannot use gradient source "
                f"{str(gradient_source)!r}; supported: {supported}"
            )
        self.task_names = list(task_names)
        self.params = {**self.defaults, **params}
        self.gradient_source = None if gradient_source is None else GradientSource(gradient_source)
        self.device = torch.device("cpu")
        self._user_vector: tuple[tuple[float, ...], Tensor] | None = None
        self._create_state()

    def _create_state(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Create the attributes listed in `state_attributes`; params are set."""

    def backward_passes(self) -> int:
        """Backward passes through the shared part one step costs, for the
        strategy's cost report (head-only passes are not counted)."""
        return 1

    def parameters(self) -> list[nn.Parameter]:
        """Learnable parameters of the strategy the optimizer must update."""
        return []

    def to(self, device: torch.device | str) -> Self:
        """Move the strategy's state to the model's device; call it before
        building the optimizer. Generators stay on the CPU."""
        self.device = torch.device(device)
        for attribute in self.state_attributes:
            value = getattr(self, attribute)
            if isinstance(value, nn.Parameter):
                value.data = value.data.to(self.device)
            elif isinstance(value, Tensor):
                setattr(self, attribute, value.to(self.device))
            elif isinstance(value, Checkpointable):
                value.to(self.device)
        return self

    def _follow(self, device: torch.device) -> None:
        """Move the state to the losses' device when `to` was not called."""
        if device != self.device:
            self.to(device)

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (copies); `load_state_dict` restores it exactly."""
        return {name: _saved(getattr(self, name)) for name in self.state_attributes}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` returned, on this strategy's device."""
        missing = sorted(set(self.state_attributes) - set(state))
        if missing:
            raise ValueError(f"weighting strategy {self.name!r}: state lacks {missing}")
        for name in self.state_attributes:
            self._restore(name, state[name])

    def _restore(self, name: str, saved: Any) -> None:
        current = getattr(self, name)
        if isinstance(current, nn.Parameter):
            with torch.no_grad():
                current.copy_(saved)
        elif isinstance(current, torch.Generator):
            current.set_state(saved.cpu())
        elif isinstance(current, Checkpointable):
            current.load_state_dict(saved)
        elif isinstance(saved, Tensor):
            setattr(self, name, saved.to(self.device, copy=True))
        else:
            setattr(self, name, saved)

    @abstractmethod
    def backward(self, losses: Mapping[str, Tensor], context: BackwardContext) -> WeightingResult:
        """Run the backward pass(es) for this step and report the weights used."""

    def user_vector(self, user_weights: Mapping[str, float], *, like: Tensor) -> Tensor:
        """The [T] user multipliers, made once per change of the user's weights
        (not a host-to-device copy every step)."""
        values = tuple(float(user_weights.get(task, 1.0)) for task in self.task_names)
        cached = self._user_vector
        if (
            cached is None
            or cached[0] != values
            or cached[1].device != like.device
            or cached[1].dtype != like.dtype
        ):
            cached = (values, user_weight_vector(user_weights, self.task_names, like=like))
            self._user_vector = cached
        return cached[1]


class LossWeighting(WeightingStrategy):
    """A strategy that weights the loss values: one backward of
    sum_t u_t (w_t L_t + r_t), r_t being an optional regulariser."""

    kind = "loss"

    def backward(self, losses: Mapping[str, Tensor], context: BackwardContext) -> WeightingResult:
        loss_vector = stack_losses(losses, self.task_names)
        self._follow(loss_vector.device)
        weights = self.loss_weights(loss_vector.detach())
        user = self.user_vector(context.user_weights, like=loss_vector)
        regularizer = self.regularizer()
        terms = weights * loss_vector
        if not isinstance(regularizer, float) or regularizer != 0.0:
            terms = terms + regularizer
        (user * terms).sum().backward()
        return WeightingResult(weights=named(self.task_names, user * weights.detach()))

    @abstractmethod
    def loss_weights(self, losses: Tensor) -> Tensor:
        """[T] weights w_t from this step's (detached) [T] loss values."""

    def regularizer(self) -> Tensor | float:
        """[T] terms added to the task losses (they carry the strategy's own
        parameters' gradient); none by default."""
        return 0.0


def stack_losses(losses: Mapping[str, Tensor], task_names: Sequence[str]) -> Tensor:
    """[T] loss values in task order; KeyError names a missing task."""
    missing = [task for task in task_names if task not in losses]
    if missing:
        raise KeyError(f"no loss for tasks {missing}; got {sorted(losses)}")
    return torch.stack([losses[task] for task in task_names])


def user_weight_vector(
    user_weights: Mapping[str, float], task_names: Sequence[str], *, like: Tensor
) -> Tensor:
    """[T] user multipliers (1.0 for tasks the user left out), on `like`'s device."""
    values = [float(user_weights.get(task, 1.0)) for task in task_names]
    return torch.tensor(values, dtype=like.dtype).to(like.device, non_blocking=True)


def named(task_names: Sequence[str], weights: Tensor) -> dict[str, Tensor]:
    """{task: 0-dim weight} from a [T] vector in task order."""
    return dict(zip(task_names, weights.unbind(), strict=True))


def _saved(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, torch.Generator):
        return value.get_state()
    if isinstance(value, Checkpointable):
        return value.state_dict()
    return value
