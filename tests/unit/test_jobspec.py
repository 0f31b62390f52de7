"""Job spec parsing, defaults, validation and hashing."""

from __future__ import annotations

import pytest

from mtl.v1 import spec_pb2
from mtl_service.errors import InvalidArgument
from mtl_service.spec.jobspec import parse_spec_text, spec_sha256, validate_spec, with_defaults

MINIMAL = "problem: {name: tabular_regcls}\ntasks: [value]\nsteps: 5\n"


def _fields(text: str) -> list[str]:
    with pytest.raises(InvalidArgument) as caught:
        validate_spec(with_defaults(parse_spec_text(text)))
    return [v.field for v in caught.value.violations]


def test_defaults_fill_every_unset_field() -> None:
    spec = with_defaults(parse_spec_text(MINIMAL))
    assert spec.model.architecture == "hps"
    assert spec.weighting.strategy == "static"
    assert spec.optimizer.name == "adam" and spec.optimizer.learning_rate == pytest.approx(1e-3)
    assert (spec.batch_size, spec.report_interval, spec.checkpoint_interval) == (64, 10, 100)
    assert spec.device == "auto"
    assert (spec.distributed.world_size, spec.distributed.backend) == (1, "auto")
    validate_spec(spec)


def test_sgd_gets_its_own_default_learning_rate() -> None:
    spec = with_defaults(parse_spec_text(MINIMAL + "optimizer: {name: sgd}\n"))
    assert spec.optimizer.learning_rate == pytest.approx(1e-2)


def test_json_specs_are_accepted() -> None:
    text = '{"problem": {"name": "tabular_regcls"}, "tasks": ["value"], "steps": 5}'
    assert parse_spec_text(text) == parse_spec_text(MINIMAL)


