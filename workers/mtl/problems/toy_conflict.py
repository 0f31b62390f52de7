"""The two-objective 2-D toy of CAGrad and Nash-MTL, where task gradients conflict.

Liu, Liu, Jin, Stone and Liu, "Conflict-Averse Gradient Descent for Multi-task
Learning", NeurIPS 2021 (fig. 1); reused by Navon et al., "Multi-Task Learning
as a Bargaining Game", ICML 2022 (Nash-MTL), which multiplies f1 by a scale.

Here the parameters being optimised are a point x = (x1, x2) in the plane and
the tasks are the two objectives f1(x), f2(x), whose gradients point in very
different directions over most of the plane. It fits the Problem interface as
follows: the model's only shared parameter is the point (the HPS trunk is a
module that ignores its input and returns the point once per sample), the
heads are identities, and each task's loss evaluates its objective at the
prediction, so the targets are placeholders. The data is a batch of dummy
inputs; every step therefore sees the same deterministic objective, as in
the papers. Only the "hps" architecture applies: there is no input to gate
on and no trunk to split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from workers.mtl.architectures import ModelParts, build_model
from workers.mtl.architectures.options import float_option
from workers.mtl.data import InMemoryDataset
from workers.mtl.model import MultiTaskModel
from workers.mtl.problem import Metric, Problem, Task

# Clamp inside the logarithms, as in the CAGrad code, so f stays finite on its valleys.
_LOG_FLOOR = 5e-6
# Enough dummy samples for any reasonable batch_size; the inputs are never read.
_NUM_DUMMY_SAMPLES = 1024
# The papers' first start point; their others: (-8.5, -5), (9, 9), (-7.5, -0.5), (9, -1).
DEFAULT_START = (-8.5, 7.5)


def objectives(points: Tensor) -> tuple[Tensor, Tensor]:
    """(f1, f2) at points [..., 2]: log-valleys above x2 = 0, quadratic bowls below."""
    x1, x2 = points[..., 0], points[..., 1]
    f1_log = torch.clamp((0.5 * (-x1 - 7) - torch.tanh(-x2)).abs(), _LOG_FLOOR).log() + 6
    f2_log = torch.clamp((0.5 * (-x1 + 3) + torch.tanh(-x2) + 2).abs(), _LOG_FLOOR).log() + 6
    f1_bowl = ((-x1 + 7).pow(2) + 0.1 * (-x2 - 8).pow(2)) / 10 - 20
    f2_bowl = ((-x1 - 7).pow(2) + 0.1 * (-x2 - 8).pow(2)) / 10 - 20
    upper = torch.clamp(torch.tanh(x2 * 0.5), 0)
    lower = torch.clamp(torch.tanh(-x2 * 0.5), 0)
    return f1_log * upper + f1_bowl * lower, f2_log * upper + f2_bowl * lower


class PointTrunk(nn.Module):
    """The optimised point, repeated once per input sample."""

    def __init__(self, start: tuple[float, float]) -> None:
        super().__init__()
        self.point = nn.Parameter(torch.tensor(start))

    def forward(self, inputs: Tensor) -> Tensor:
        return self.point.expand(inputs.shape[0], 2)


def _objective_task(name: str, index: int, scale: float) -> Task:
    def loss(prediction: Tensor, target: Tensor) -> Tensor:
        del target
        return scale * objectives(prediction)[index].mean()

    def value(prediction: Tensor, target: Tensor) -> float:
        return float(loss(prediction, target))

    return Task(
        name=name,
        loss=loss,
        output_size=2,
        metrics={"value": Metric(fn=value, higher_is_better=False)},
    )


def _point_parts(start: tuple[float, float]) -> ModelParts:
    def make_head(task: Task) -> nn.Module:
        return nn.Identity()

    return ModelParts(
        make_encoder=lambda: PointTrunk(start), feature_size=2, make_head=make_head, input_size=1
    )


def build(params: Mapping[str, float], seed: int) -> Problem:
    """The problem. Problem params: start_x (-8.5), start_y (7.5), f1_scale (1.0).
    The seed is unused: the objective and the start are deterministic."""
    del seed
    start = (
        float_option(params, "start_x", DEFAULT_START[0], minimum=-10.0, maximum=10.0),
        float_option(params, "start_y", DEFAULT_START[1], minimum=-10.0, maximum=10.0),
    )
    f1_scale = float_option(params, "f1_scale", 1.0, minimum=1e-6, maximum=1e6)
    dummy = InMemoryDataset(
        torch.zeros(_NUM_DUMMY_SAMPLES, 1),
        {name: torch.zeros(_NUM_DUMMY_SAMPLES) for name in ("f1", "f2")},
    )

    def build_problem_model(
        architecture: str, model_params: Mapping[str, float], tasks: Sequence[Task]
    ) -> MultiTaskModel:
        if architecture != "hps":
            raise ValueError(
                f"toy_conflict optimises a 2-D point directly, so only architecture 'hps' "
                f"applies; got {architecture!r}"
            )
        return build_model(architecture, _point_parts(start), tasks, model_params)

    return Problem(
        name="toy_conflict",
        tasks=(_objective_task("f1", 0, f1_scale), _objective_task("f2", 1, 1.0)),
        train_data=dummy,
        val_data=dummy,
        build_model=build_problem_model,
    )
