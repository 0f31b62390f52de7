"""An NYUv2-shaped dense problem: 13-class segmentation, depth and surface normals.

The shapes, tasks, losses and metrics follow the NYUv2 benchmark as used by
MTAN (Liu, Johns and Davison, "End-to-End Multi-Task Learning with
Attention", CVPR 2019) and most multi-task papers since: 3x288x384 inputs,
cross-entropy for segmentation (mIoU, pixel accuracy), L1 for depth
(absolute and relative error) and 1 - cosine for normals (mean and median
angle error). The scenes are synthetic (see synthetic_scenes), rendered per
sample from the seed, so nothing is downloaded and memory stays small; the
default sizes are NYUv2's (795 training, 654 validation images).

The model is a small conv encoder (three stride-2 conv layers, so height and
width must be multiples of 8) with one upsampling conv decoder per task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workers.mtl.architectures import ModelParts, build_model
from workers.mtl.architectures.options import int_option
from workers.mtl.model import MultiTaskModel
from workers.mtl.problem import Metric, Problem, Task
from workers.mtl.problems.standard_tasks import accuracy
from workers.mtl.problems.synthetic_scenes import NUM_CLASSES, SceneDataset

NUM_DOWNSAMPLINGS = 3


def mean_iou(prediction: Tensor, target: Tensor) -> float:
    """Mean over classes present in prediction or target of intersection / union."""
    predicted = prediction.argmax(dim=1)
    ious = []
    for label in range(prediction.shape[1]):
        is_predicted, is_target = predicted == label, target == label
        union = (is_predicted | is_target).sum()
        if union > 0:
            ious.append((is_predicted & is_target).sum() / union)
    return float(torch.stack(ious).mean())


def depth_loss(prediction: Tensor, target: Tensor) -> Tensor:
    return (prediction.squeeze(1) - target).abs().mean()


def relative_depth_error(prediction: Tensor, target: Tensor) -> float:
    return float(((prediction.squeeze(1) - target).abs() / target).mean())


def normal_loss(prediction: Tensor, target: Tensor) -> Tensor:
    return 1.0 - (F.normalize(prediction, dim=1) * target).sum(dim=1).mean()


def depth_abs_error(prediction: Tensor, target: Tensor) -> float:
    return float(depth_loss(prediction, target))


def _angle_errors_degrees(prediction: Tensor, target: Tensor) -> Tensor:
    cosine = (F.normalize(prediction, dim=1) * target).sum(dim=1).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.acos(cosine))


def mean_angle_error(prediction: Tensor, target: Tensor) -> float:
    return float(_angle_errors_degrees(prediction, target).mean())


def median_angle_error(prediction: Tensor, target: Tensor) -> float:
    return float(_angle_errors_degrees(prediction, target).median())


TASKS = (
    Task(
        name="segmentation",
        loss=F.cross_entropy,
        output_size=NUM_CLASSES,
        metrics={
            "miou": Metric(fn=mean_iou, higher_is_better=True),
            "pixel_accuracy": Metric(fn=accuracy, higher_is_better=True),
        },
    ),
    Task(
        name="depth",
        loss=depth_loss,
        output_size=1,
        metrics={
            "abs_error": Metric(fn=depth_abs_error, higher_is_better=False),
            "rel_error": Metric(fn=relative_depth_error, higher_is_better=False),
        },
    ),
    Task(
        name="normal",
        loss=normal_loss,
        output_size=3,
        metrics={
            "mean_angle_error": Metric(fn=mean_angle_error, higher_is_better=False),
            "median_angle_error": Metric(fn=median_angle_error, higher_is_better=False),
        },
    ),
)


def _conv(channels_in: int, channels_out: int, stride: int = 1) -> nn.Module:
    return nn.Sequential(nn.Conv2d(channels_in, channels_out, 3, stride, padding=1), nn.ReLU())


def _conv_parts(channels: int, input_size: int) -> ModelParts:
    """Encoder: 3 -> c -> 2c -> 4c channels at 1/2, 1/4, 1/8 resolution.
    Each head mirrors it back to full resolution and ends in a 1x1 conv."""
    widths = [3] + [channels * 2**level for level in range(NUM_DOWNSAMPLINGS)]

    def make_encoder_layers() -> nn.ModuleList:
        return nn.ModuleList(
            _conv(widths[i], widths[i + 1], stride=2) for i in range(NUM_DOWNSAMPLINGS)
        )

    # Head widths mirror the encoder's, never below `channels` (the input's 3
    # is wider than a tiny `channels`).
    head_widths = [max(width, channels) for width in widths]

    def make_head(task: Task) -> nn.Module:
        blocks: list[nn.Module] = []
        for level in range(NUM_DOWNSAMPLINGS, 0, -1):
            blocks += [_conv(widths[level], head_widths[level - 1]), nn.Upsample(scale_factor=2)]
        blocks.append(nn.Conv2d(head_widths[0], task.output_size, 1))
        return nn.Sequential(*blocks)

    return ModelParts.from_layers(
        make_encoder_layers=make_encoder_layers,
        layer_sizes=widths[1:],
        make_head=make_head,
        input_size=input_size,
    )


def build(params: Mapping[str, float], seed: int) -> Problem:
    """The problem. Problem params: height (288), width (384), num_samples (795),
    num_val_samples (654); model params: channels (16) plus the architecture's own."""
    multiple = 2**NUM_DOWNSAMPLINGS
    height = int_option(params, "height", 288, minimum=multiple)
    width = int_option(params, "width", 384, minimum=multiple)
    if height % multiple or width % multiple:
        raise ValueError(
            f"params 'height' and 'width' must be multiples of {multiple}; got {height}x{width}"
        )
    num_samples = int_option(params, "num_samples", 795)
    num_val_samples = int_option(params, "num_val_samples", 654)

    def build_problem_model(
        architecture: str, model_params: Mapping[str, float], tasks: Sequence[Task]
    ) -> MultiTaskModel:
        parts = _conv_parts(int_option(model_params, "channels", 16), 3 * height * width)
        return build_model(architecture, parts, tasks, model_params)

    return Problem(
        name="nyuv2_synthetic",
        tasks=TASKS,
        train_data=SceneDataset(num_samples=num_samples, seed=seed + 1, height=height, width=width),
        val_data=SceneDataset(
            num_samples=num_val_samples, seed=seed + 2, height=height, width=width
        ),
        build_model=build_problem_model,
    )
