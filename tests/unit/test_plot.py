"""`mtlctl plot`: three panels (loss, weight, gradient cosine) from step reports, as a PNG."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from mtl.v1 import job_pb2
from mtl_service.cli.main import build_parser
from mtl_service.cli.plot_command import (
    NO_STATISTICS,
    PANEL_TITLES,
    build_figure,
    cmd_plot,
    step_history,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _steps(last: int, *, stats_interval: int = 5) -> list[job_pb2.StepMetrics]:
    """Step reports of a two-task job, with task statistics every `stats_interval` steps."""
    steps = []
    for step in range(1, last + 1):
        metrics = job_pb2.StepMetrics(
            step=step,
            task_losses={"value": 50.0 / step, "category": 1.2 / (1 + step / 50)},
            task_weights={"value": 0.05, "category": 1.0 if step < 30 else 0.5},
            duration_seconds=0.01,
            num_samples=32,
        )
        if stats_interval and step % stats_interval == 0:
            metrics.task_grad_norms.update({"value": 3.0, "category": 0.4})
            metrics.grad_cosines.add(task_a="value", task_b="category", cosine=math.cos(step / 20))
        steps.append(metrics)
    return steps


class FakeClient:
    """GetJob and WatchJob of one job; the watch stays live (raises) past its history."""

    def __init__(self, job: job_pb2.Job, steps: list[job_pb2.StepMetrics]) -> None:
        self.job = job
        self.steps = steps

    def get(self, job_id: str) -> job_pb2.Job:
        assert job_id == self.job.id
        return self.job

    def watch(self, job_id: str) -> Iterator[job_pb2.JobEvent]:
        for start in range(0, len(self.steps), 10):
            report = job_pb2.StepReport(steps=self.steps[start : start + 10])
            yield job_pb2.JobEvent(step_report=report)
        raise AssertionError("read past the history into the live stream")


def _job(step: int) -> job_pb2.Job:
    job = job_pb2.Job(id="job-1", step=step, state=job_pb2.JOB_STATE_PAUSED)
    job.spec.name = "quick"
    return job


def test_the_figure_has_a_loss_a_weight_and_a_cosine_panel_over_the_steps() -> None:
    figure = build_figure("job-1", _steps(60))
    loss, weight, cosine = figure.axes
    assert [axes.get_title() for axes in figure.axes] == list(PANEL_TITLES)
    assert {line.get_label() for line in loss.get_lines()} == {"value", "category"}
    assert loss.get_yscale() == "log"
    assert {line.get_label() for line in weight.get_lines()} == {"value", "category"}
    (cosine_line,) = [line for line in cosine.get_lines() if line.get_label() == "value · category"]
    assert list(cosine_line.get_xdata()) == list(range(5, 61, 5))
    assert cosine.get_xlabel() == "step"


def test_without_task_statistics_the_cosine_panel_says_how_to_get_them() -> None:
    figure = build_figure("job-1", _steps(20, stats_interval=0))
    cosine = figure.axes[2]
    assert [text.get_text() for text in cosine.texts] == [NO_STATISTICS]


def test_a_step_reported_twice_is_drawn_once_from_its_latest_report() -> None:
    first_attempt, resumed = _steps(30), _steps(30)
    resumed[-1].task_losses["value"] = 99.0
    figure = build_figure("job-1", first_attempt + resumed[20:])
    (value,) = [line for line in figure.axes[0].get_lines() if line.get_label() == "value"]
    assert list(value.get_xdata()) == list(range(1, 31))
    assert value.get_ydata()[-1] == 99.0


def test_a_live_job_is_read_up_to_the_step_it_showed_not_into_the_live_stream() -> None:
    client = FakeClient(_job(step=40), _steps(40))
    steps = step_history(client, client.job)  # type: ignore[arg-type]
    assert steps[-1].step == 40


def test_mtlctl_plot_writes_a_png_of_the_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "job-1.png"
    args = build_parser().parse_args(["plot", "job-1", "-o", str(output)])
    assert cmd_plot(FakeClient(_job(step=60), _steps(60)), args) == 0  # type: ignore[arg-type]
    data = output.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == (1200, 1200)
    assert "wrote" in capsys.readouterr().out


def test_a_job_without_steps_is_not_plotted(tmp_path: Path) -> None:
    output = tmp_path / "empty.png"
    args = build_parser().parse_args(["plot", "job-1", "-o", str(output)])
    assert cmd_plot(FakeClient(_job(step=0), []), args) != 0  # type: ignore[arg-type]
    assert not output.exists()


def test_the_output_must_be_a_png(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["plot", "job-1", "-o", str(tmp_path / "plot.jpg")])
