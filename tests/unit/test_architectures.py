"""Specifications of the multi-task architectures over every problem they fit."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest
import torch
from torch import Tensor, nn

from bench.mmoe_vs_hps import validation_loss
from mtl_service.spec.catalog import PROBLEMS as PROBLEM_CATALOG
from workers.mtl.architectures import ARCHITECTURES, ModelParts, build_model, mlp_parts
from workers.mtl.data import Batch
from workers.mtl.model import MultiTaskModel
from workers.mtl.problem import Problem
from workers.mtl.problems import build_problem
from workers.mtl.problems.standard_tasks import classification_task, regression_task

# Small enough that every problem x architecture trains in well under a second.
SMALL_PARAMS: dict[str, dict[str, float]] = {
    "tabular_regcls": {"num_samples": 256, "num_val_samples": 64},
    "toy_conflict": {},
    "gradnorm_regression": {"num_tasks": 3, "num_samples": 256, "num_val_samples": 64},
    "mmoe_synthetic": {"num_samples": 256, "num_val_samples": 64},
    "digits_pair": {"num_samples": 256, "num_val_samples": 64},
    "nyuv2_synthetic": {"height": 16, "width": 24, "num_samples": 32, "num_val_samples": 8},
}
SMALL_MODEL_PARAMS: dict[str, dict[str, float]] = {"nyuv2_synthetic": {"channels": 4}}
BATCH_SIZE = 8


@pytest.fixture(scope="module")
def problems() -> dict[str, Problem]:
    return {name: build_problem(name, params, seed=0) for name, params in SMALL_PARAMS.items()}


def fitting_pairs() -> list[tuple[str, str]]:
    """(problem, architecture) for every architecture the catalog says fits the problem."""
    return [
        (problem, architecture)
        for problem, info in PROBLEM_CATALOG.items()
        for architecture in ARCHITECTURES
        if info.architectures is None or architecture in info.architectures
    ]


def build(problem: Problem, architecture: str, **params: float) -> MultiTaskModel:
    torch.manual_seed(0)
    model_params = {**SMALL_MODEL_PARAMS.get(problem.name, {}), **params}
    return problem.build_model(architecture, model_params, problem.tasks)


def first_batch(problem: Problem) -> Batch:
    return problem.train_data.batch(torch.arange(BATCH_SIZE))


def task_losses(problem: Problem, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
    predictions = model(batch.inputs)
    return {
        task.name: task.loss(predictions[task.name], batch.targets[task.name])
        for task in problem.tasks
    }


def test_the_catalog_lets_every_problem_but_the_toy_use_every_architecture() -> None:
    assert len(fitting_pairs()) == (len(PROBLEM_CATALOG) - 1) * len(ARCHITECTURES) + 1


@pytest.mark.parametrize(("problem_name", "architecture"), fitting_pairs())
def test_forward_gives_one_prediction_per_task_of_the_task_output_size(
    problems: dict[str, Problem], problem_name: str, architecture: str
) -> None:
    problem = problems[problem_name]
    batch = first_batch(problem)
    predictions = build(problem, architecture)(batch.inputs)
    assert list(predictions) == problem.task_names
    for task in problem.tasks:
        prediction = predictions[task.name]
        assert prediction.shape[:2] == (BATCH_SIZE, task.output_size)
        # Dense predictions cover the input's positions.
        assert prediction.shape[2:] == batch.inputs.shape[2:] or prediction.dim() == 2


@pytest.mark.parametrize(("problem_name", "architecture"), fitting_pairs())
def test_a_few_adam_steps_with_equal_weights_keep_losses_finite_and_reduce_them(
    problems: dict[str, Problem], problem_name: str, architecture: str
) -> None:
    problem = problems[problem_name]
    model = build(problem, architecture)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=1e-2 if problem_name == "toy_conflict" else 3e-3
    )
    batch = first_batch(problem)
    totals = []
    for _ in range(12):
        losses = task_losses(problem, model, batch)
        assert all(math.isfinite(loss.item()) for loss in losses.values()), losses
        total = sum(losses.values())
        totals.append(total.item())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    assert totals[-1] < totals[0]


@pytest.mark.parametrize(("problem_name", "architecture"), fitting_pairs())
def test_shared_and_task_parameters_partition_the_model(
    problems: dict[str, Problem], problem_name: str, architecture: str
) -> None:
    model = build(problems[problem_name], architecture)
    owners = [id(p) for p in model.shared_parameters()]
    for task in model.task_names:
        owners += [id(p) for p in model.task_parameters(task)]
    assert sorted(owners) == sorted(id(p) for p in model.parameters())


@pytest.mark.parametrize(("problem_name", "architecture"), fitting_pairs())
def test_a_task_loss_never_reaches_another_task_parameters(
    problems: dict[str, Problem], problem_name: str, architecture: str
) -> None:
    problem = problems[problem_name]
    model = build(problem, architecture)
    losses = task_losses(problem, model, first_batch(problem))
    for task, loss in losses.items():
        others = [
            p for other in model.task_names if other != task for p in model.task_parameters(other)
        ]
        if others:
            gradients = torch.autograd.grad(loss, others, retain_graph=True, allow_unused=True)
            assert all(g is None or not g.any() for g in gradients), f"{task} reaches another task"
        own = model.shared_parameters() + model.task_parameters(task)
        assert any(
            g is not None
            for g in torch.autograd.grad(loss, own, retain_graph=True, allow_unused=True)
        )


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_only_hps_heads_read_a_single_representation(
    problems: dict[str, Problem], architecture: str
) -> None:
    problem = problems["digits_pair"]
    model = build(problem, architecture)
    representation = model.encode(first_batch(problem).inputs)
    assert model.has_single_representation == (architecture == "hps")
    if model.has_single_representation:
        assert isinstance(representation, Tensor)
    else:
        assert isinstance(representation, dict) and list(representation) == problem.task_names


@pytest.mark.parametrize(
    ("params", "expected_weights_per_gate"),
    [
        ({"num_levels": 1}, 2),
        ({"num_levels": 2, "num_shared_experts": 2, "num_task_experts": 3}, 5),
    ],
)
def test_ple_gates_mix_a_task_experts_with_the_shared_ones(
    problems: dict[str, Problem], params: Mapping[str, float], expected_weights_per_gate: int
) -> None:
    model = build(problems["tabular_regcls"], "ple", **params)
    for level in model.levels:
        for gate in level.task_gates.values():
            assert gate.linear.out_features == expected_weights_per_gate


def single_block_parts() -> ModelParts:
    """Parts of a problem whose encoder cannot be split into layers."""
    layered = mlp_parts(input_size=4, hidden_sizes=(8, 8))
    return ModelParts(
        make_encoder=layered.make_encoder, feature_size=8, make_head=layered.make_head, input_size=4
    )


def test_cgc_and_mmoe_work_on_an_encoder_that_is_one_block() -> None:
    tasks = [regression_task("a"), classification_task("b", 3)]
    for architecture, params in [("ple", {"num_levels": 1}), ("mmoe", {}), ("hps", {})]:
        model = build_model(architecture, single_block_parts(), tasks, params)
        assert model(torch.randn(5, 4))["b"].shape == (5, 3)


@pytest.mark.parametrize(
    ("architecture", "params", "message"),
    [
        ("cross_stitch", {}, "make_encoder_layers"),
        ("ple", {"num_levels": 2}, "num_levels"),
    ],
)
def test_layer_wise_architectures_explain_what_a_single_block_encoder_lacks(
    architecture: str, params: Mapping[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_model(architecture, single_block_parts(), [regression_task("a")], params)


@pytest.mark.parametrize(
    ("architecture", "params", "name"),
    [
        ("mmoe", {"num_experts": 0}, "num_experts"),
        ("mmoe", {"num_experts": 2.5}, "num_experts"),
        ("ple", {"num_levels": 5}, "num_levels"),
        ("ple", {"num_task_experts": 0}, "num_task_experts"),
    ],
)
def test_a_bad_architecture_option_is_named_in_the_error(
    problems: dict[str, Problem], architecture: str, params: Mapping[str, float], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        build(problems["tabular_regcls"], architecture, **params)


def test_an_unknown_architecture_lists_the_known_ones(problems: dict[str, Problem]) -> None:
    with pytest.raises(ValueError, match="cross_stitch"):
        build(problems["tabular_regcls"], "transformer")


def test_cross_stitch_units_start_close_to_separate_columns(problems: dict[str, Problem]) -> None:
    model = build(problems["digits_pair"], "cross_stitch")
    assert len(model.units) == 3
    for unit in model.units:
        assert torch.allclose(unit.sum(dim=1), torch.ones(3))
        assert torch.all(unit.diagonal() == 0.9)


def test_mmoe_beats_a_shared_bottom_of_expert_size_at_low_task_correlation() -> None:
    """A small version of bench/mmoe_vs_hps.py: at correlation 0, after 300 steps,
    MMoE with 4 experts of 16 units has a lower validation loss than a shared
    bottom of 16 units. When written it held for each of seeds 0 to 5; the
    bench also compares a bottom with MMoE's parameter count (a tie there)."""
    params = {"correlation": 0.0, "num_samples": 4096, "num_val_samples": 1024}
    for seed in (0, 1, 2):
        problem = build_problem("mmoe_synthetic", params, seed)
        hps = validation_loss(problem, "hps", {"hidden_size": 16}, steps=300, seed=seed)
        mmoe = validation_loss(
            problem, "mmoe", {"hidden_size": 16, "num_experts": 4}, steps=300, seed=seed
        )
        assert mmoe < hps, f"seed {seed}: mmoe {mmoe:.3f} vs hps {hps:.3f}"
