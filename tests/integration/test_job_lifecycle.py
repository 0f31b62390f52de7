"""Submit, watch, list and cancel jobs against a real service and worker."""

from __future__ import annotations

import statistics

from mtl.v1 import job_pb2
from mtl_service.client import MtlClient
from mtl_service.launcher import ServiceProcess
from tests.jobs import quick_job


def _states(events: list[job_pb2.JobEvent]) -> list[int]:
    return [e.state_change.to_state for e in events if e.HasField("state_change")]


def _steps(events: list[job_pb2.JobEvent]) -> list[job_pb2.StepMetrics]:
    return [s for e in events if e.HasField("step_report") for s in e.step_report.steps]


def test_submitted_job_succeeds_with_every_state_change_in_order(client: MtlClient) -> None:
    job = client.submit_text(quick_job(steps=200, report_interval=20))
    events = list(client.watch(job.id))
    assert _states(events) == [
        job_pb2.JOB_STATE_QUEUED,
        job_pb2.JOB_STATE_STARTING,
        job_pb2.JOB_STATE_RUNNING,
        job_pb2.JOB_STATE_SUCCEEDED,
    ]
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    finished = client.get(job.id)
    assert finished.state == job_pb2.JOB_STATE_SUCCEEDED
    assert finished.step == 200
    assert finished.environment.torch_version and finished.environment.python_version
    assert finished.environment.worker_id == finished.worker_id
    assert len(finished.spec_sha256) == 64


def test_every_task_loss_goes_down(client: MtlClient) -> None:
    job = client.submit_text(quick_job(steps=300, report_interval=1, seed=3))
    steps = _steps(list(client.watch(job.id)))
    assert [s.step for s in steps] == list(range(1, 301))
    for task in ("value", "category"):
        first = statistics.mean(s.task_losses[task] for s in steps[:20])
        last = statistics.mean(s.task_losses[task] for s in steps[-20:])
        assert last < 0.7 * first, (task, first, last)


def test_a_finished_jobs_long_history_replays_whole_and_in_order(client: MtlClient) -> None:
    job = client.submit_text(quick_job(steps=100, report_interval=1))
    live = list(client.watch(job.id))
    replayed = list(client.watch(job.id))  # the job ended: all from the store, in pages
    assert len(replayed) > 100
    assert [e.sequence for e in replayed] == list(range(1, len(replayed) + 1))
    assert replayed == live


def test_step_reports_arrive_in_batches(client: MtlClient) -> None:
    job = client.submit_text(quick_job(steps=40, report_interval=10))
    reports = [e.step_report for e in client.watch(job.id) if e.HasField("step_report")]
    assert [len(r.steps) for r in reports] == [10, 10, 10, 10]


def test_same_spec_trains_to_identical_losses(client: MtlClient) -> None:
    runs = []
    for _ in range(2):
        job = client.submit_text(quick_job(steps=30, report_interval=30, seed=11))
        runs.append([dict(s.task_losses) for s in _steps(list(client.watch(job.id)))])
    assert runs[0] == runs[1]
    assert client.get(job.id).spec_sha256 == client.list_page(page_size=2).jobs[1].spec_sha256


def test_cancel_stops_a_running_job_within_a_few_steps(
    client: MtlClient, service: ServiceProcess
) -> None:
    job = client.submit_text(quick_job(steps=1_000_000, checkpoint_interval=-1))
    for event in client.watch(job.id):
        if event.HasField("step_report") and event.step_report.steps[-1].step >= 20:
            cancelled = client.cancel(job.id, "enough")
            break
    assert cancelled.state == job_pb2.JOB_STATE_CANCELLED
    assert client.get(job.id).message == "enough"
    # The worker lets go of the job and takes the next one.
    follow_up = client.submit_text(quick_job(steps=10))
    assert _states(list(client.watch(follow_up.id)))[-1] == job_pb2.JOB_STATE_SUCCEEDED
    worker_lines = [line for line in service.json_lines() if line.get("job_id") == job.id]
    requested = [line for line in worker_lines if line["event"] == "job_stop_requested"]
    left = [line for line in worker_lines if line["event"] == "job_left"]
    assert len(requested) == 1 and len(left) == 1
    assert left[0]["state"] == "JOB_STATE_CANCELLED"
    assert left[0]["final_step"] - requested[0]["step"] <= 2


def test_list_pages_return_every_job_exactly_once(idle_service: ServiceProcess) -> None:
    with MtlClient(idle_service.target) as client:
        submitted = [client.submit_text(quick_job(seed=i)).id for i in range(11)]
        seen, token, pages = [], "", 0
        while True:
            page = client.list_page(page_size=3, page_token=token)
            seen += [job.id for job in page.jobs]
            pages += 1
            token = page.next_page_token
            if not token:
                break
        assert pages == 4
        assert seen == list(reversed(submitted))
        client.cancel(submitted[0])
        cancelled = list(client.list_all(states=[job_pb2.JOB_STATE_CANCELLED]))
        queued = list(client.list_all(states=[job_pb2.JOB_STATE_QUEUED], page_size=4))
        assert [job.id for job in cancelled] == [submitted[0]]
        assert len(queued) == 10
