"""How gradient-based strategies combine task gradients, checked on explicit gradient matrices."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import Tensor

from workers.mtl.weighting import STRATEGIES, GradientWeighting
from workers.mtl.weighting.cagrad import conflict_averse_weights
from workers.mtl.weighting.pcgrad import projected_gradient_coefficients
from workers.mtl.weighting.qp import host_gramian, solve_qp

pytestmark = pytest.mark.usefixtures("single_thread")


def strategy(name: str, num_tasks: int, **params: float) -> GradientWeighting:
    built = STRATEGIES[name](task_names=[f"task{t}" for t in range(num_tasks)], params=params)
    assert isinstance(built, GradientWeighting)
    return built


def conflicting_gradients(num_tasks: int, seed: int, dimension: int = 6) -> Tensor:
    """Random float64 gradients of very different norms, the second opposing the first."""
    generator = torch.Generator().manual_seed(seed)
    gradients = torch.randn(num_tasks, dimension, generator=generator, dtype=torch.float64)
    gradients[0] *= 4.0
    gradients[1] = -0.6 * gradients[0] + 0.5 * gradients[1]
    return gradients


def combined(name: str, gradients: Tensor, **params: float) -> Tensor:
    weights = strategy(name, len(gradients), **params).combine(
        gradients @ gradients.T, torch.ones(len(gradients), dtype=gradients.dtype)
    )
    return weights @ gradients


def simplex_grid(num_tasks: int, resolution: int) -> Tensor:
    """Every point of the simplex with coordinates in multiples of 1/resolution."""
    points = [
        (*head, resolution - sum(head))
        for head in itertools.product(range(resolution + 1), repeat=num_tasks - 1)
        if sum(head) <= resolution
    ]
    return torch.tensor(points, dtype=torch.float64) / resolution


@pytest.mark.parametrize("seed", range(5))
def test_pcgrad_projected_gradient_no_longer_conflicts_with_the_task_it_was_projected_against(
    seed: int,
) -> None:
    gradients = conflicting_gradients(3, seed)
    gramian = gradients @ gradients.T
    orders = [[1, 2, 0], [2, 0, 1], [0, 1, 2]]
    projected = projected_gradient_coefficients(gramian, orders) @ gradients
    for task, order in enumerate(orders):
        last_other = [other for other in order if other != task][-1]
        assert projected[task] @ gradients[last_other] >= -1e-9
    two = gradients[:2]
    projected_two = projected_gradient_coefficients(two @ two.T, [[1], [0]]) @ two
    assert projected_two[0] @ two[1] == pytest.approx(0.0, abs=1e-9)
    assert projected_two[1] @ two[0] == pytest.approx(0.0, abs=1e-9)


def test_pcgrad_leaves_non_conflicting_gradients_as_their_sum() -> None:
    gradients = torch.tensor(
        [[1.0, 0.2, 0.0], [0.5, 1.0, 0.1], [0.0, 0.3, 2.0]], dtype=torch.float64
    )
    torch.testing.assert_close(combined("pcgrad", gradients), gradients.sum(dim=0))


@pytest.mark.parametrize("num_tasks", [2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_mgda_equals_the_min_norm_point_of_the_convex_hull_found_by_brute_force(
    num_tasks: int, seed: int
) -> None:
    gradients = conflicting_gradients(num_tasks, seed)
    grid = simplex_grid(num_tasks, 400 if num_tasks == 2 else 150)
    grid_points = grid @ gradients
    best = grid_points[grid_points.norm(dim=1).argmin()]
    ours = combined("mgda", gradients)
    assert ours.norm() <= best.norm() + 1e-9
    assert (ours - best).norm() <= 0.02 * gradients.norm(dim=1).max()


def test_cagrad_with_c_zero_equals_the_mean_gradient() -> None:
    gradients = conflicting_gradients(3, seed=0)
    torch.testing.assert_close(combined("cagrad", gradients, c=0.0), gradients.mean(dim=0))


@pytest.mark.parametrize("seed", range(3))
def test_cagrad_dual_weights_minimise_the_dual_objective_over_the_simplex(seed: int) -> None:
    gradients = conflicting_gradients(3, seed)
    gramian = host_gramian(gradients @ gradients.T)
    mean = torch.full((3,), 1 / 3, dtype=torch.float64)
    radius = 0.5 * float(mean @ gramian @ mean) ** 0.5

    def objective(weights: Tensor) -> Tensor:
        quadratic = torch.einsum("...i,ij,...j->...", weights, gramian, weights)
        return weights @ (gramian @ mean) + radius * quadratic.clamp_min(0).sqrt()

    grid_best = objective(simplex_grid(3, 150)).min()
    assert objective(conflict_averse_weights(gramian, radius)) <= grid_best + 1e-9


@pytest.mark.parametrize("num_tasks", [2, 3, 4])
def test_imtl_g_combined_gradient_has_equal_projections_on_every_unit_gradient(
    num_tasks: int,
) -> None:
    gradients = conflicting_gradients(num_tasks, seed=num_tasks)
    units = gradients / gradients.norm(dim=1, keepdim=True)
    projections = units @ combined("imtl_g", gradients)
    torch.testing.assert_close(projections, projections[0].expand(num_tasks))


@pytest.mark.parametrize("num_tasks", [2, 3, 5])
def test_upgrad_update_conflicts_with_no_task(num_tasks: int) -> None:
    gradients = conflicting_gradients(num_tasks, seed=num_tasks)
    assert (gradients @ combined("upgrad", gradients) >= -1e-9).all()


def test_upgrad_without_conflict_is_the_mean_gradient() -> None:
    gradients = torch.tensor(
        [[1.0, 0.2, 0.0], [0.5, 1.0, 0.1], [0.0, 0.3, 2.0]], dtype=torch.float64
    )
    torch.testing.assert_close(combined("upgrad", gradients), gradients.mean(dim=0))


def test_aligned_mtl_rescales_orthogonal_gradients_to_the_smallest_norm() -> None:
    gradients = torch.diag(torch.tensor([3.0, 1.0, 0.5], dtype=torch.float64))
    torch.testing.assert_close(combined("aligned_mtl", gradients), torch.full((3,), 0.5).double())


@pytest.mark.parametrize("num_tasks", [2, 3, 4])
def test_nash_mtl_weights_solve_the_bargaining_equation(num_tasks: int) -> None:
    gradients = conflicting_gradients(num_tasks, seed=num_tasks, dimension=8)
    gramian = gradients @ gradients.T
    nash = strategy("nash_mtl", num_tasks, max_norm=0.0)
    weights = nash.combine(gramian, torch.ones(num_tasks, dtype=torch.float64))
    normalised = gramian / torch.linalg.norm(gramian)
    products = weights * (normalised @ weights)
    torch.testing.assert_close(products, torch.ones_like(products), rtol=1e-6, atol=1e-6)


def test_nash_mtl_limits_the_combined_gradient_to_max_norm() -> None:
    gradients = 100.0 * conflicting_gradients(3, seed=0)
    assert combined("nash_mtl", gradients, max_norm=1.0).norm() == pytest.approx(1.0)


@pytest.mark.parametrize("simplex", [True, False])
@pytest.mark.parametrize("seed", range(20))
def test_active_set_qp_meets_the_optimality_conditions(simplex: bool, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    num_variables = 2 + seed % 5
    factor = torch.randn(num_variables, 3, generator=generator, dtype=torch.float64)
    q = host_gramian(factor @ factor.T)
    c = torch.randn(num_variables, generator=generator, dtype=torch.float64)
    if not simplex:
        # In q's range, as UPGrad's linear terms are: the problem is bounded.
        c = q @ c
    x = solve_qp(q, c, simplex=simplex)
    gradient = q @ x + c
    shift = float(gradient @ x) if simplex else 0.0
    # Rank-3 factors make q as ill-conditioned as the ridge allows (about 1e9).
    assert (x >= 0).all()
    assert (gradient - shift >= -1e-6).all()
    assert ((gradient - shift) * x).abs().max() <= 1e-6
    if simplex:
        assert float(x.sum()) == pytest.approx(1.0)
