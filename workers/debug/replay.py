"""Re-run a step's forward without disturbing training: same RNG, same buffers.

Activation snapshots and on-demand task statistics need a forward pass of the
boundary's batch after the step's own graph is gone. The replay forks the RNG
(so dropout draws of training are not consumed) and restores the model's
buffers after (so BatchNorm statistics do not move).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from workers.mtl.model import MultiTaskModel


@contextmanager
def side_effect_free(model: MultiTaskModel) -> Iterator[None]:
    """Inside: forward passes leave the RNG streams and the buffers as they were."""
    buffers = {name: buffer.detach().clone() for name, buffer in model.named_buffers()}
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            with torch.no_grad():
                for name, buffer in model.named_buffers():
                    buffer.copy_(buffers[name])
