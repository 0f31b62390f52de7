"""Checkpoint files: written atomically with a checksum, the newest valid one loaded.

Only tensors and plain Python values are stored (loaded with
`weights_only=True`), so a checkpoint file cannot run code when it is read.
File layout: 8-byte magic, 32-byte SHA-256 of the payload, then the payload
(`torch.save` of a dict). A file that is truncated or has a flipped bit fails
the checksum and is skipped in favour of the previous checkpoint.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import torch

log = structlog.get_logger(__name__)

MAGIC = b"MTLCKPT1"
_HEADER_BYTES = len(MAGIC) + 32
_NAME = re.compile(r"^step-(\d{9})\.ckpt$")


class CorruptCheckpoint(ValueError):
    """The file is not a complete checkpoint written by this program."""


@dataclass(slots=True)
class SavedCheckpoint:
    step: int
    path: Path
    size_bytes: int
    duration_seconds: float = 0.0


class CheckpointDirectory:
    """The checkpoints of one job: `step-000000100.ckpt`, the last `keep` kept."""

    def __init__(self, directory: Path, *, keep: int = 3) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.directory = directory
        self.keep = keep

    def save(self, step: int, state: dict[str, Any]) -> SavedCheckpoint:
        """Write `state` for `step` atomically (temp file, fsync, rename, fsync dir)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        payload = buffer.getvalue()
        path = self.directory / f"step-{step:09d}.ckpt"
        temporary = path.with_suffix(".tmp")
        with open(temporary, "wb") as file:
            file.write(MAGIC + hashlib.sha256(payload).digest())
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        _fsync_directory(self.directory)
        self._prune()
        return SavedCheckpoint(step=step, path=path, size_bytes=_HEADER_BYTES + len(payload))

    def load_latest(self, preferred: Path | None = None) -> tuple[int, dict[str, Any]] | None:
        """(step, state) of `preferred` if valid, else of the newest valid checkpoint."""
        candidates = self._paths_newest_first()
        if preferred is not None and preferred in candidates:
            candidates.remove(preferred)
            candidates.insert(0, preferred)
        for path in candidates:
            try:
                return _step_of(path), read_checkpoint(path)
            except (CorruptCheckpoint, OSError) as error:
                log.warning("checkpoint_skipped", path=str(path), error=str(error))
        return None

    def _paths_newest_first(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        paths = [p for p in self.directory.iterdir() if _NAME.match(p.name)]
        return sorted(paths, key=_step_of, reverse=True)

    def _prune(self) -> None:
        for path in self._paths_newest_first()[self.keep :]:
            path.unlink(missing_ok=True)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The state stored in `path`; CorruptCheckpoint when the checksum fails."""
    data = path.read_bytes()
    if len(data) < _HEADER_BYTES or not data.startswith(MAGIC):
        raise CorruptCheckpoint(f"{path} is not a checkpoint (bad header or truncated)")
    digest, payload = data[len(MAGIC) : _HEADER_BYTES], data[_HEADER_BYTES:]
    if hashlib.sha256(payload).digest() != digest:
        raise CorruptCheckpoint(f"{path} failed its checksum (truncated or corrupted)")
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)


def _step_of(path: Path) -> int:
    match = _NAME.match(path.name)
    if match is None:
        raise CorruptCheckpoint(f"{path} is not named step-NNNNNNNNN.ckpt")
    return int(match.group(1))


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
