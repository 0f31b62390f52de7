"""Checkpoint files: atomic, checksummed, the newest valid one wins, last N kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from workers.checkpoint import CheckpointDirectory, CorruptCheckpoint, read_checkpoint


def _state(step: int) -> dict:
    return {"step": step, "weights": torch.full((4,), float(step))}


def test_save_then_load_returns_the_newest(tmp_path: Path) -> None:
    directory = CheckpointDirectory(tmp_path, keep=3)
    for step in (10, 20, 30):
        directory.save(step, _state(step))
    step, state = directory.load_latest()
    assert step == 30 and torch.equal(state["weights"], torch.full((4,), 30.0))
    assert not list(tmp_path.glob("*.tmp"))


def test_only_the_last_n_are_kept(tmp_path: Path) -> None:
    directory = CheckpointDirectory(tmp_path, keep=2)
    for step in range(1, 6):
        directory.save(step, _state(step))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step-000000004.ckpt",
        "step-000000005.ckpt",
    ]


@pytest.mark.parametrize("damage", ["truncate", "flip_bit"])
def test_a_damaged_checkpoint_is_detected_and_the_previous_used(
    tmp_path: Path, damage: str
) -> None:
    directory = CheckpointDirectory(tmp_path, keep=3)
    directory.save(1, _state(1))
    newest = directory.save(2, _state(2)).path
    data = bytearray(newest.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) - 10] ^= 0x01
    newest.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpoint):
        read_checkpoint(newest)
    step, state = directory.load_latest(preferred=newest)
    assert step == 1 and state["step"] == 1


def test_no_checkpoint_loads_as_none(tmp_path: Path) -> None:
    assert CheckpointDirectory(tmp_path / "missing").load_latest() is None
