"""Specification of snapshot selectors: which tensors `kind:glob` picks, and activation hooks."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import Tensor, nn

from workers.debug.selectors import (
    SELECTOR_KINDS,
    Selector,
    SelectorError,
    capture_activations,
    parse_selector,
    select_tensors,
)


class TwoHeads(nn.Module):
    """A small multi-task model: a Sequential trunk and one head per task."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Linear(8, 6))
        self.norm = nn.BatchNorm1d(6)
        self.heads = nn.ModuleDict({"depth": nn.Linear(6, 1), "seg": nn.Linear(6, 3)})

    def forward(self, inputs: Tensor) -> dict[str, Tensor]:
        features = self.norm(self.trunk(inputs))
        return {task: head(features) for task, head in self.heads.items()}


@pytest.fixture()
def step() -> dict:
    """One step whose loss reaches the depth head only, so the seg head has no gradient."""
    torch.manual_seed(0)
    model = TwoHeads()
    inputs = torch.randn(5, 4)
    targets = {"depth": torch.randn(5, 1), "seg": torch.randint(0, 3, (5,))}
    outputs = model(inputs)
    losses = {"depth": nn.functional.mse_loss(outputs["depth"], targets["depth"])}
    losses["depth"].backward()
    return {"model": model, "batch_inputs": inputs, "batch_targets": targets, "losses": losses}


def test_parse_selector_splits_kind_and_glob():
    assert parse_selector("grad:heads.depth.*") == Selector("grad", "heads.depth.*")
    assert str(parse_selector("batch:targets.*")) == "batch:targets.*"


@pytest.mark.parametrize("text", ["trunk.*", "weights:trunk.*", "param:", ":x", ""])
def test_malformed_selector_names_the_allowed_kinds(text):
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    assert isinstance(caught.value, ValueError)
    assert all(kind in str(caught.value) for kind in SELECTOR_KINDS)


def test_selected_tensors_are_named_by_kind_and_detached(step):
    selection = select_tensors(["param:trunk.0.*", "buffer:norm.running_*", "loss:*"], **step)
    assert list(selection.tensors) == [
        "param:trunk.0.weight",
        "param:trunk.0.bias",
        "buffer:norm.running_mean",
        "buffer:norm.running_var",
        "loss:depth",
    ]
    assert not any(t.requires_grad for t in selection.tensors.values())
    model = step["model"]
    assert selection.tensors["param:trunk.0.weight"].data_ptr() == model.trunk[0].weight.data_ptr()


def test_gradients_of_parameters_without_grad_are_reported_missing(step):
    selection = select_tensors([parse_selector("grad:heads.*")], **step)
    assert list(selection.tensors) == ["grad:heads.depth.weight", "grad:heads.depth.bias"]
    assert selection.missing == ["grad:heads.seg.weight", "grad:heads.seg.bias"]
    assert torch.equal(
        selection.tensors["grad:heads.depth.bias"], step["model"].heads.depth.bias.grad
    )


def test_batch_selectors_cover_inputs_and_targets(step):
    selection = select_tensors(["batch:inputs", "batch:targets.*"], **step)
    assert list(selection.tensors) == ["batch:inputs", "batch:targets.depth", "batch:targets.seg"]
    dict_inputs = {**step, "batch_inputs": {"image": torch.zeros(2), "mask": torch.ones(2)}}
    assert list(select_tensors(["batch:inputs.*"], **dict_inputs).tensors) == [
        "batch:inputs.image",
        "batch:inputs.mask",
    ]


def test_selector_matching_nothing_lists_available_names(step):
    with pytest.raises(SelectorError) as caught:
        select_tensors(["param:trunk.9.*", "loss:*"], **step)
    message = str(caught.value)
    assert "param:trunk.9.*" in message and "trunk.0.weight" in message and "more" in message


def test_activation_selectors_are_refused_outside_a_forward(step):
    with pytest.raises(SelectorError, match="capture_activations"):
        select_tensors(["activation:trunk.*"], **step)


def no_hooks_remain(model: nn.Module) -> bool:
    return all(not m._forward_hooks for m in model.modules())


def test_capture_activations_records_matching_layers_then_removes_its_hooks():
    model = TwoHeads().eval()
    inputs = torch.randn(3, 4)
    with capture_activations(model, ["trunk.2", "heads.*"]) as captured:
        assert sum(len(m._forward_hooks) for m in model.modules()) == 3
        model(inputs)
    assert {name: tuple(t.shape) for name, t in captured.items()} == {
        "activation:trunk.2": (3, 6),
        "activation:heads.depth": (3, 1),
        "activation:heads.seg": (3, 3),
    }
    assert no_hooks_remain(model)


def test_captured_activations_are_copies_unchanged_by_later_in_place_ops():
    model = TwoHeads()
    inputs = torch.randn(8, 4)
    with capture_activations(model, ["trunk.0"]) as captured:
        model(inputs)
    expected = model.trunk[0](inputs).detach()
    assert (expected < 0).any()
    assert torch.equal(captured["activation:trunk.0"], expected)
    assert not captured["activation:trunk.0"].requires_grad


def test_tuple_outputs_are_stored_element_by_element():
    model = nn.Sequential()
    model.add_module("lstm", nn.LSTM(input_size=4, hidden_size=2, batch_first=True))
    with capture_activations(model, ["lstm"]) as captured:
        model(torch.randn(1, 5, 4))
    assert {name: tuple(t.shape) for name, t in captured.items()} == {
        "activation:lstm[0]": (1, 5, 2),
        "activation:lstm[1][0]": (1, 1, 2),
        "activation:lstm[1][1]": (1, 1, 2),
    }


def test_hooks_are_removed_when_the_forward_fails_or_a_glob_matches_nothing():
    model = TwoHeads()
    with pytest.raises(RuntimeError), capture_activations(model, ["trunk.*"]):
        model(torch.randn(2, 5))
    assert no_hooks_remain(model)
    with (
        pytest.raises(SelectorError, match="trunk.0"),
        capture_activations(model, ["trunk.*", "x"]),
    ):
        pass
    assert no_hooks_remain(model)


def test_debug_package_imports_neither_grpc_nor_the_server():
    code = (
        "import sys; sys.modules['grpc'] = None\n"
        "import workers.debug\n"
        "assert not any(m.startswith('mtl_service.server') for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
