"""How mtlctl shows debug answers: breakpoints, setting changes, profiles, task statistics."""

from __future__ import annotations

import re
from collections.abc import Sequence

from mtl.v1 import debug_pb2, debug_types_pb2
from mtl_service.cli.render import action_name, number, state_name, table

_RED, _RESET = "\x1b[31m", "\x1b[0m"
# A negative cosine cell as cosine_matrix writes it, e.g. `-0.412!`.
_NEGATIVE_CELL = re.compile(r"(?<=\s)-\d\.\d+!")


def breakpoint_table(breakpoints: Sequence[debug_types_pb2.Breakpoint]) -> str:
    """One line per breakpoint; MAX 0 means no limit, EVERY 1 every step."""
    if not breakpoints:
        return "no breakpoints"
    rows = [("ID", "ACTION", "HITS", "MAX", "EVERY", "CONDITION", "SELECT")]
    for bp in breakpoints:
        rows.append(
            (
                bp.id,
                action_name(bp.action),
                str(bp.hit_count),
                str(bp.max_hits),
                str(max(bp.every_n_steps, 1)),
                bp.condition,
                ",".join(bp.snapshot_selectors) or "-",
            )
        )
    return table(rows, numeric_columns=(2, 3, 4))


def weights_change(response: debug_pb2.AdjustLossWeightsResponse) -> str:
    """Old and new weight of each changed task, and the step they apply from."""
    rows = [("TASK", "OLD", "NEW")]
    for task, new in sorted(response.new_weights.items()):
        old = response.old_weights.get(task)
        rows.append((task, "-" if old is None else number(old), number(new)))
    applies = f"from step {response.effective_step}"
    return f"{table(rows, numeric_columns=(1, 2))}\n{applies}"


def learning_rate_change(response: debug_pb2.SetLearningRateResponse) -> str:
    return (
        f"learning rate {number(response.old_learning_rate)} -> "
        f"{number(response.new_learning_rate)} from step {response.effective_step}"
    )


def profile_summary(summary: debug_pb2.ProfileSummary) -> str:
    """The profiled steps and the top operators by self time, in milliseconds."""
    rows = [("OP", "CALLS", "SELF CPU ms", "CPU ms", "SELF DEVICE ms")]
    for op in summary.top_ops:
        seconds = (op.self_cpu_seconds, op.cpu_seconds, op.self_device_seconds)
        rows.append((op.name, str(op.calls), *(f"{1000 * s:.3f}" for s in seconds)))
    steps = f"steps {summary.first_step}-{summary.last_step}, {summary.trace_bytes} trace bytes"
    return f"{steps}\n{table(rows, numeric_columns=range(1, 5))}"


def task_stats(stats: debug_pb2.GetTaskStatsResponse, *, color: bool = False) -> str:
    """A header line, the per-task table and the gradient cosine matrix."""
    header = f"step {stats.step}, {state_name(stats.state)}"
    header += f", gradients on the {stats.gradient_source}" if stats.gradient_source else ""
    return "\n\n".join((header, task_table(stats), cosine_matrix(stats, color=color)))


def task_table(stats: debug_pb2.GetTaskStatsResponse) -> str:
    rows = [("TASK", "LOSS", "SMOOTHED", "WEIGHT", "GRAD NORM")]
    for task in stats.tasks:
        values = (task.loss, task.smoothed_loss, task.weight, task.grad_norm)
        rows.append((task.task, *(number(v) for v in values)))
    return table(rows, numeric_columns=range(1, 5))


def cosine_matrix(stats: debug_pb2.GetTaskStatsResponse, *, color: bool = False) -> str:
    """The T x T task-gradient cosines with task names on both axes. Negative
    cosines (conflicting tasks) end in `!`, and are red when `color` is set."""
    names = [task.task for task in stats.tasks]
    if len(names) < 2 or len(stats.grad_cosine) != len(names) ** 2:
        return "no gradient cosines at this step"
    rows = [("COSINE", *(f"{name} " for name in names))]  # names over digits, not the marks
    for i, name in enumerate(names):
        row = stats.grad_cosine[i * len(names) : (i + 1) * len(names)]
        rows.append((name, *(f"{c:.3f}" + ("!" if c < 0 else " ") for c in row)))
    text = table(rows, numeric_columns=range(1, len(names) + 1))
    return _NEGATIVE_CELL.sub(lambda m: f"{_RED}{m.group()}{_RESET}", text) if color else text
