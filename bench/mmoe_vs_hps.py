"""MMoE against hard parameter sharing on the MMoE paper's synthetic data, by task correlation.

Ma et al. (KDD 2018, fig. 4) report that a shared-bottom model degrades as
the two tasks' correlation falls and MMoE much less. This bench trains, for
each correlation and seed, three models with equal loss weights and Adam:

- hps: a shared bottom the size of one expert (the paper's comparison);
- hps_wide: a shared bottom widened until it has at least MMoE's parameters,
  so that capacity alone cannot explain a difference;
- mmoe: num_experts experts of the bottom's size, one gate per task.

It prints the validation loss (sum over the two tasks' MSE), mean and
standard deviation over seeds. Run: `python -m bench.mmoe_vs_hps [--steps N]`.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Mapping

import torch

from workers.mtl.data import DataOrder
from workers.mtl.model import MultiTaskModel
from workers.mtl.problem import Problem
from workers.mtl.problems import build_problem

CORRELATIONS = (1.0, 0.5, 0.0, -0.5)
EXPERT_SIZE = 16
NUM_EXPERTS = 4


def validation_loss(
    problem: Problem,
    architecture: str,
    model_params: Mapping[str, float],
    *,
    steps: int,
    seed: int,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
) -> float:
    """Train `architecture` on `problem` for `steps` Adam steps with equal task
    weights; return the summed task losses on the whole validation split."""
    torch.manual_seed(seed)
    model = problem.build_model(architecture, model_params, problem.tasks)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    order = DataOrder(num_samples=len(problem.train_data), batch_size=batch_size, seed=seed)
    for step in range(1, steps + 1):
        batch = problem.train_data.batch(order.indices(step))
        predictions = model(batch.inputs)
        loss = sum(
            task.loss(predictions[task.name], batch.targets[task.name]) for task in problem.tasks
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert problem.val_data is not None
    with torch.no_grad():
        batch = problem.val_data.batch(torch.arange(len(problem.val_data)))
        predictions = model(batch.inputs)
        return sum(
            float(task.loss(predictions[task.name], batch.targets[task.name]))
            for task in problem.tasks
        )


def matched_bottom_size(problem: Problem) -> int:
    """The smallest shared-bottom width with at least as many parameters as MMoE."""
    target = _num_parameters(
        problem.build_model(
            "mmoe", {"hidden_size": EXPERT_SIZE, "num_experts": NUM_EXPERTS}, problem.tasks
        )
    )
    size = EXPERT_SIZE
    while (
        _num_parameters(problem.build_model("hps", {"hidden_size": size}, problem.tasks)) < target
    ):
        size += 1
    return size


def _num_parameters(model: MultiTaskModel) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--num-samples", type=int, default=8192)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one core per run, so timings of runs compare
    print(f"validation loss (y1 + y2 MSE) after {args.steps} steps, {args.seeds} seeds")
    for correlation in CORRELATIONS:
        params = {"correlation": correlation, "num_samples": args.num_samples}
        results: dict[str, list[float]] = {"hps": [], "hps_wide": [], "mmoe": []}
        for seed in range(args.seeds):
            problem = build_problem("mmoe_synthetic", params, seed)
            models = {
                "hps": ("hps", {"hidden_size": EXPERT_SIZE}),
                "hps_wide": ("hps", {"hidden_size": matched_bottom_size(problem)}),
                "mmoe": ("mmoe", {"hidden_size": EXPERT_SIZE, "num_experts": NUM_EXPERTS}),
            }
            for label, (architecture, model_params) in models.items():
                results[label].append(
                    validation_loss(
                        problem, architecture, model_params, steps=args.steps, seed=seed
                    )
                )
        cells = [
            f"{label} {statistics.mean(v):.3f} ± {statistics.stdev(v) if len(v) > 1 else 0:.3f}"
            for label, v in results.items()
        ]
        print(f"correlation {correlation:+.1f}: " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
