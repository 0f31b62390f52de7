"""How mtlctl shows jobs and events to a person: tables, details, progress."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import TextIO

from mtl.v1 import job_pb2


def state_name(state: int) -> str:
    return job_pb2.JobState.Name(state).removeprefix("JOB_STATE_")


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
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def job_details(job: job_pb2.Job) -> str:
    """A job as `key: value` lines, the environment included."""
    lines = [
        f"id:          {job.id}",
        f"name:        {job.spec.name or '-'}",
        f"state:       {state_name(job.state)}" + (f" ({job.message})" if job.message else ""),
        f"step:        {job.step}/{job.spec.steps}",
        f"attempt:     {job.attempt}",
        f"worker:      {job.worker_id or '-'}",
        f"problem:     {job.spec.problem.name or job.spec.problem.entrypoint}",
        f"tasks:       {', '.join(job.spec.tasks)}",
        f"weighting:   {job.spec.weighting.strategy}",
        f"spec sha256: {job.spec_sha256}",
    ]
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
    return " ".join(f"{k}={v:.4g}" for k, v in sorted(dict(values).items()))  # type: ignore[call-overload]


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
    return None


class ProgressBar:
    """One self-rewriting line on a TTY: a bar, the step and per-task losses."""

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
