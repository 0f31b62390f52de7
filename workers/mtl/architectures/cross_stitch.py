"""Cross-stitch networks.

Misra, Shrivastava, Gupta and Hebert, "Cross-stitch Networks for Multi-task
Learning", CVPR 2016.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from workers.mtl.architectures.parts import ModelParts
from workers.mtl.architectures.soft_sharing import SoftSharingModel
from workers.mtl.model import MultiTaskModel, Representation
from workers.mtl.problem import Task

# The paper's best initialisation keeps most of a column's own signal (alpha_S
# = 0.9) and spreads the rest over the other columns (section 5.1).
SELF_WEIGHT = 0.9


class CrossStitchNetwork(SoftSharingModel):
    """One copy of the problem's encoder (a column) per task, with a cross-stitch
    unit after every encoder layer: a learnt T x T matrix whose row i mixes
    every column's activations into the input of column i's next layer
    (Misra et al. 2016, eq. 1), generalised from two tasks to T.

    Although column i is "task i's network", after the first unit every task's
    output depends on every column, so the columns and the units are shared
    parameters; only the heads are task-specific. The paper also trains the
    units with a larger learning rate; here they use the job's optimizer as is.
    """

    def __init__(self, parts: ModelParts, tasks: Sequence[Task]) -> None:
        super().__init__(parts, tasks)
        self.columns = nn.ModuleDict(
            {task.name: parts.encoder_layers("cross_stitch") for task in tasks}
        )
        self.units = nn.ParameterList(
            nn.Parameter(_initial_unit(len(tasks))) for _ in range(parts.num_layers)
        )

    def encode(self, inputs: Tensor) -> Representation:
        activations = [inputs] * len(self.task_names)
        columns = [self.columns[name] for name in self.task_names]
        for layer_index, unit in enumerate(self.units):
            outputs = [
                column[layer_index](x) for column, x in zip(columns, activations, strict=True)
            ]
            stacked = torch.stack(outputs)
            activations = list(torch.tensordot(unit, stacked, dims=([1], [0])).unbind(0))
        return dict(zip(self.task_names, activations, strict=True))


def _initial_unit(num_tasks: int) -> Tensor:
    if num_tasks == 1:
        return torch.ones(1, 1)
    other_weight = (1.0 - SELF_WEIGHT) / (num_tasks - 1)
    unit = torch.full((num_tasks, num_tasks), other_weight)
    unit.fill_diagonal_(SELF_WEIGHT)
    return unit


def build_cross_stitch(
    parts: ModelParts, tasks: Sequence[Task], params: Mapping[str, float]
) -> MultiTaskModel:
    """Cross-stitch takes no options of its own."""
    del params
    return CrossStitchNetwork(parts, tasks)
