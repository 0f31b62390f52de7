"""The debug engine's torch side: tensor statistics and snapshot selectors.

Imports torch, never grpc or `mtl_service.server`; conditions live in the
torch-free `mtl_service.spec.conditions`, which the service shares.
"""

from workers.debug.selectors import (
    SELECTOR_KINDS,
    Selection,
    Selector,
    SelectorError,
    capture_activations,
    parse_selector,
    select_tensors,
)
from workers.debug.tensor_stats import TensorStats, tensor_stats

__all__ = [
    "SELECTOR_KINDS",
    "Selection",
    "Selector",
    "SelectorError",
    "TensorStats",
    "capture_activations",
    "parse_selector",
    "select_tensors",
    "tensor_stats",
]
