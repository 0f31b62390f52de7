"""Built-in reference problems, their tasks, metrics and options, and the entrypoint check."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

# A user problem's "package.module:function"; the workers' loader
# (workers.mtl.problems.entrypoint) uses the same pattern, and a test keeps
# the two equal.
ENTRYPOINT_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
# The option that sets how many of its tasks a problem offers (gradnorm_regression).
NUM_TASKS = "num_tasks"
MIN_TASKS = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class ProblemInfo:
    """A built-in problem as the service sees it.

    Attributes:
        tasks: the task names the problem offers (with its default params).
        metrics: each task's validation metric names (`metric.<task>.<name>`
            in conditions, "<task>.<name>" in single_task_baselines).
        description: one line for `mtlctl problems`.
        params: names of the problem's numeric options (problem.params).
        model_params: names of the options its model blocks read (model.params,
            besides the architecture's own).
        architectures: the architectures that fit the problem; None: all.
        has_validation: whether the problem has a validation split (eval_interval).
    """

    tasks: tuple[str, ...]
    metrics: Mapping[str, tuple[str, ...]]
    description: str
    params: frozenset[str] = frozenset()
    model_params: frozenset[str] = frozenset()
    architectures: frozenset[str] | None = None
    has_validation: bool = True

    def __post_init__(self) -> None:
        assert set(self.metrics) == set(self.tasks), "every task lists its metrics"

    def offered_tasks(self, params: Mapping[str, float]) -> tuple[str, ...]:
        """The tasks the problem offers with these params: the first
        `num_tasks` where the problem takes that option (a valid one)."""
        count = params.get(NUM_TASKS)
        if NUM_TASKS not in self.params or count is None or num_tasks_violation(self, count):
            return self.tasks
        return self.tasks[: int(count)]


def num_tasks_violation(info: ProblemInfo, count: float) -> str | None:
    """Why `count` is not a valid num_tasks for the problem, or None."""
    if math.isfinite(count) and count == int(count) and MIN_TASKS <= count <= len(info.tasks):
        return None
    return f"must be a whole number from {MIN_TASKS} to {len(info.tasks)}, got {count:g}"


_SIZES = frozenset({"num_samples", "num_val_samples"})
_GRADNORM_TASKS = tuple(f"task_{index}" for index in range(10))

PROBLEMS: dict[str, ProblemInfo] = {
    "tabular_regcls": ProblemInfo(
        tasks=("value", "category"),
        metrics={"value": ("mse",), "category": ("accuracy",)},
        description="16-d tabular input: one regression (MSE ~100) and one 4-class task (CE ~1.4)",
        params=_SIZES,
        model_params=frozenset({"hidden_size"}),
    ),
    "toy_conflict": ProblemInfo(
        tasks=("f1", "f2"),
        metrics={"f1": ("value",), "f2": ("value",)},
        description="CAGrad/Nash-MTL 2-D toy: the parameters are a point, two conflicting "
        "objectives",
        params=frozenset({"start_x", "start_y", "f1_scale"}),
        architectures=frozenset({"hps"}),
    ),
    "gradnorm_regression": ProblemInfo(
        tasks=_GRADNORM_TASKS,
        metrics=dict.fromkeys(_GRADNORM_TASKS, ("mse",)),
        description="GradNorm's synthetic regression: sigma_i tanh((B + eps_i) x), output "
        "scales 1 to 100; num_tasks T offers task_0 .. task_{T-1}",
        params=_SIZES | {NUM_TASKS},
        model_params=frozenset({"hidden_size"}),
    ),
    "mmoe_synthetic": ProblemInfo(
        tasks=("y1", "y2"),
        metrics={"y1": ("mse",), "y2": ("mse",)},
        description="MMoE paper's synthetic regression pair with a controllable task "
        "correlation in [-1, 1]",
        params=_SIZES | {"correlation"},
        model_params=frozenset({"hidden_size"}),
    ),
    "digits_pair": ProblemInfo(
        tasks=("left", "right", "sum"),
        metrics=dict.fromkeys(("left", "right", "sum"), ("accuracy",)),
        description="two 8x8 scikit-learn digits side by side: classify each (10 classes) "
        "and their sum (19)",
        params=_SIZES,
        model_params=frozenset({"channels", "hidden_size"}),
    ),
    "nyuv2_synthetic": ProblemInfo(
        tasks=("segmentation", "depth", "normal"),
        metrics={
            "segmentation": ("miou", "pixel_accuracy"),
            "depth": ("abs_error", "rel_error"),
            "normal": ("mean_angle_error", "median_angle_error"),
        },
        description="NYUv2-shaped synthetic scenes (3x288x384): 13-class segmentation, "
        "depth, surface normals",
        params=_SIZES | {"height", "width"},
        model_params=frozenset({"channels"}),
    ),
}


def entrypoint_violation(entrypoint: str) -> str | None:
    """Why `entrypoint` cannot name a user problem, or None when its form is right.

    Only the form is checked here; whether the module imports is the worker's
    to find out, since the service does not import user code.
    """
    if ENTRYPOINT_PATTERN.match(entrypoint):
        return None
    return (
        f"must look like 'package.module:function' (a dotted module path, a colon, "
        f"a function name), got {entrypoint!r}"
    )
