"""The debug seconds each step report carries: the debug hooks' own work, not paused waits."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch

from mtl.v1 import debug_pb2, job_pb2, worker_pb2
from mtl_service.spec.jobspec import parse_spec_text, with_defaults
from tests.jobs import quick_job
from workers.checkpoint import CheckpointDirectory
from workers.control import JobControl
from workers.debug.engine import DebugEngine
from workers.debug_clock import DebugClock
from workers.job_build import build_components
from workers.reporting import StepReporter
from workers.task_statistics import TaskStatistics
from workers.trainer import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")

WAIT_SECONDS = 0.5


def _trainer(
    spec_text: str, scratch: Path, control: JobControl, sent: list[worker_pb2.WorkerMessage]
) -> Trainer:
    """The hooks a worker builds, sharing one clock, in process on the CPU."""
    spec = with_defaults(parse_spec_text(spec_text))
    clock = DebugClock()
    engine = DebugEngine(
        job_id="job-test",
        send=sent.append,
        control=control,
        task_names=list(spec.tasks),
        breakpoints=spec.breakpoints,
        clock=clock,
    )
    reporter = StepReporter(job_id="job-test", report_interval=1, send=sent.append, clock=clock)
    statistics = TaskStatistics(stats_interval=spec.stats_interval, clock=clock)
    return Trainer(
        spec=spec,
        components=build_components(spec, torch.device("cpu")),
        device=torch.device("cpu"),
        checkpoints=CheckpointDirectory(scratch),
        control=control,
        hooks=[statistics, engine, reporter],
    )


def _steps(sent: list[worker_pb2.WorkerMessage]) -> dict[int, job_pb2.StepMetrics]:
    return {s.step: s for m in sent if m.HasField("step_report") for s in m.step_report.steps}


def test_every_step_reports_the_time_of_its_debug_hooks(tmp_path: Path) -> None:
    sent: list[worker_pb2.WorkerMessage] = []
    job = quick_job(steps=6, checkpoint_interval=-1) + "stats_interval: 2\n"
    _trainer(job, tmp_path, JobControl(), sent).run()
    steps = _steps(sent)
    assert sorted(steps) == [1, 2, 3, 4, 5, 6]
    for metrics in steps.values():
        assert 0 < metrics.debug_seconds < metrics.duration_seconds


def test_a_paused_wait_is_not_debug_time(tmp_path: Path) -> None:
    control = JobControl()
    sent: list[worker_pb2.WorkerMessage] = []
    pause_at_step_2 = "{id: bp-1, condition: 'step == 2', action: BREAKPOINT_ACTION_PAUSE}"
    job = quick_job(steps=4, checkpoint_interval=-1) + f"breakpoints:\n  - {pause_at_step_2}\n"
    resume = worker_pb2.DebugCommand(
        correlation_id="resume-1", job_id="job-test", resume=debug_pb2.ResumeJobRequest()
    )

    def resume_later() -> None:
        while not any(
            m.HasField("job_event") and m.job_event.event.HasField("paused") for m in sent
        ):
            time.sleep(0.01)
        time.sleep(WAIT_SECONDS)
        control.submit(resume)

    resumer = threading.Thread(target=resume_later, daemon=True)
    resumer.start()
    outcome = _trainer(job, tmp_path, control, sent).run()
    resumer.join(timeout=10)
    assert outcome.state == job_pb2.JOB_STATE_SUCCEEDED
    paused_step = _steps(sent)[2]
    assert paused_step.duration_seconds >= WAIT_SECONDS
    assert paused_step.debug_seconds < WAIT_SECONDS / 2
