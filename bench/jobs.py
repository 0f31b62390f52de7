"""The job specs the benchmarks train, and their data held in memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import torch

from mtl.v1 import spec_pb2
from workers.mtl.data import InMemoryDataset
from workers.mtl.problem import Problem

# NYUv2 is 288x384; a quarter of each side keeps a dense step near 50 ms on one core.
DENSE_CPU_SIZE = (72, 96)
DENSE_CUDA_SIZE = (288, 384)
DENSE_TASKS = ("segmentation", "depth", "normal")


def job_spec(
    *,
    problem: str,
    tasks: Sequence[str],
    batch_size: int,
    architecture: str = "hps",
    problem_params: Mapping[str, float] | None = None,
    model_params: Mapping[str, float] | None = None,
    strategy: str = "static",
    steps: int = 1,
    report_interval: int = 10,
    stats_interval: int = 0,
) -> spec_pb2.JobSpec:
    """A job spec with the defaults the service fills in, checkpoints off
    (no baseline writes any) and seed 0."""
    spec = spec_pb2.JobSpec(
        name=f"bench-{problem}",
        tasks=list(tasks),
        steps=steps,
        batch_size=batch_size,
        seed=0,
        report_interval=report_interval,
        checkpoint_interval=-1,
        stats_interval=stats_interval,
        device="auto",
    )
    spec.problem.name = problem
    spec.problem.params.update(problem_params or {})
    spec.model.architecture = architecture
    spec.model.params.update(model_params or {})
    spec.weighting.strategy = strategy
    spec.optimizer.name = "adam"
    spec.optimizer.learning_rate = 1e-3
    return spec


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchProblem:
    """A problem the overhead benchmarks train: a label and its job spec."""

    label: str
    spec: spec_pb2.JobSpec


def tabular_mmoe() -> BenchProblem:
    """MMoE on the MMoE paper's synthetic pair, batch 128 as in bench/mmoe_vs_hps.py."""
    spec = job_spec(
        problem="mmoe_synthetic", tasks=["y1", "y2"], batch_size=128, architecture="mmoe"
    )
    return BenchProblem(label="tabular mmoe", spec=spec)


def dense(device: torch.device) -> BenchProblem:
    """The NYUv2-shaped problem with hard sharing, batch 8; 72x96 on CPU, 288x384 on CUDA."""
    height, width = DENSE_CUDA_SIZE if device.type == "cuda" else DENSE_CPU_SIZE
    params = {"height": height, "width": width, "num_samples": 64, "num_val_samples": 8}
    spec = job_spec(
        problem="nyuv2_synthetic",
        tasks=DENSE_TASKS,
        batch_size=8,
        problem_params=params,
    )
    return BenchProblem(label=f"dense {height}x{width}", spec=spec)


def in_memory(problem: Problem) -> Problem:
    """The problem with its training split rendered once into memory (the dense
    problem renders each scene per batch; this keeps rendering out of a timing)."""
    data = problem.train_data
    if isinstance(data, InMemoryDataset):
        return problem
    batch = data.batch(torch.arange(len(data)))
    return replace(problem, train_data=InMemoryDataset(batch.inputs, batch.targets))
