"""The process group of one distributed job and the collectives the trainer uses.

Gradients are averaged with one all-reduce per dtype after the weighting
strategy's backward (what DistributedDataParallel does with a single bucket).
The DDP wrapper itself is not used: the trainer runs the model in two halves
(`encode`, `decode`) and gradient strategies take per-task gradients with
`torch.autograd.grad`, which bypasses DDP's reducer hooks. Averaging after the
strategy gives the same update for every strategy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
import torch
import torch.distributed as dist

log = structlog.get_logger(__name__)

# A rank may wait this long for the others (to join, a long validation on
# rank 0, a big delegated snapshot) before the job is declared broken.
COLLECTIVE_TIMEOUT = timedelta(minutes=10)


class RankLost(RuntimeError):
    """A collective failed: another rank of the job died or left."""


@dataclass(slots=True, kw_only=True)
class RankGroup:
    """This process's place in a distributed job.

    `control` is the group decisions travel on: the default group for gloo,
    a gloo group beside NCCL (Python objects travel on the CPU).
    """

    rank: int
    world_size: int
    control: Any = None
    _store: dist.Store | None = None
    _closed: bool = field(default=False)

    @property
    def is_leader(self) -> bool:
        """Rank 0: reports the job, takes its commands, writes its checkpoints."""
        return self.rank == 0

    def shard(self, indices: torch.Tensor) -> torch.Tensor:
        """This rank's equal share of a global batch's sample indices."""
        per_rank = indices.numel() // self.world_size
        return indices[self.rank * per_rank : (self.rank + 1) * per_rank]

    def average_gradients(
        self, parameters: Sequence[torch.nn.Parameter], losses: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Average every gradient over the ranks in place; returns the losses
        averaged too (detached), which is what the whole global batch saw."""
        names = list(losses)
        loss_vector = torch.stack([losses[name].detach().float() for name in names])
        buckets: defaultdict[torch.dtype, list[torch.Tensor]] = defaultdict(list)
        for parameter in parameters:
            if parameter.grad is not None:
                buckets[parameter.grad.dtype].append(parameter.grad)
        buckets[loss_vector.dtype].append(loss_vector)
        for tensors in buckets.values():
            flat = torch.cat([tensor.reshape(-1) for tensor in tensors])
            self._collective(dist.all_reduce, flat)
            flat.div_(self.world_size)
            offset = 0
            for tensor in tensors:
                tensor.copy_(flat[offset : offset + tensor.numel()].view_as(tensor))
                offset += tensor.numel()
        return {name: loss_vector[index] for index, name in enumerate(names)}

    def broadcast(self, value: object = None) -> object:
        """Rank 0's `value`, on every rank (other ranks pass nothing)."""
        holder = [value if self.is_leader else None]
        self._collective(dist.broadcast_object_list, holder, src=0, group=self.control)
        return holder[0]

    def join(self, *, store: dist.Store, job_key: str, backend: str, device: torch.device) -> None:
        """Join the job's process group through the rendezvous `store`; blocks
        until every rank joined.

        `job_key` ("<job>/<attempt>") keeps the keys of two attempts apart;
        `backend` "auto" picks nccl on CUDA and gloo otherwise.
        """
        if backend == "auto":
            backend = "nccl" if device.type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(device)
        self._store = store  # rank 0's store serves the others as long as the job runs
        dist.init_process_group(
            backend=backend,
            store=dist.PrefixStore(job_key, store),
            rank=self.rank,
            world_size=self.world_size,
            timeout=COLLECTIVE_TIMEOUT,
        )
        if backend == "nccl":
            self.control = dist.new_group(backend="gloo", timeout=COLLECTIVE_TIMEOUT)
        log.info("rank_joined", rank=self.rank, world_size=self.world_size, backend=backend)

    def close(self) -> None:
        """Leave the group (safe to call twice)."""
        if not self._closed and dist.is_initialized():
            dist.destroy_process_group()
        self._closed = True
        self._store = None

    def _collective(self, operation: Any, *args: Any, **kwargs: Any) -> None:
        try:
            operation(*args, **kwargs)
        except RuntimeError as error:  # gloo and NCCL raise RuntimeError subclasses
            raise RankLost(f"rank {self.rank}: a peer rank was lost ({error})") from error
