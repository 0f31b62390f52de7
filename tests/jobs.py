"""Small job specs the tests submit."""

from __future__ import annotations

QUICK_JOB = """
name: quick
problem: {name: tabular_regcls, params: {num_samples: 1024, num_val_samples: 256}}
model: {architecture: hps, params: {hidden_size: 32}}
tasks: [value, category]
loss_weights: {value: 0.05}
optimizer: {name: adam, learning_rate: 0.003}
steps: %(steps)d
batch_size: 32
seed: %(seed)d
report_interval: %(report_interval)d
checkpoint_interval: %(checkpoint_interval)d
"""


def quick_job(
    *, steps: int = 60, seed: int = 0, report_interval: int = 10, checkpoint_interval: int = 50
) -> str:
    """A small tabular job spec that trains in about a second on CPU."""
    return QUICK_JOB % {
        "steps": steps,
        "seed": seed,
        "report_interval": report_interval,
        "checkpoint_interval": checkpoint_interval,
    }
