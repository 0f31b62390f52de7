"""Multi-task datasets and a data order that can be resumed from a step number."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch of inputs and one target tensor per task."""

    inputs: Tensor
    targets: dict[str, Tensor]

    def to(self, device: torch.device) -> Batch:
        return Batch(
            inputs=self.inputs.to(device, non_blocking=True),
            targets={name: t.to(device, non_blocking=True) for name, t in self.targets.items()},
        )

    @property
    def num_samples(self) -> int:
        return int(self.inputs.shape[0])


class MultiTaskDataset(Protocol):
    """Indexable samples; `batch` gathers many at once."""

    def __len__(self) -> int: ...

    def batch(self, indices: Tensor) -> Batch: ...


class InMemoryDataset:
    """A dataset held as whole tensors: inputs [N, ...] and targets per task [N, ...]."""

    def __init__(self, inputs: Tensor, targets: dict[str, Tensor]) -> None:
        for name, target in targets.items():
            if target.shape[0] != inputs.shape[0]:
                raise ValueError(
                    f"target {name!r} has {target.shape[0]} samples, inputs have {inputs.shape[0]}"
                )
        self.inputs = inputs
        self.targets = targets

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def batch(self, indices: Tensor) -> Batch:
        return Batch(
            inputs=self.inputs[indices],
            targets={name: target[indices] for name, target in self.targets.items()},
        )


class DataOrder:
    """Which sample indices step `s` trains on, computed from the step alone.

    Every epoch is a fresh permutation drawn from `seed` and the epoch number,
    and the last incomplete batch of an epoch is dropped, so the batch of any
    step can be recomputed after a resume without saving sampler state.
    """

    def __init__(self, *, num_samples: int, batch_size: int, seed: int) -> None:
        if batch_size > num_samples:
            raise ValueError(
                f"batch_size {batch_size} is larger than the training set ({num_samples} samples)"
            )
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.batches_per_epoch = num_samples // batch_size
        self._epoch = -1
        self._permutation = torch.empty(0, dtype=torch.long)

    def epoch_of(self, step: int) -> int:
        """Epoch (from 0) that step `step` (from 1) falls in."""
        return (step - 1) // self.batches_per_epoch

    def indices(self, step: int) -> Tensor:
        """Sample indices of step `step` (from 1)."""
        epoch = self.epoch_of(step)
        if epoch != self._epoch:
            generator = torch.Generator()
            generator.manual_seed(self.seed * 1_000_003 + epoch)
            self._permutation = torch.randperm(self.num_samples, generator=generator)
            self._epoch = epoch
        start = ((step - 1) % self.batches_per_epoch) * self.batch_size
        return self._permutation[start : start + self.batch_size]
