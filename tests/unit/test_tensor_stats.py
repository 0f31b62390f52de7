"""Specification of tensor_stats: the numbers a snapshot reports instead of a tensor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workers.debug.tensor_stats import TensorStats, tensor_stats


def reference_stats(t: torch.Tensor) -> dict[str, float]:
    """An independent float64 numpy computation of the same definitions."""
    array = t.detach().to(torch.float64).numpy().ravel()
    finite = array[np.isfinite(array)]
    some = finite.size > 0
    return {
        "min": finite.min() if some else math.nan,
        "max": finite.max() if some else math.nan,
        "mean": finite.mean() if some else math.nan,
        "std": finite.std() if some else math.nan,
        "l2_norm": float(np.sqrt(np.sum(finite**2))),
        "nan_count": int(np.isnan(array).sum()),
        "inf_count": int(np.isinf(array).sum()),
        "zero_fraction": float((array == 0).mean()) if array.size else math.nan,
    }


def with_non_finite(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    t = torch.randn(shape, generator=generator) * 3
    t[torch.rand(shape, generator=generator) < 0.1] = 0.0
    t[torch.rand(shape, generator=generator) < 0.05] = math.nan
    t[torch.rand(shape, generator=generator) < 0.05] = math.inf
    t[torch.rand(shape, generator=generator) < 0.05] = -math.inf
    return t.to(dtype)


def assert_matches_reference(stats: TensorStats, t: torch.Tensor, rel: float = 1e-5) -> None:
    expected = reference_stats(t)
    for field, value in expected.items():
        assert getattr(stats, field) == pytest.approx(value, rel=rel, abs=1e-6, nan_ok=True), field
    assert stats.shape == tuple(t.shape) and stats.numel == t.numel()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize(("shape", "seed"), [((1000,), 0), ((7, 13, 5), 1), ((3, 1), 2)])
def test_float_stats_match_numpy_over_finite_elements(shape, seed, dtype):
    t = with_non_finite(shape, dtype, seed)
    assert_matches_reference(tensor_stats(t), t)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.int8, torch.bool])
def test_integer_and_bool_stats_match_numpy(dtype):
    t = torch.randint(0, 5, (50, 4), generator=torch.Generator().manual_seed(3)).to(dtype)
    stats = tensor_stats(t)
    assert_matches_reference(stats, t)
    assert (stats.nan_count, stats.inf_count) == (0, 0)


def test_stats_report_dtype_without_prefix_and_count_non_finite():
    t = torch.tensor([[1.0, math.nan], [math.inf, -math.inf]], dtype=torch.float16)
    stats = tensor_stats(t)
    assert (stats.dtype, stats.shape, stats.numel) == ("float16", (2, 2), 4)
    assert (stats.nan_count, stats.inf_count) == (1, 2)
    assert stats.min == stats.max == stats.mean == 1.0 and stats.std == 0.0


def test_zero_fraction_counts_zeros_among_all_elements():
    t = torch.tensor([0.0, 0.0, 1.0, math.nan, -0.0, 2.0, 0.0, 5.0])
    assert tensor_stats(t).zero_fraction == 4 / 8


def test_empty_tensor_has_undefined_stats_and_zero_counts():
    stats = tensor_stats(torch.zeros(0, 3))
    assert (stats.shape, stats.numel, stats.nan_count, stats.inf_count) == ((0, 3), 0, 0, 0)
    assert all(math.isnan(v) for v in (stats.min, stats.max, stats.mean, stats.std))
    assert stats.l2_norm == 0.0 and math.isnan(stats.zero_fraction)


def test_tensor_without_finite_elements_reports_nan_not_infinity():
    stats = tensor_stats(torch.tensor([math.nan, math.inf]))
    assert all(math.isnan(v) for v in (stats.min, stats.max, stats.mean, stats.std))
    assert (stats.l2_norm, stats.nan_count, stats.inf_count) == (0.0, 1, 1)


def test_scalar_tensor_and_requires_grad_tensor_work():
    stats = tensor_stats(torch.tensor(-2.5, requires_grad=True))
    assert (stats.shape, stats.min, stats.max, stats.std, stats.l2_norm) == (
        (),
        -2.5,
        -2.5,
        0.0,
        2.5,
    )


def test_half_precision_squares_do_not_overflow():
    t = torch.full((100,), 60000.0, dtype=torch.float16)
    assert tensor_stats(t).l2_norm == pytest.approx(600000.0, rel=1e-3)


def test_complex_tensors_are_refused():
    with pytest.raises(ValueError, match="real dense"):
        tensor_stats(torch.zeros(2, dtype=torch.complex64))


@pytest.mark.parametrize(("non_finite", "reads"), [(False, 1), (True, 2)])
def test_stats_read_back_from_the_device_once_or_twice_with_non_finite_values(
    monkeypatch, non_finite, reads
):
    t = with_non_finite((64, 64), torch.float32, 4)
    if not non_finite:
        t = t.nan_to_num(0.0, 9.0, -9.0)
    calls = []
    original = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist", lambda self: calls.append(1) or original(self))
    for forbidden in ("item", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, forbidden, lambda *a: pytest.fail("host sync"))
    tensor_stats(t)
    assert len(calls) == reads


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.int64])
def test_finite_tensors_match_numpy_too(dtype):
    t = with_non_finite((300, 7), torch.float32, 6).nan_to_num(0.0, 50.0, -50.0).to(dtype)
    t[0, 0] = -0.0
    assert_matches_reference(tensor_stats(t), t)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.int64])
def test_cuda_stats_equal_cpu_stats(dtype):
    t = with_non_finite((257, 31), torch.float32, 5).nan_to_num(0.0, 9.0, -9.0).to(dtype)
    on_gpu, on_cpu = tensor_stats(t.cuda()), tensor_stats(t)
    for field in ("min", "max", "mean", "std", "l2_norm", "zero_fraction"):
        assert getattr(on_gpu, field) == pytest.approx(getattr(on_cpu, field), rel=1e-5), field
    assert (on_gpu.nan_count, on_gpu.inf_count, on_gpu.dtype) == (0, 0, on_cpu.dtype)


def test_a_large_offset_tensor_keeps_float32_accuracy():
    t = torch.randn(1 << 20, generator=torch.Generator().manual_seed(7)) * 3 + 1000
    assert_matches_reference(tensor_stats(t), t, rel=1e-6)
