"""Specifications of loading user problems from `problem.entrypoint`, and of the worked example."""

from __future__ import annotations

import math
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from google.protobuf import json_format

from mtl.v1 import spec_pb2
from mtl_service.spec.catalog import problems as problem_catalog
from workers.mtl.problems import entrypoint as worker_entrypoint
from workers.mtl.problems import load_entrypoint

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "user_problem"

# A user package with one entrypoint per way of getting it wrong (and one right).
USER_MODULE = """
    import torch
    from torch import nn

    from workers.mtl.architectures import build_model, mlp_parts
    from workers.mtl.data import InMemoryDataset
    from workers.mtl.problem import Problem, Task

    not_a_function = 42
    received = []


    def problem(build_model):
        task = Task(name="y", loss=nn.functional.mse_loss, output_size=1)
        data = InMemoryDataset(torch.zeros(4, 1), {"y": torch.zeros(4)})
        return Problem(name="user", tasks=(task,), train_data=data, val_data=None,
                       build_model=build_model)


    def returns_a_dict(params, seed):
        return {"tasks": ["y"]}


    def builds_a_plain_module(params, seed):
        return problem(lambda architecture, params, tasks: nn.Linear(1, 1))


    def builds_for_other_tasks(params, seed):
        other = Task(name="other", loss=nn.functional.mse_loss, output_size=1)
        parts = mlp_parts(input_size=1, hidden_sizes=(2,))
        return problem(lambda architecture, params, tasks: build_model("hps", parts, [other], {}))


    def good(params, seed):
        received.append((dict(params), seed))
        return problem(lambda architecture, params, tasks: None)
"""


@pytest.fixture
def user_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of a fresh importable package holding USER_MODULE as `problems`."""
    package = f"user_pkg_{tmp_path.name}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "problems.py").write_text(textwrap.dedent(USER_MODULE))
    (tmp_path / package / "broken.py").write_text("import a_dependency_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return package


@pytest.mark.parametrize(
    "entrypoint",
    ["", "pkg.module", "pkg:build:again", "1pkg:build", "pkg.mod:build()", "os:system; ls", "pkg:"],
)
def test_a_malformed_entrypoint_is_refused_before_anything_is_imported(entrypoint: str) -> None:
    with pytest.raises(ValueError, match="must look like 'package.module:function'"):
        load_entrypoint(entrypoint, {}, 0)
    assert problem_catalog.entrypoint_violation(entrypoint) is not None


def test_the_service_and_the_worker_accept_the_same_entrypoints() -> None:
    assert (
        problem_catalog.ENTRYPOINT_PATTERN.pattern == worker_entrypoint.ENTRYPOINT_PATTERN.pattern
    )
    assert problem_catalog.entrypoint_violation("my_pkg.sub_module:build_problem") is None


def test_an_unimportable_module_is_named_with_its_import_error() -> None:
    with pytest.raises(ValueError, match=r"module 'no_such_pkg\.problems'.*ModuleNotFoundError"):
        load_entrypoint("no_such_pkg.problems:build", {}, 0)


def test_a_module_whose_own_imports_fail_names_the_missing_dependency(user_package: str) -> None:
    with pytest.raises(ValueError, match="a_dependency_that_is_not_installed"):
        load_entrypoint(f"{user_package}.broken:build", {}, 0)


def test_a_missing_function_is_named_with_its_module(user_package: str) -> None:
    with pytest.raises(
        ValueError, match=rf"module '{user_package}\.problems' has no attribute 'build'"
    ):
        load_entrypoint(f"{user_package}.problems:build", {}, 0)


def test_an_attribute_that_is_not_callable_is_refused(user_package: str) -> None:
    with pytest.raises(ValueError, match="'not_a_function' is a int, not a function"):
        load_entrypoint(f"{user_package}.problems:not_a_function", {}, 0)


def test_a_function_that_returns_no_problem_is_refused(user_package: str) -> None:
    with pytest.raises(
        ValueError, match="returned a dict; it must return a workers.mtl.problem.Problem"
    ):
        load_entrypoint(f"{user_package}.problems:returns_a_dict", {}, 0)


def test_a_problem_whose_model_is_not_a_multitask_model_is_refused(user_package: str) -> None:
    problem = load_entrypoint(f"{user_package}.problems:builds_a_plain_module", {}, 0)
    with pytest.raises(ValueError, match="build_model returned a Linear; it must return a workers"):
        problem.build_model("hps", {}, problem.tasks)


def test_a_model_for_other_tasks_than_requested_is_refused(user_package: str) -> None:
    problem = load_entrypoint(f"{user_package}.problems:builds_for_other_tasks", {}, 0)
    with pytest.raises(
        ValueError, match=r"asked for tasks \['y'\] and returned a model for \['other'\]"
    ):
        problem.build_model("hps", {}, problem.tasks)


def test_the_entrypoint_is_called_with_the_spec_params_and_seed(user_package: str) -> None:
    problem = load_entrypoint(f"{user_package}.problems:good", {"size": 3.0}, 11)
    assert problem.task_names == ["y"]
    assert sys.modules[f"{user_package}.problems"].received == [({"size": 3.0}, 11)]


@pytest.fixture
def example_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE_DIR))


@pytest.mark.usefixtures("example_on_path")
def test_the_example_user_problem_builds_its_own_model_and_trains() -> None:
    problem = load_entrypoint("housing_mtl:build", {"num_samples": 512}, 0)
    torch.manual_seed(0)
    model = problem.build_model("hps", {"hidden_size": 16}, problem.tasks)
    assert type(model).__name__ == "HousingModel"
    owned = model.shared_parameters() + [
        p for t in problem.task_names for p in model.task_parameters(t)
    ]
    assert sorted(map(id, owned)) == sorted(map(id, model.parameters()))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = problem.train_data.batch(torch.arange(64))
    totals = []
    for _ in range(20):
        predictions = model(batch.inputs)
        total = sum(
            task.loss(predictions[task.name], batch.targets[task.name]) for task in problem.tasks
        )
        totals.append(total.item())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    assert all(map(math.isfinite, totals))
    assert totals[-1] < totals[0]


@pytest.mark.usefixtures("example_on_path")
def test_the_example_model_can_train_a_subset_of_the_tasks() -> None:
    problem = load_entrypoint("housing_mtl:build", {"num_samples": 128}, 0)
    model = problem.build_model("hps", {}, [problem.task("log_price")])
    assert list(model(problem.train_data.batch(torch.arange(4)).inputs)) == ["log_price"]


@pytest.mark.usefixtures("example_on_path")
def test_the_example_job_spec_is_a_job_spec_for_the_example_problem() -> None:
    spec = json_format.ParseDict(
        yaml.safe_load((EXAMPLE_DIR / "job.yaml").read_text()), spec_pb2.JobSpec()
    )
    assert spec.problem.entrypoint == "housing_mtl:build"
    assert problem_catalog.entrypoint_violation(spec.problem.entrypoint) is None
    problem = load_entrypoint(spec.problem.entrypoint, dict(spec.problem.params), spec.seed)
    assert list(spec.tasks) == problem.task_names
