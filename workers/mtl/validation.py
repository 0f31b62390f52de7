"""Validation: per-task metrics over a whole validation split, and the multi-task delta-m%.

delta-m% follows Maninis et al. (CVPR 2019) and Vandenhende et al. (TPAMI
2021): the mean over the given metrics k of

    s_k * (M_mtl,k - M_base,k) / M_base,k * 100,  s_k = +1 if higher is better, else -1,

so a positive value means the multi-task model beats the single-task
baselines on average, and a negative one that it loses to them. (Nash-MTL,
CAGrad and FAMO tables report the negation, where lower is better.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from workers.mtl.data import MultiTaskDataset
from workers.mtl.model import MultiTaskModel
from workers.mtl.problem import Task

DELTA_M_KEY = "delta_m_percent"
"""The key delta-m% has among a step report's validation metrics."""


def metric_key(task: str, metric: str) -> str:
    """ "<task>.<metric>": how metrics are keyed in reports, baselines and conditions."""
    return f"{task}.{metric}"


def check_baselines(tasks: Sequence[Task], baselines: Mapping[str, float]) -> None:
    """ValueError naming each baseline that is not a metric of the job's tasks
    (the service checks built-in problems at submit; this covers user problems)."""
    known = {metric_key(task.name, name) for task in tasks for name in task.metrics}
    unknown = sorted(set(baselines) - known)
    if unknown:
        raise ValueError(
            f"single_task_baselines {unknown} are not metrics of the job's tasks; "
            f"they have {sorted(known)}"
        )


def evaluate(
    model: MultiTaskModel,
    tasks: Sequence[Task],
    data: MultiTaskDataset,
    *,
    batch_size: int,
    device: torch.device,
) -> dict[str, float]:
    """Every metric of `tasks` over all of `data`, keyed "<task>.<metric>".

    Batches of `batch_size` in index order; a metric's value is the mean of
    its per-batch values weighted by batch size, which is exact for means
    over samples or pixels (MSE, accuracy, angle error) and a batch-weighted
    mean for the others (mIoU, medians). Runs in eval mode without autograd,
    and puts the model back in the mode it was in.
    """
    totals = {metric_key(t.name, name): 0.0 for t in tasks for name in t.metrics}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(data), batch_size):
                indices = torch.arange(start, min(start + batch_size, len(data)))
                batch = data.batch(indices).to(device)
                predictions = model(batch.inputs)
                for task in tasks:
                    prediction, target = predictions[task.name], batch.targets[task.name]
                    for name, metric in task.metrics.items():
                        value = metric.fn(prediction, target)
                        totals[metric_key(task.name, name)] += value * batch.num_samples
    finally:
        model.train(was_training)
    return {key: total / len(data) for key, total in totals.items()}


def delta_m_percent(
    metrics: Mapping[str, float], baselines: Mapping[str, float], tasks: Sequence[Task]
) -> float:
    """The multi-task delta-m% of `metrics` against `baselines` (both keyed
    "<task>.<metric>"), over the metrics that have a baseline; positive is
    better than single-task (see the module docstring)."""
    higher_is_better = {
        metric_key(task.name, name): metric.higher_is_better
        for task in tasks
        for name, metric in task.metrics.items()
    }
    terms = [
        (1.0 if higher_is_better[key] else -1.0) * (metrics[key] - base) / base
        for key, base in baselines.items()
    ]
    return 100.0 * sum(terms) / len(terms)
