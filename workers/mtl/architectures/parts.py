"""The building blocks a problem hands to an architecture."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from workers.mtl.problem import Task


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelParts:
    """Factories for a problem's blocks; an architecture decides how to share them.

    Attributes:
        make_encoder: a fresh trunk: inputs -> features of `feature_size`
            (per position for dense problems). MMoE and PLE build several
            (experts); cross-stitch builds one per task.
        feature_size: width (channels) of the encoder's output.
        make_head: a fresh head for a task: features -> the task's prediction.
        input_size: flattened width of one input, for gates that read the input.
    """

    make_encoder: Callable[[], nn.Module]
    feature_size: int
    make_head: Callable[[Task], nn.Module]
    input_size: int
