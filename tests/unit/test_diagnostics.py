"""Task-gradient diagnostics: norms, total norm and cosines from one Gramian."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from workers.mtl.diagnostics import gradient_diagnostics, task_gradients_from_losses
from workers.mtl.weighting import GradientSource

pytestmark = pytest.mark.usefixtures("single_thread")


def test_diagnostics_match_norms_and_cosines_computed_directly() -> None:
    gradients = torch.tensor([[3.0, 4.0, 0.0], [0.0, 1.0, 0.0], [-3.0, -4.0, 0.0]])
    diagnostics = gradient_diagnostics(gradients)
    torch.testing.assert_close(diagnostics.norms, gradients.norm(dim=1))
    torch.testing.assert_close(diagnostics.total_norm, gradients.sum(dim=0).norm())
    expected = torch.nn.functional.cosine_similarity(
        gradients[:, None, :], gradients[None, :, :], dim=-1
    )
    torch.testing.assert_close(diagnostics.cosines, expected)
    assert float(diagnostics.cosines[0, 2]) == pytest.approx(-1.0)


def test_total_norm_is_that_of_the_weighted_combination() -> None:
    gradients = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    diagnostics = gradient_diagnostics(gradients, weights=torch.tensor([3.0, 0.5]))
    assert float(diagnostics.total_norm) == pytest.approx((9.0 + 1.0) ** 0.5)


def test_a_zero_gradient_has_cosine_zero_not_nan() -> None:
    diagnostics = gradient_diagnostics(torch.tensor([[1.0, 2.0], [0.0, 0.0]]))
    torch.testing.assert_close(diagnostics.cosines[0, 1], torch.tensor(0.0))
    assert torch.isfinite(diagnostics.cosines).all()


def test_diagnostics_stay_tensors_on_the_gradients_device() -> None:
    diagnostics = gradient_diagnostics(torch.randn(3, 5))
    for value in (diagnostics.norms, diagnostics.total_norm, diagnostics.cosines):
        assert isinstance(value, torch.Tensor) and value.device.type == "cpu"


@pytest.mark.parametrize("source", list(GradientSource))
def test_gradients_from_losses_equal_the_strategys_and_leave_grad_and_graph_alone(
    make_run: Callable[..., Any], source: GradientSource
) -> None:
    run = make_run("mgda", source)
    run.train(1)
    run.optimizer.zero_grad()
    run.step += 1
    representation, losses = run.forward(run.batch(run.step))
    matrix = task_gradients_from_losses(
        losses,
        run.problem.task_names,
        model=run.model,
        representation=representation,
        source=source,
    )
    assert all(p.grad is None for p in run.model.parameters())
    run.step -= 1
    run.backward()  # the same batch again, through the strategy
    torch.testing.assert_close(matrix, run.results[-1].task_gradients)
    sum(losses.values()).backward()  # the graph survived
