"""The total gradient norm of a step, over parameters listed once per job."""

from __future__ import annotations

from operator import attrgetter

import torch
from torch import Tensor, nn

_GRAD = attrgetter("grad")  # reads `.grad` without a Python frame per parameter
# Up to this many parameters, a CPU model's gradients are copied into one
# vector and reduced once (4 MiB of float32 at most per step).
FLATTEN_MAX_ELEMENTS = 1 << 20


class GradientNorm:
    """The trainable parameters of one model, listed once (walking the module
    tree every step costs more than the norm of a small model's gradients),
    and the L2 norm of all their gradients together.

    On the CPU the per-tensor dispatch of `torch._foreach_norm` dominates for
    small tensors, so a small model's gradients are flattened into one vector
    (one copy, one reduction). Larger models and other devices use
    `_foreach_norm`, which reads each gradient once (one fused kernel on CUDA).
    """

    def __init__(self, model: nn.Module) -> None:
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self._flatten = (
            len({(p.device, p.dtype) for p in self.parameters}) == 1
            and self.parameters[0].device.type == "cpu"
            and sum(p.numel() for p in self.parameters) <= FLATTEN_MAX_ELEMENTS
        )

    def total(self) -> Tensor:
        """The 0-dim norm of every `.grad` together (0 when there are none); no host sync."""
        grads = [grad for grad in map(_GRAD, self.parameters) if grad is not None]
        if not grads:
            return torch.zeros(())
        if self._flatten:
            return torch.linalg.vector_norm(torch._utils._flatten_dense_tensors(grads))
        return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
