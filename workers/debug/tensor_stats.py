"""Summary statistics of one tensor, read back from the device in a single sync."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorStats:
    """What a snapshot reports about a tensor without shipping it.

    `min`, `max`, `mean`, `std` and `l2_norm` are taken over the finite
    elements only, so one NaN does not hide the scale of the rest; `std` is the
    population standard deviation (divisor n). With no finite element (or an
    empty tensor) those are NaN, except `l2_norm`, which is 0.0.
    `zero_fraction` is over all elements (NaN for an empty tensor).

    Attributes:
        dtype: torch dtype without the prefix, e.g. "float32".
        shape: the tensor's shape.
        numel: number of elements.
        nan_count, inf_count: non-finite elements (+inf and -inf both count).
    """

    dtype: str
    shape: tuple[int, ...]
    numel: int
    min: float
    max: float
    mean: float
    std: float
    l2_norm: float
    nan_count: int
    inf_count: int
    zero_fraction: float


def _accumulator(dtype: torch.dtype) -> torch.dtype:
    # Half types overflow when squared, so reduce in float32; integers and bool
    # go to float64, where they stay exact up to 2**53.
    if dtype == torch.float64:
        return torch.float64
    return torch.float32 if dtype.is_floating_point else torch.float64


def tensor_stats(t: Tensor) -> TensorStats:
    """Statistics of `t` (any real dtype, any device, any shape including empty).

    Every reduction stays on the device; the results are stacked into one
    float64 tensor and read with a single `.tolist()` (one host sync on GPU).
    Tensors that are all finite, the usual case, take about four passes over
    their elements; one with a NaN or an infinity (min/max propagate those)
    pays a second read for the masked reductions (about twenty passes).

    >>> tensor_stats(torch.tensor([1.0, float("nan"), 3.0])).mean
    2.0
    """
    if t.is_complex() or t.layout != torch.strided:
        raise ValueError(f"tensor_stats takes real dense tensors, not {t.dtype} {t.layout}")
    x = t.detach().to(_accumulator(t.dtype))
    if x.numel() == 0:
        nan = math.nan
        return _stats(t, [nan, nan, nan, nan, 0.0, 0.0, 0.0, 0.0])
    values = _finite_stats(x)
    if not (math.isfinite(values[0]) and math.isfinite(values[1])):
        values = _masked_stats(x)
    return _stats(t, values)


def _finite_stats(x: Tensor) -> list[float]:
    """The statistics of a tensor with only finite elements, in about four
    passes: min and max together, the mean, the variance, the non-zeros. The
    norm follows on the host from n (var + mean^2), more accurately than a
    float32 norm of a large tensor. A non-finite element shows in the min or
    the max."""
    minimum, maximum = torch.aminmax(x)
    reductions = [minimum, maximum, x.mean(), x.var(correction=0), torch.count_nonzero(x)]
    values = torch.stack([r.to(torch.float64) for r in reductions]).tolist()
    minimum_value, maximum_value, mean, variance, nonzero = values
    count = x.numel()
    l2_norm = math.sqrt(count * (variance + mean * mean))
    std = math.sqrt(variance)
    return [minimum_value, maximum_value, mean, std, l2_norm, 0.0, 0.0, count - nonzero]


def _masked_stats(x: Tensor) -> list[float]:
    """The statistics over the finite elements of a tensor that has others."""
    finite = torch.isfinite(x)
    num_finite = finite.sum()
    finite_values = torch.where(finite, x, 0)
    mean = finite_values.sum() / num_finite
    centered = torch.where(finite, x - mean, 0)
    no_finite = num_finite == 0
    reductions = [
        torch.where(no_finite, math.nan, torch.where(finite, x, math.inf).min()),
        torch.where(no_finite, math.nan, torch.where(finite, x, -math.inf).max()),
        mean,
        (centered.square().sum() / num_finite).sqrt(),
        torch.linalg.vector_norm(finite_values),
        torch.isnan(x).sum(),
        torch.isinf(x).sum(),
        (x == 0).sum(),
    ]
    return torch.stack([r.to(torch.float64) for r in reductions]).tolist()


def _stats(t: Tensor, values: list[float]) -> TensorStats:
    minimum, maximum, mean, std, l2_norm, nan_count, inf_count, zero_count = values
    return TensorStats(
        dtype=str(t.dtype).removeprefix("torch."),
        shape=tuple(t.shape),
        numel=t.numel(),
        min=minimum,
        max=maximum,
        mean=mean,
        std=std,
        l2_norm=l2_norm,
        nan_count=int(nan_count),
        inf_count=int(inf_count),
        zero_fraction=zero_count / t.numel() if t.numel() else math.nan,
    )
