"""Snapshot tensors to and from files: `.safetensors` or `.pt`, chosen by extension.

Torch (and safetensors) are imported inside the functions, so the client
package imports on machines without torch; only these two functions need it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

EXTENSIONS = (".safetensors", ".pt")


def _extension(path: str | os.PathLike[str]) -> str:
    extension = Path(path).suffix
    if extension not in EXTENSIONS:
        raise ValueError(
            f"cannot tell the format of {os.fspath(path)!r}: use {' or '.join(EXTENSIONS)}"
        )
    return extension


def save_tensors(path: str | os.PathLike[str], tensors: Mapping[str, Tensor]) -> None:
    """Write `tensors` (moved to CPU) to `path`; the extension picks the format."""
    extension = _extension(path)
    on_cpu = {name: tensor.detach().cpu() for name, tensor in tensors.items()}
    if extension == ".pt":
        import torch

        torch.save(on_cpu, path)
        return
    from safetensors.torch import save_file

    save_file(_unshared(on_cpu), os.fspath(path))


def load_tensors(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read what `save_tensors` wrote, onto the CPU. `.pt` files load with weights_only."""
    if _extension(path) == ".pt":
        import torch

        loaded = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(loaded, dict):
            raise ValueError(
                f"{os.fspath(path)!r} holds a {type(loaded).__name__}, not tensors by name"
            )
        return loaded
    from safetensors.torch import load_file

    return load_file(os.fspath(path))


def _unshared(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    # safetensors refuses tensors that share storage (views of one batch, a
    # parameter and its detached self); copy all but the first of each storage.
    seen: set[int] = set()
    result = {}
    for name, tensor in tensors.items():
        tensor = tensor.contiguous()
        storage = tensor.untyped_storage().data_ptr()
        result[name] = tensor.clone() if storage in seen else tensor
        seen.add(storage)
    return result
