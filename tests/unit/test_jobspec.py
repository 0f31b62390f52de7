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
