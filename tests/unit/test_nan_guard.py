"""The NaN guard and the total gradient norm it shares with breakpoint conditions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from tests.unit.conftest import RegclsRun
from workers.debug.gradient_norm import GradientNorm
from workers.debug.nan_guard import NonFinite, check_step, guarded_names

pytestmark = pytest.mark.usefixtures("single_thread")


def _check(run: RegclsRun, losses: dict[str, torch.Tensor]) -> NonFinite | None:
    """The guard on the values the debug engine reads for it."""
    values = {f"loss.{task}": float(loss) for task, loss in losses.items()}
    values["grad_norm.total"] = float(GradientNorm(run.model).total())
    assert set(values) == set(guarded_names(list(losses)))
    return check_step(run.model, list(losses), values)


def _stepped(make_run: Callable[..., RegclsRun]) -> tuple[RegclsRun, dict[str, torch.Tensor]]:
    run = make_run("static")
    return run, run.backward()


def test_the_total_gradient_norm_is_that_of_all_gradients_flattened(
    make_run: Callable[..., RegclsRun],
) -> None:
    run, _ = _stepped(make_run)
    grads = [p.grad.reshape(-1) for p in run.model.parameters() if p.grad is not None]
    expected = torch.linalg.vector_norm(torch.cat(grads))
    torch.testing.assert_close(GradientNorm(run.model).total(), expected)


def test_a_large_model_takes_the_per_tensor_norms_with_the_same_result(
    make_run: Callable[..., RegclsRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _ = _stepped(make_run)
    flat = GradientNorm(run.model).total()
    monkeypatch.setattr("workers.debug.gradient_norm.FLATTEN_MAX_ELEMENTS", 0)
    torch.testing.assert_close(GradientNorm(run.model).total(), flat)


def test_a_finite_step_passes_the_guard(make_run: Callable[..., RegclsRun]) -> None:
    run, losses = _stepped(make_run)
    assert _check(run, losses) is None


def test_a_non_finite_loss_is_named_before_any_gradient(
    make_run: Callable[..., RegclsRun],
) -> None:
    run, losses = _stepped(make_run)
    for parameter in run.model.parameters():
        parameter.grad.fill_(float("nan"))  # type: ignore[union-attr]
    losses["category"] = torch.tensor(float("inf"))
    found = _check(run, losses)
    assert found is not None
    assert (found.task, found.tensor) == ("category", "loss:category")


def test_a_non_finite_head_gradient_names_its_task_and_tensor(
    make_run: Callable[..., RegclsRun],
) -> None:
    run, losses = _stepped(make_run)
    head = run.model.task_parameters("value")[0]
    head.grad[0] = float("nan")  # type: ignore[index]
    names = {id(p): name for name, p in run.model.named_parameters()}
    found = _check(run, losses)
    assert found is not None
    assert (found.task, found.tensor) == ("value", f"grad:{names[id(head)]}")


def test_an_overflowing_total_norm_of_finite_gradients_pauses_without_a_tensor(
    make_run: Callable[..., RegclsRun],
) -> None:
    run, losses = _stepped(make_run)
    head = run.model.task_parameters("value")[0]
    head.grad[0] = 3e38  # type: ignore[index]
    head.grad[-1] = 3e38  # type: ignore[index]
    found = _check(run, losses)
    assert found is not None
    assert (found.task, found.tensor) == ("", "grad:*")
