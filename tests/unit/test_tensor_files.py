"""Specification of snapshot files: what save_tensors writes, load_tensors reads back."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from mtl_service.client.tensor_files import load_tensors, save_tensors


def sample_tensors() -> dict[str, torch.Tensor]:
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    return {
        "param:trunk.0.weight": torch.randn(3, 4),
        "grad:half": torch.randn(5).half(),
        "activation:bf16[0]": torch.randn(2, 2).bfloat16(),
        "batch:targets.seg": torch.randint(0, 3, (7,)),
        "int32": torch.arange(3, dtype=torch.int32),
        "uint8": torch.arange(3, dtype=torch.uint8),
        "mask": torch.tensor([True, False]),
        "scalar": torch.tensor(1.5, dtype=torch.float64),
        "empty": torch.zeros(0, 3),
        "view.rows": base[1:],
        "view.base": base,
        "view.transposed": base.t(),
        "needs_grad": torch.ones(2, requires_grad=True),
    }


@pytest.mark.parametrize("extension", [".safetensors", ".pt"])
def test_round_trip_preserves_names_dtypes_shapes_and_values(tmp_path, extension):
    tensors = sample_tensors()
    path = tmp_path / f"snapshot{extension}"
    save_tensors(path, tensors)
    loaded = load_tensors(str(path))
    assert sorted(loaded) == sorted(tensors)
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype, name
        assert loaded[name].shape == tensor.shape, name
        assert torch.equal(loaded[name], tensor.detach()), name


def test_unknown_extension_is_refused_with_the_allowed_ones(tmp_path):
    with pytest.raises(ValueError, match=r"\.safetensors or \.pt"):
        save_tensors(tmp_path / "snapshot.npz", {"x": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"\.safetensors or \.pt"):
        load_tensors(tmp_path / "snapshot")


def test_pt_files_holding_something_else_are_refused(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(ValueError, match="not tensors by name"):
        load_tensors(path)


def test_tensor_files_module_imports_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['safetensors'] = None\n"
        "import mtl_service.client.tensor_files"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
