"""Two handwritten digits side by side: classify each, and their sum.

The digits are scikit-learn's 8x8 digits (UCI optical recognition of
handwritten digits, 1797 images), which ship inside the scikit-learn wheel,
so nothing is downloaded. Each sample puts two of them next to each other in
one 8x16 image; the tasks are the left digit, the right digit (10 classes
each) and their sum (19 classes, 0 to 18), which depends on both halves.
The digit images are split between training and validation before pairing,
so validation pairs are made of unseen digits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from workers.mtl.architectures import ModelParts, build_model
from workers.mtl.architectures.options import int_option
from workers.mtl.data import InMemoryDataset
from workers.mtl.model import MultiTaskModel
from workers.mtl.problem import Problem, Task, default_generator
from workers.mtl.problems.standard_tasks import classification_task

DIGIT_SIZE = 8
MAX_PIXEL = 16.0
VAL_SHARE = 0.2
TASKS = (
    classification_task("left", 10),
    classification_task("right", 10),
    classification_task("sum", 19),
)


def _digit_splits(seed: int) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """(images [N, 8, 8] in [0, 1], labels [N]) for training and validation."""
    # Imported here: scikit-learn takes a second or two to import and only
    # this problem needs it, so workers that never build it do not pay.
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32) / MAX_PIXEL
    labels = torch.as_tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=default_generator(seed))
    num_val = int(len(labels) * VAL_SHARE)
    val, train = order[:num_val], order[num_val:]
    return (images[train], labels[train]), (images[val], labels[val])


def _pairs(digits: tuple[Tensor, Tensor], num_samples: int, seed: int) -> InMemoryDataset:
    images, labels = digits
    generator = default_generator(seed)
    left = torch.randint(len(labels), (num_samples,), generator=generator)
    right = torch.randint(len(labels), (num_samples,), generator=generator)
    inputs = torch.cat([images[left], images[right]], dim=-1).unsqueeze(1)
    targets = {"left": labels[left], "right": labels[right], "sum": labels[left] + labels[right]}
    return InMemoryDataset(inputs, targets)


def _conv_parts(channels: int, hidden_size: int) -> ModelParts:
    """Two 3x3 conv layers (the second pooled to 4x8), then a dense layer."""
    flat_size = 2 * channels * (DIGIT_SIZE // 2) * DIGIT_SIZE

    def make_encoder_layers() -> nn.ModuleList:
        return nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU()),
                nn.Sequential(
                    nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
                ),
                nn.Sequential(nn.Flatten(), nn.Linear(flat_size, hidden_size), nn.ReLU()),
            ]
        )

    def make_head(task: Task) -> nn.Module:
        return nn.Linear(hidden_size, task.output_size)

    return ModelParts.from_layers(
        make_encoder_layers=make_encoder_layers,
        layer_sizes=(channels, 2 * channels, hidden_size),
        make_head=make_head,
        input_size=DIGIT_SIZE * 2 * DIGIT_SIZE,
    )


def build(params: Mapping[str, float], seed: int) -> Problem:
    """The problem. Problem params: num_samples (8192 pairs), num_val_samples
    (2048); model params: channels (16), hidden_size (64) plus the
    architecture's own. Inputs are [1, 8, 16] images in [0, 1]."""
    num_samples = int_option(params, "num_samples", 8192)
    num_val_samples = int_option(params, "num_val_samples", 2048)
    train_digits, val_digits = _digit_splits(seed)

    def build_problem_model(
        architecture: str, model_params: Mapping[str, float], tasks: Sequence[Task]
    ) -> MultiTaskModel:
        parts = _conv_parts(
            int_option(model_params, "channels", 16), int_option(model_params, "hidden_size", 64)
        )
        return build_model(architecture, parts, tasks, model_params)

    return Problem(
        name="digits_pair",
        tasks=TASKS,
        train_data=_pairs(train_digits, num_samples, seed + 1),
        val_data=_pairs(val_digits, num_val_samples, seed + 2),
        build_model=build_problem_model,
    )
