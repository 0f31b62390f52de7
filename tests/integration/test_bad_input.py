"""Bad requests get a precise status naming the field, and change nothing."""

from __future__ import annotations

import grpc
import pytest

from mtl.v1 import job_pb2, spec_pb2
from mtl_service.client import ClientError, MtlClient
from mtl_service.launcher import ServiceProcess
from tests.jobs import quick_job

GOOD = quick_job()

BAD_SPECS = {
    "unknown problem": (GOOD.replace("tabular_regcls", "imagenet"), "problem.name"),
    "empty task list": (GOOD.replace("tasks: [value, category]", "tasks: []"), "tasks"),
    "duplicate task": (GOOD.replace("[value, category]", "[value, value]"), "tasks[1]"),
    "unknown task": (GOOD.replace("[value, category]", "[value, depth]"), "tasks[1]"),
    "unknown task in weights": (
        GOOD.replace("{value: 0.05}", "{value: 0.05, depth: 1}"),
        "loss_weights.depth",
    ),
    "zero steps": (GOOD.replace("steps: 60", "steps: 0"), "steps"),
    "negative steps": (GOOD.replace("steps: 60", "steps: -5"), "steps"),
    "negative weight": (GOOD.replace("{value: 0.05}", "{value: -1}"), "loss_weights.value"),
    "infinite weight": (GOOD.replace("{value: 0.05}", "{value: .inf}"), "loss_weights.value"),
    "nan weight": (GOOD.replace("{value: 0.05}", "{value: .nan}"), "loss_weights.value"),
    "malformed yaml": ("tasks: [value, category\nsteps: 3", "spec_text"),
    "not a mapping": ("- value\n- category", "spec_text"),
    "unknown field": (GOOD + "\nlearning_rate: 3\n", "spec_text"),
    "wrong type": (GOOD.replace("steps: 60", "steps: many"), "spec_text"),
    "unknown optimizer": (GOOD.replace("name: adam", "name: lbfgs"), "optimizer.name"),
    "unknown architecture": (
        GOOD.replace("architecture: hps", "architecture: x"),
        "model.architecture",
    ),
    "malformed entrypoint": (
        GOOD.replace("name: tabular_regcls", "entrypoint: 'os.system(1)'"),
        "problem.entrypoint",
    ),
    "architecture outside the problem": (
        "problem: {name: toy_conflict}\ntasks: [f1, f2]\nsteps: 5\nmodel: {architecture: ple}",
        "model.architecture",
    ),
    "unknown model param": (
        GOOD.replace("hidden_size: 32", "hidden_size: 32, num_experts: 4"),
        "model.params.num_experts",
    ),
    "representation source on several representations": (
        GOOD.replace("architecture: hps", "architecture: mmoe")
        + "weighting: {strategy: mgda, gradient_source: representation}\n",
        "weighting.gradient_source",
    ),
    "negative eval interval": (GOOD + "eval_interval: -1\n", "eval_interval"),
    "negative max attempts": (GOOD + "max_attempts: -2\n", "max_attempts"),
    "baseline of a metric the task lacks": (
        GOOD + "eval_interval: 10\nsingle_task_baselines: {value.accuracy: 0.9}\n",
        "single_task_baselines.value.accuracy",
    ),
    "zero baseline": (
        GOOD + "eval_interval: 10\nsingle_task_baselines: {category.accuracy: 0}\n",
        "single_task_baselines.category.accuracy",
    ),
    "metric breakpoint without validation": (
        GOOD + "breakpoints: [{condition: 'metric.category.accuracy > 0.5'}]\n",
        "breakpoints[0].condition",
    ),
}


@pytest.fixture()
def idle_client(idle_service: ServiceProcess) -> MtlClient:
    return MtlClient(idle_service.target)


def _jobs(client: MtlClient) -> list[bytes]:
    return [job.SerializeToString() for job in client.list_all()]


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_is_invalid_argument_naming_the_field_and_stores_nothing(
    idle_client: MtlClient, case: str
) -> None:
    text, field = BAD_SPECS[case]
    existing = idle_client.submit_text(GOOD)
    before = _jobs(idle_client)
    with pytest.raises(ClientError) as caught:
        idle_client.submit_text(text)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in [f for f, _ in caught.value.violations], caught.value
    assert _jobs(idle_client) == before
    assert idle_client.get(existing.id).state == job_pb2.JOB_STATE_QUEUED


def test_spec_and_spec_text_together_are_rejected(idle_client: MtlClient) -> None:
    request = job_pb2.SubmitJobRequest(spec_text=GOOD, spec=spec_pb2.JobSpec(steps=1))
    with pytest.raises(grpc.RpcError) as caught:
        idle_client.jobs.SubmitJob(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_unknown_job_is_not_found(idle_client: MtlClient) -> None:
    for call in (idle_client.get, idle_client.cancel, lambda j: list(idle_client.watch(j))):
        with pytest.raises(ClientError) as caught:
            call("job-doesnotexist")
        assert caught.value.code == grpc.StatusCode.NOT_FOUND


def test_cancel_of_a_finished_job_is_failed_precondition(idle_client: MtlClient) -> None:
    job = idle_client.submit_text(GOOD)
    idle_client.cancel(job.id)
    before = _jobs(idle_client)
    with pytest.raises(ClientError) as caught:
        idle_client.cancel(job.id)
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert _jobs(idle_client) == before


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"page_token": "garbage"}, "page_token"),
        ({"page_size": -1}, "page_size"),
        ({"page_size": 10_000}, "page_size"),
        ({"states": [42]}, "states[0]"),
    ],
)
def test_bad_list_request_is_invalid_argument(
    idle_client: MtlClient, request_fields: dict, field: str
) -> None:
    with pytest.raises(ClientError) as caught:
        idle_client.list_page(**request_fields)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in caught.value.violations] == [field]
