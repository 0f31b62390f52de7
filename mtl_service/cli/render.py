"""How mtlctl shows jobs and events to a person: tables, details, progress."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable, Container, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from mtl.v1 import debug_types_pb2, job_pb2

USER_PAUSE = debug_types_pb2.PAUSE_REASON_USER


def state_name(state: int) -> str:
    return job_pb2.JobState.Name(state).removeprefix("JOB_STATE_")


def action_name(action: int) -> str:
    """BREAKPOINT_ACTION_PAUSE -> `pause`; unspecified is treated as pause."""
    action = action or debug_types_pb2.BREAKPOINT_ACTION_PAUSE
    return debug_types_pb2.BreakpointAction.Name(action).removeprefix("BREAKPOINT_ACTION_").lower()


def pause_reason_name(reason: int) -> str:
    return debug_types_pb2.PauseReason.Name(reason).removeprefix("PAUSE_REASON_").lower()


def parse_state(text: str) -> int:
    """`running` or `JOB_STATE_RUNNING` -> the enum value; ValueError lists the states."""
    name = text.upper()
    name = name if name.startswith("JOB_STATE_") else f"JOB_STATE_{name}"
    try:
        value = job_pb2.JobState.Value(name)
    except ValueError:
        names = [state_name(v).lower() for v in job_pb2.JobState.values() if v]
        raise ValueError(f"unknown state {text!r}; choose from {', '.join(names)}") from None
    if value == job_pb2.JOB_STATE_UNSPECIFIED:
        raise ValueError("unspecified is not a state to filter by")
    return value


def table(rows: Sequence[Sequence[str]], *, numeric_columns: Container[int] = ()) -> str:
    """Rows (the first one a header) in aligned columns; numeric columns align right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = (
        "  ".join(
            cell.rjust(width) if i in numeric_columns else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )
    return "\n".join(line.rstrip() for line in lines)


def number(value: float) -> str:
    """A float in four significant digits: `0.1204`, `44.6`, `1.5e-05`, `nan`."""
    return f"{value:.4g}"


def job_table(jobs: Sequence[job_pb2.Job]) -> str:
    """One line per job under a header."""
    rows = [("ID", "NAME", "STATE", "STEP", "ATTEMPT", "CREATED")]
    for job in jobs:
        rows.append(
            (
                job.id,
                job.spec.name or "-",
                state_name(job.state),
                f"{job.step}/{job.spec.steps}",
                str(job.attempt),
                job.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S"),
            )
        )
    return table(rows)


def _pause_lines(job: job_pb2.Job) -> list[str]:
    lines = []
    if job.state == job_pb2.JOB_STATE_PAUSED and job.HasField("pause"):
        reason = debug_types_pb2.PauseReason.Name(job.pause.reason).removeprefix("PAUSE_REASON_")
        since = datetime.now(UTC) - job.pause_time.ToDatetime(tzinfo=UTC)
        where = f" in {job.pause.tensor} (task {job.pause.task})" if job.pause.tensor else ""
        lines.append(
            f"paused:      at step {job.pause.step} by {reason.lower()}{where}, "
            f"{since.total_seconds():.0f} s ago"
            + (f": {job.pause.detail}" if job.pause.detail else "")
        )
    if job.paused_seconds:
        lines.append(f"time paused: {job.paused_seconds:.1f} s before this pause")
    return lines


def _workers(job: job_pb2.Job) -> str:
    """The job's worker, or for a distributed job each rank's."""
    if len(job.rank_worker_ids) > 1:
        return ", ".join(f"rank {r}: {w}" for r, w in enumerate(job.rank_worker_ids))
    return job.worker_id or "-"


def job_details(job: job_pb2.Job) -> str:
    """A job as `key: value` lines, the environment included."""
    lines = [
        f"id:          {job.id}",
        f"name:        {job.spec.name or '-'}",
        f"state:       {state_name(job.state)}" + (f" ({job.message})" if job.message else ""),
        f"step:        {job.step}/{job.spec.steps}",
        f"attempt:     {job.attempt}",
        f"worker:      {_workers(job)}",
        f"problem:     {job.spec.problem.name or job.spec.problem.entrypoint}",
        f"tasks:       {', '.join(job.spec.tasks)}",
        f"weighting:   {job.spec.weighting.strategy}",
        f"spec sha256: {job.spec_sha256}",
    ]
    lines += _pause_lines(job)
    if job.breakpoints:
        armed = ", ".join(f"{b.id} ({b.hit_count} hits): {b.condition}" for b in job.breakpoints)
        lines.append(f"breakpoints: {armed}")
    if job.HasField("fork_origin"):
        origin = job.fork_origin
        lines.append(f"forked from: {origin.parent_job_id} after step {origin.step}")
    if job.task_losses:
        lines.append(f"losses:      {format_values(job.task_losses)}")
    if job.task_weights:
        lines.append(f"weights:     {format_values(job.task_weights)}")
    env = job.environment
    if env.torch_version:
        lines += [
            "environment:",
            f"  python {env.python_version}, torch {env.torch_version}"
            + (f", CUDA {env.cuda_version}" if env.cuda_version else ""),
            f"  device {env.device}, {env.num_threads} threads",
            f"  host {env.hostname}, worker {env.worker_id}",
            f"  {env.platform}",
        ]
    return "\n".join(lines)


def format_values(values: dict[str, float] | object) -> str:
    return " ".join(f"{k}={number(v)}" for k, v in sorted(dict(values).items()))  # type: ignore[call-overload]


def shape_text(shape: Sequence[int]) -> str:
    """`16x8`, or `scalar` for a 0-d tensor."""
    return "x".join(str(size) for size in shape) or "scalar"


def tensor_table(infos: Sequence[debug_types_pb2.TensorInfo]) -> str:
    """Snapshot tensors with their statistics (over finite elements), one per line."""
    header = ("NAME", "DTYPE", "SHAPE", "MIN", "MAX", "MEAN", "STD", "NORM", "NAN", "INF", "ZEROS%")
    rows = [header]
    for info in infos:
        stats = info.stats
        rows.append(
            (
                info.name,
                info.dtype,
                shape_text(info.shape),
                *(number(v) for v in (stats.min, stats.max, stats.mean, stats.std, stats.l2_norm)),
                str(stats.nan_count),
                str(stats.inf_count),
                f"{100 * stats.zero_fraction:.1f}",
            )
        )
    return table(rows, numeric_columns=range(3, len(header)))


def event_line(event: job_pb2.JobEvent, total_steps: int) -> str | None:
    """A plain line for an event (None for events not worth a line)."""
    kind = event.WhichOneof("payload")
    if kind == "state_change":
        change = event.state_change
        return f"state {state_name(change.to_state)}: {change.reason}"
    if kind == "step_report" and event.step_report.steps:
        last = event.step_report.steps[-1]
        return f"step {last.step}/{total_steps} {format_values(last.task_losses)}"
    if kind == "checkpoint_saved":
        return f"checkpoint at step {event.checkpoint_saved.step}: {event.checkpoint_saved.path}"
    if kind in DEBUG_EVENT_LINES:
        return DEBUG_EVENT_LINES[kind](getattr(event, kind))
    return None


def _breakpoint_hit_line(hit: debug_types_pb2.BreakpointHit) -> str:
    line = (
        f"breakpoint {hit.breakpoint_id} hit at step {hit.step} ({action_name(hit.action)}): "
        f"{hit.condition}"
    )
    if hit.values:
        line += f" [{format_values(hit.values)}]"
    if hit.tensors:
        line += "\n" + textwrap.indent(tensor_table(hit.tensors), "  ")
    return line


def _paused_line(paused: debug_types_pb2.Paused) -> str:
    line = f"paused at step {paused.step} ({pause_reason_name(paused.reason)})"
    line += f": {paused.detail}" if paused.detail else ""
    culprit = [f"task {paused.task}"] if paused.task else []
    culprit += [f"tensor {paused.tensor}"] if paused.tensor else []
    line += f" [{', '.join(culprit)}]" if culprit else ""
    return f"{line} {_by(paused.paused_by)}" if paused.reason == USER_PAUSE else line


def _resumed_line(resumed: debug_types_pb2.Resumed) -> str:
    line = f"resumed at step {resumed.step}"
    line += f" for {resumed.num_steps} steps" if resumed.num_steps else ""
    line += " (optimizer step skipped)" if resumed.skipped_optimizer_step else ""
    return f"{line} {_by(resumed.resumed_by)}"


def _by(caller: debug_types_pb2.Caller) -> str:
    """Who made a change, for event lines ("by anonymous" without tokens)."""
    return f"by {caller.role} {caller.identity}" if caller.identity else "by anonymous"


def _setting_changed_line(change: debug_types_pb2.SettingChanged) -> str:
    by = _by(change.changed_by)
    if change.name.startswith("breakpoint."):
        what = "set" if change.new_value else "deleted"
        breakpoint_id = change.name.removeprefix("breakpoint.")
        return f"breakpoint {breakpoint_id} {what} {by}: {change.detail}"
    return (
        f"{change.name} {number(change.old_value)} -> {number(change.new_value)} "
        f"from step {change.effective_step} {by}"
    )


def _debug_error_line(error: debug_types_pb2.DebugError) -> str:
    return f"debug error in {error.feature} at step {error.step}: {error.message}"


# The debug payloads of a JobEvent; a live progress bar prints these above itself.
DEBUG_EVENT_LINES: dict[str, Callable[[Any], str]] = {
    "breakpoint_hit": _breakpoint_hit_line,
    "paused": _paused_line,
    "resumed": _resumed_line,
    "setting_changed": _setting_changed_line,
    "debug_error": _debug_error_line,
}


class ProgressBar:
    """One self-rewriting line on a TTY: a bar, the step, the state (PAUSED too) and
    per-task losses; debug events are printed as lines above it."""

    def __init__(self, stream: TextIO, total_steps: int) -> None:
        self.stream = stream
        self.total_steps = max(1, total_steps)
        self.state = "QUEUED"
        self.step = 0
        self.losses = ""

    def update(self, event: job_pb2.JobEvent) -> None:
        kind = event.WhichOneof("payload")
        if kind == "state_change":
            self.state = state_name(event.state_change.to_state)
        elif kind == "step_report" and event.step_report.steps:
            last = event.step_report.steps[-1]
            self.step = last.step
            self.losses = format_values(last.task_losses)
        elif kind in DEBUG_EVENT_LINES:
            self.state = {"paused": "PAUSED", "resumed": "RUNNING"}.get(kind, self.state)
            self.stream.write("\r\x1b[K" + DEBUG_EVENT_LINES[kind](getattr(event, kind)) + "\n")
        self._draw()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self) -> None:
        columns = shutil.get_terminal_size((100, 20)).columns
        width = 30
        filled = int(width * self.step / self.total_steps)
        bar = "#" * filled + "." * (width - filled)
        line = f"[{bar}] {self.step}/{self.total_steps} {self.state:<9} {self.losses}"
        self.stream.write("\r" + line[: columns - 1].ljust(columns - 1))
        self.stream.flush()
