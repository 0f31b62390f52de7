"""The service's torch-free strategy table agrees with the workers and checks specs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mtl_service.spec.catalog.strategies import (
    PARAM_RANGES,
    STRATEGIES,
    check_strategy,
    default_gradient_source,
)
from workers.mtl.weighting import STRATEGIES as WORKER_STRATEGIES


def test_catalog_lists_every_worker_strategy_with_its_kind_sources_and_params() -> None:
    assert set(STRATEGIES) == set(WORKER_STRATEGIES)
    for name, info in STRATEGIES.items():
        worker = WORKER_STRATEGIES[name]
        assert info.kind == worker.kind, name
        assert info.sources == {str(source) for source in worker.supported_sources}, name
        assert info.params == set(worker.defaults), name


def test_every_param_has_a_range() -> None:
    named = {param for info in STRATEGIES.values() for param in info.params}
    assert named == set(PARAM_RANGES)


def test_catalog_imports_without_torch() -> None:
    code = "import sys, mtl_service.spec.catalog.strategies; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_valid_choices_have_no_violations() -> None:
    assert check_strategy("cagrad", "shared_parameters", {"c": 0.5}, False) == []
    assert check_strategy("nash_mtl", "", {"update_weights_every": 4.0}, True) == []
    assert check_strategy("dwa", "", {"temperature": 1.0, "window": 10.0}, True) == []


def test_representation_source_on_several_representations_says_to_use_shared_parameters() -> None:
    [(field, message)] = check_strategy("mgda", "representation", {}, False)
    assert field == "weighting.gradient_source"
    assert "shared_parameters" in message


def test_default_source_follows_the_architecture() -> None:
    assert default_gradient_source("mgda", single_representation=True) == "representation"
    assert default_gradient_source("mgda", single_representation=False) == "shared_parameters"
    assert default_gradient_source("famo", single_representation=True) == ""


@pytest.mark.parametrize(
    ("strategy", "source", "params", "field", "hint"),
    [
        ("adamw", "", {}, "weighting.strategy", "upgrad"),
        ("dwa", "representation", {}, "weighting.gradient_source", "leave it empty"),
        ("mgda", "trunk", {}, "weighting.gradient_source", "shared_parameters"),
        ("mgda", "", {"alpha": 1.5}, "weighting.params.alpha", "its params: none"),
        ("gradnorm", "", {"lr": 0.0}, "weighting.params.lr", "must be > 0"),
        ("cagrad", "", {"c": -1.0}, "weighting.params.c", "must be >= 0"),
        ("pcgrad", "", {"seed": 1.5}, "weighting.params.seed", "whole number"),
        ("famo", "", {"gamma": float("nan")}, "weighting.params.gamma", "finite"),
    ],
)
def test_violations_name_the_field_and_what_to_do(
    strategy: str, source: str, params: dict[str, float], field: str, hint: str
) -> None:
    [(violation_field, message)] = check_strategy(strategy, source, params, True)
    assert violation_field == field
    assert hint in message
