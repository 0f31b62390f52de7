"""Property tests of the spec loader and validator: random YAML and random field values
never crash, hang or run code; every rejection is a clean InvalidArgument.

Bounded here (profile `ci`); `make fuzz` runs the long profile `fuzz`
(`MTL_HYPOTHESIS_PROFILE=fuzz`).
"""

from __future__ import annotations

import copy
import datetime
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtl_service.errors import InvalidArgument
from mtl_service.spec.jobspec import parse_spec_text, validate_spec, with_defaults
from tests.jobs import quick_job

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=datetime.timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=20_000,
    deadline=datetime.timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = settings.get_profile(os.environ.get("MTL_HYPOTHESIS_PROFILE", "ci"))

BASE = yaml.safe_load(quick_job())
FIELD_PATHS = [
    ("name",),
    ("problem",),
    ("problem", "name"),
    ("problem", "entrypoint"),
    ("problem", "params"),
    ("model", "architecture"),
    ("model", "params"),
    ("tasks",),
    ("loss_weights",),
    ("weighting",),
    ("weighting", "strategy"),
    ("optimizer", "name"),
    ("optimizer", "learning_rate"),
    ("steps",),
    ("batch_size",),
    ("seed",),
    ("report_interval",),
    ("checkpoint_interval",),
    ("device",),
    ("max_attempts",),
    ("breakpoints",),
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
# YAML that would build Python objects (and so run code) under an unsafe loader.
UNSAFE_DOCUMENTS = [
    '!!python/object/apply:os.system ["touch {marker}"]',
    'name: !!python/object/apply:os.system ["touch {marker}"]',
    "problem: {{entrypoint: !!python/name:os.system}}",
    'tasks: !!python/object/new:subprocess.Popen [["touch", "{marker}"]]',
]


def _load_and_validate(text: str) -> None:
    """The whole path a submitted spec text takes; only clean rejections may escape."""
    try:
        validate_spec(with_defaults(parse_spec_text(text)))
    except InvalidArgument as error:
        assert error.violations, error.message
        assert all(v.field and v.description for v in error.violations)


def _with_value(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(BASE)
    parent = document
    for key in path[:-1]:
        if not isinstance(parent.get(key), dict):
            parent[key] = {}
        parent = parent[key]
    parent[path[-1]] = value
    return document


@settings(PROFILE)
@given(st.text(max_size=2_000))
def test_random_text_is_parsed_or_cleanly_rejected(text: str) -> None:
    _load_and_validate(text)


@settings(PROFILE)
@given(st.dictionaries(st.text(max_size=20), values, max_size=8))
def test_random_yaml_documents_are_cleanly_rejected_or_accepted(document: dict) -> None:
    _load_and_validate(yaml.safe_dump(document))


@settings(PROFILE)
@given(st.sampled_from(FIELD_PATHS), values)
def test_random_field_values_are_cleanly_rejected_or_accepted(
    path: tuple[str, ...], value: Any
) -> None:
    _load_and_validate(yaml.safe_dump(_with_value(path, value)))


@settings(PROFILE)
@given(st.sampled_from(FIELD_PATHS), values)
def test_random_field_values_in_json_are_cleanly_rejected_or_accepted(
    path: tuple[str, ...], value: Any
) -> None:
    try:
        # ensure_ascii=False: surrogate escapes have their own test below.
        text = json.dumps(_with_value(path, value), allow_nan=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return  # not expressible in JSON
    _load_and_validate(text)


def test_python_tags_are_rejected_without_running_anything(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for template in UNSAFE_DOCUMENTS:
        _load_and_validate(template.format(marker=marker))
    assert not marker.exists()


def test_json_surrogate_escapes_are_cleanly_rejected() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_spec_text('{"problem": "\\ud800\\udc00"}')
    assert caught.value.violations[0].field == "spec_text"
