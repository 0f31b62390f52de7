"""Specifications of the reference problems and of the torch-free catalog that mirrors them."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mtl_service.spec.catalog import ARCHITECTURES as ARCHITECTURE_CATALOG
from mtl_service.spec.catalog import PROBLEMS as PROBLEM_CATALOG
from workers.mtl.architectures import ARCHITECTURES
from workers.mtl.data import MultiTaskDataset
from workers.mtl.problems import PROBLEMS, build_problem
from workers.mtl.problems.gradnorm_regression import output_scales
from workers.mtl.problems.nyuv2_synthetic import (
    mean_angle_error,
    mean_iou,
    relative_depth_error,
)
from workers.mtl.problems.synthetic_scenes import NUM_CLASSES
from workers.mtl.problems.toy_conflict import objectives

SMALL = {"num_samples": 64, "num_val_samples": 16}
SMALL_SCENES = {"height": 16, "width": 24, "num_samples": 8, "num_val_samples": 4}


def small_params(name: str) -> dict[str, float]:
    return SMALL_SCENES if name == "nyuv2_synthetic" else SMALL if name != "toy_conflict" else {}


def test_the_catalog_lists_exactly_the_worker_problems_and_their_default_tasks() -> None:
    assert sorted(PROBLEM_CATALOG) == sorted(PROBLEMS)
    for name, info in PROBLEM_CATALOG.items():
        assert info.tasks == tuple(build_problem(name, small_params(name), 0).task_names), name


def test_the_catalog_lists_exactly_the_worker_architectures_and_their_sharing() -> None:
    assert sorted(ARCHITECTURE_CATALOG) == sorted(ARCHITECTURES)
    problem = build_problem("tabular_regcls", SMALL, 0)
    for name, info in ARCHITECTURE_CATALOG.items():
        model = problem.build_model(name, {}, problem.tasks)
        assert info.single_representation == model.has_single_representation, name


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_architectures_outside_a_problem_catalog_entry_are_refused_by_name(name: str) -> None:
    allowed = PROBLEM_CATALOG[name].architectures
    problem = build_problem(name, small_params(name), 0)
    for architecture in sorted(set(ARCHITECTURES) - (allowed or set(ARCHITECTURES))):
        with pytest.raises(ValueError, match=name):
            problem.build_model(architecture, {}, problem.tasks)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_a_problem_data_depends_only_on_the_seed(name: str) -> None:
    indices = torch.tensor([3, 0, 2])
    first, again = (
        build_problem(name, small_params(name), 5).train_data.batch(indices) for _ in "ab"
    )
    assert torch.equal(first.inputs, again.inputs)
    assert all(torch.equal(first.targets[task], again.targets[task]) for task in first.targets)


@pytest.mark.parametrize("name", sorted(set(PROBLEMS) - {"toy_conflict"}))
def test_another_seed_gives_other_data(name: str) -> None:
    indices = torch.arange(4)
    first, other = (
        build_problem(name, small_params(name), seed).train_data.batch(indices) for seed in (0, 1)
    )
    assert not torch.equal(first.inputs, other.inputs)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_every_task_has_a_loss_and_finite_validation_metrics(name: str) -> None:
    problem = build_problem(name, small_params(name), 0)
    assert problem.val_data is not None
    batch = problem.val_data.batch(torch.arange(4))
    model = problem.build_model("hps", {}, problem.tasks)
    with torch.no_grad():
        predictions = model(batch.inputs)
        for task in problem.tasks:
            prediction, target = predictions[task.name], batch.targets[task.name]
            assert task.metrics, f"{name}.{task.name} has no metric"
            assert math.isfinite(float(task.loss(prediction, target)))
            for metric in task.metrics.values():
                assert math.isfinite(metric.fn(prediction, target))


def test_toy_conflict_optimises_the_point_itself_through_identity_heads() -> None:
    problem = build_problem("toy_conflict", {"start_x": 9.0, "start_y": -1.0}, 0)
    model = problem.build_model("hps", {}, problem.tasks)
    (point,) = model.shared_parameters()
    assert point.tolist() == [9.0, -1.0]
    assert all(model.task_parameters(task) == [] for task in problem.task_names)
    predictions = model(torch.zeros(3, 1))
    f1, f2 = objectives(point)
    assert torch.allclose(problem.task("f1").loss(predictions["f1"], torch.zeros(3)), f1)
    assert torch.allclose(problem.task("f2").loss(predictions["f2"], torch.zeros(3)), f2)


@pytest.mark.parametrize("start", [(-7.5, -0.5), (9.0, -1.0)])
def test_toy_conflict_gradients_point_against_each_other_at_the_paper_starts(
    start: tuple[float, float],
) -> None:
    point = torch.tensor(start, requires_grad=True)
    f1, f2 = objectives(point)
    (g1,) = torch.autograd.grad(f1, point, retain_graph=True)
    (g2,) = torch.autograd.grad(f2, point)
    assert F.cosine_similarity(g1, g2, dim=0) < 0


def test_gradnorm_regression_scales_tasks_from_one_to_a_hundred() -> None:
    assert output_scales(2) == [1.0, 100.0]
    problem = build_problem("gradnorm_regression", {"num_tasks": 4, **SMALL}, 0)
    assert problem.task_names == ["task_0", "task_1", "task_2", "task_3"]
    targets = problem.train_data.batch(torch.arange(64)).targets
    for task, scale in zip(problem.task_names, output_scales(4), strict=True):
        assert targets[task].shape == (64, 100)
        assert targets[task].abs().max() <= scale * (1 + 1e-6)
        assert targets[task].abs().max() > 0.5 * scale


def test_mmoe_synthetic_label_correlation_falls_with_the_correlation_param() -> None:
    measured = []
    for correlation in (1.0, 0.5, 0.0, -0.5, -1.0):
        params = {"correlation": correlation, "num_samples": 4096}
        targets = build_problem("mmoe_synthetic", params, 0).train_data.targets
        measured.append(float(torch.corrcoef(torch.stack([targets["y1"], targets["y2"]]))[0, 1]))
    assert measured == sorted(measured, reverse=True)
    assert measured[0] > 0.99 and abs(measured[2]) < 0.1


def test_digits_pair_puts_two_digits_side_by_side_with_their_sum() -> None:
    problem = build_problem("digits_pair", SMALL, 0)
    batch = problem.train_data.batch(torch.arange(64))
    assert batch.inputs.shape == (64, 1, 8, 16)
    assert batch.inputs.min() >= 0.0 and batch.inputs.max() <= 1.0
    assert torch.equal(batch.targets["sum"], batch.targets["left"] + batch.targets["right"])
    assert [task.output_size for task in problem.tasks] == [10, 10, 19]


def test_digits_pair_validates_on_digit_images_it_never_trains_on() -> None:
    problem = build_problem("digits_pair", {"num_samples": 4096, "num_val_samples": 1024}, 0)
    assert problem.val_data is not None

    def halves(data: MultiTaskDataset) -> set[bytes]:
        inputs = data.batch(torch.arange(len(data))).inputs
        return {half.numpy().tobytes() for half in torch.cat(inputs.split(8, dim=-1))}

    assert not halves(problem.train_data) & halves(problem.val_data)


def test_nyuv2_synthetic_has_nyuv2_shapes_by_default() -> None:
    problem = build_problem("nyuv2_synthetic", {}, 0)
    assert (len(problem.train_data), len(problem.val_data or [])) == (795, 654)
    batch = problem.train_data.batch(torch.tensor([7]))
    assert batch.inputs.shape == (1, 3, 288, 384)
    assert batch.targets["segmentation"].shape == (1, 288, 384)
    assert batch.targets["depth"].shape == (1, 288, 384)
    assert batch.targets["normal"].shape == (1, 3, 288, 384)


def test_nyuv2_synthetic_scenes_are_rendered_per_index_with_valid_labels() -> None:
    data = build_problem("nyuv2_synthetic", {"height": 32, "width": 48}, 0).train_data
    batch = data.batch(torch.tensor([4, 1]))
    alone = data.batch(torch.tensor([1]))
    assert torch.equal(batch.inputs[1], alone.inputs[0])
    segmentation = batch.targets["segmentation"]
    assert (
        segmentation.dtype == torch.long
        and segmentation.min() >= 0
        and segmentation.max() < NUM_CLASSES
    )
    assert batch.targets["depth"].min() >= 1.0
    assert torch.allclose(batch.targets["normal"].norm(dim=1), torch.ones(2, 32, 48))


def test_dense_metrics_are_perfect_for_perfect_predictions() -> None:
    data = build_problem("nyuv2_synthetic", SMALL_SCENES, 0).train_data
    targets = data.batch(torch.arange(2)).targets
    logits = F.one_hot(targets["segmentation"], NUM_CLASSES).permute(0, 3, 1, 2).float()
    assert mean_iou(logits, targets["segmentation"]) == pytest.approx(1.0)
    assert relative_depth_error(targets["depth"].unsqueeze(1), targets["depth"]) == 0.0
    assert mean_angle_error(targets["normal"], targets["normal"]) == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("mmoe_synthetic", {"correlation": 1.5}, "correlation"),
        ("gradnorm_regression", {"num_tasks": 11}, "num_tasks"),
        ("nyuv2_synthetic", {"height": 100}, "multiples of 8"),
        ("tabular_regcls", {"num_samples": 0}, "num_samples"),
        ("toy_conflict", {"start_x": math.nan}, "start_x"),
    ],
)
def test_a_bad_problem_param_is_named_in_the_error(
    name: str, params: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_problem(name, params, 0)


def test_an_unknown_problem_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="digits_pair"):
        build_problem("imagenet", {}, 0)