def test_every_violation_is_reported_at_once() -> None:
    text = (
        "problem: {name: tabular_regcls}\ntasks: [value, value, nope]\n"
        "loss_weights: {category: 1}\nsteps: 0\nbatch_size: -1\ndevice: tpu\n"
    )
    assert _fields(text) == [
        "tasks[1]", "tasks[2]", "loss_weights.category", "steps", "batch_size", "device",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("distributed: {world_size: 65}", "must be in [1, 64]"),
        ("distributed: {world_size: -2}", "must be in [1, 64]"),
        ("distributed: {world_size: 3}", "must divide batch_size 64"),
        ("distributed: {backend: mpi}", "must be one of"),
        ("distributed: {backend: nccl}\ndevice: cpu", "nccl needs CUDA"),
    ],
)
def test_distributed_section_is_checked(section: str, problem: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_spec(with_defaults(parse_spec_text(MINIMAL + section + "\n")))
    [violation] = caught.value.violations
    assert violation.field.startswith("distributed.")
    assert problem in violation.description


def test_a_world_size_dividing_the_batch_is_valid() -> None:
    validate_spec(with_defaults(parse_spec_text(MINIMAL + "distributed: {world_size: 4}\n")))


def test_problem_needs_exactly_one_of_name_and_entrypoint() -> None:
    assert "problem" in _fields("tasks: [a]\nsteps: 1\n")
    both = "problem: {name: tabular_regcls, entrypoint: 'a.b:c'}\ntasks: [value]\nsteps: 1\n"
    assert "problem" in _fields(both)


def test_entrypoint_must_name_a_module_and_function() -> None:
    bad = "problem: {entrypoint: 'os.system(\"x\")'}\ntasks: [a]\nsteps: 1\n"
    assert _fields(bad) == ["problem.entrypoint"]
    good = "problem: {entrypoint: 'my_pkg.problems:build'}\ntasks: [a]\nsteps: 1\n"
    validate_spec(with_defaults(parse_spec_text(good)))


def test_unknown_problem_params_name_the_options() -> None:
    fields = _fields(MINIMAL + "problem: {name: tabular_regcls, params: {size: 3}}\n")
    assert fields == ["problem.params.size"]


def test_hash_is_stable_and_follows_content() -> None:
    first = with_defaults(parse_spec_text(MINIMAL))
    again = with_defaults(
        parse_spec_text("steps: 5\ntasks: [value]\nproblem: {name: tabular_regcls}")
    )
    other = with_defaults(parse_spec_text(MINIMAL.replace("steps: 5", "steps: 6")))
    assert spec_sha256(first) == spec_sha256(again) != spec_sha256(other)


def test_oversized_spec_text_is_rejected() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_spec_text("name: x\n" + "#" * 300_000)
    assert caught.value.violations[0].field == "spec_text"


def test_spec_message_round_trips_through_defaults_unchanged() -> None:
    spec = with_defaults(parse_spec_text(MINIMAL))
    assert with_defaults(spec) == spec
    assert isinstance(spec, spec_pb2.JobSpec)


def test_max_attempts_defaults_to_three() -> None:
    assert with_defaults(parse_spec_text(MINIMAL)).max_attempts == 3
    assert with_defaults(parse_spec_text(MINIMAL + "max_attempts: 5\n")).max_attempts == 5


@pytest.mark.parametrize(
    ("architecture", "source"), [("hps", "representation"), ("mmoe", "shared_parameters")]
)
def test_a_gradient_strategy_gets_the_source_its_architecture_allows(
    architecture: str, source: str
) -> None:
    text = MINIMAL + f"model: {{architecture: {architecture}}}\nweighting: {{strategy: mgda}}\n"
    spec = with_defaults(parse_spec_text(text))
    assert spec.weighting.gradient_source == source
    validate_spec(spec)


def test_a_user_problem_leaves_the_source_to_its_model_on_the_worker() -> None:
    text = "problem: {entrypoint: 'pkg.mod:build'}\ntasks: [a, b]\nsteps: 1\n"
    spec = with_defaults(parse_spec_text(text + "weighting: {strategy: mgda}\n"))
    assert spec.weighting.gradient_source == ""
    validate_spec(spec)


def test_a_user_problem_takes_any_model_params_and_baseline_metric_names() -> None:
    text = (
        "problem: {entrypoint: 'pkg.mod:build'}\ntasks: [a, b]\nsteps: 1\n"
        "model: {params: {depth: 3}}\neval_interval: 5\n"
        "single_task_baselines: {a.f1: 0.8}\n"
        "breakpoints: [{condition: 'metric.b.auc < 0.5'}]\n"
    )
    validate_spec(with_defaults(parse_spec_text(text)))


def test_validation_baselines_and_metric_conditions_on_a_built_in_problem_pass() -> None:
    text = MINIMAL.replace("[value]", "[value, category]") + (
        "eval_interval: 10\nstats_interval: 5\n"
        "single_task_baselines: {value.mse: 60.5, category.accuracy: 0.7}\n"
        "breakpoints: [{condition: 'metric.category.accuracy > 0.9', every_n_steps: 10}]\n"
    )
    validate_spec(with_defaults(parse_spec_text(text)))


GRADNORM = "problem: {name: gradnorm_regression, params: {num_tasks: 3}}\nsteps: 1\n"
TOY = "problem: {name: toy_conflict}\ntasks: [f1, f2]\nsteps: 1\n"


@pytest.mark.parametrize(
    ("text", "field", "hint"),
    [
        (MINIMAL + "model: {params: {num_experts: 4}}\n", "model.params.num_experts",
         "hidden_size"),
        (MINIMAL + "model: {architecture: mmoe, params: {channels: 4}}\n", "model.params.channels",
         "num_experts"),
        (TOY + "model: {architecture: mmoe}\n", "model.architecture", "hps"),
        (GRADNORM + "tasks: [task_0, task_5]\n", "tasks[1]", "task_2"),
        (GRADNORM.replace("3}", "11}") + "tasks: [task_0]\n", "problem.params.num_tasks",
         "from 2 to 10"),
        (MINIMAL + "weighting: {strategy: upgrad, params: {c: 1}}\n", "weighting.params.c",
         "its params: none"),
        (MINIMAL + "model: {architecture: ple}\nweighting: {strategy: cagrad, "
         "gradient_source: representation}\n", "weighting.gradient_source", "shared_parameters"),
        (MINIMAL + "weighting: {strategy: static, gradient_source: representation}\n",
         "weighting.gradient_source", "leave it empty"),
        (MINIMAL + "stats_interval: -1\n", "stats_interval", ">= 0"),
        (MINIMAL + "eval_interval: -5\n", "eval_interval", ">= 0"),
        (MINIMAL + "max_attempts: -1\n", "max_attempts", ">= 0"),
        (MINIMAL + "eval_interval: 5\nsingle_task_baselines: {value.accuracy: 1}\n",
         "single_task_baselines.value.accuracy", "mse"),
        (MINIMAL + "eval_interval: 5\nsingle_task_baselines: {category.accuracy: 1}\n",
         "single_task_baselines.category.accuracy", "task of the job"),
        (MINIMAL + "eval_interval: 5\nsingle_task_baselines: {value: 1}\n",
         "single_task_baselines.value", "<task>.<metric>"),
        (MINIMAL + "eval_interval: 5\nsingle_task_baselines: {value.mse: 0}\n",
         "single_task_baselines.value.mse", "non-zero"),
        (MINIMAL + "eval_interval: 5\nsingle_task_baselines: {value.mse: .nan}\n",
         "single_task_baselines.value.mse", "finite"),
        (MINIMAL + "single_task_baselines: {value.mse: 50}\n", "single_task_baselines",
         "eval_interval"),
        (MINIMAL + "breakpoints: [{condition: 'metric.value.mse < 1'}]\n",
         "breakpoints[0].condition", "eval_interval"),
        (MINIMAL + "eval_interval: 5\nbreakpoints: [{condition: 'metric.value.mae < 1'}]\n",
         "breakpoints[0].condition", "mse"),
    ],
)  # fmt: skip
def test_a_bad_field_is_named_with_what_to_do(text: str, field: str, hint: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_spec(with_defaults(parse_spec_text(text)))
    violations = {v.field: v.description for v in caught.value.violations}
    assert list(violations) == [field], violations
    assert hint in violations[field]
