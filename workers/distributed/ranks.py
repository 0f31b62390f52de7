"""Setting up one rank of a distributed job on a worker: its group and mailbox,
meeting the other ranks, and sharing rank 0's starting state."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from mtl.v1 import worker_pb2
from workers.control import JobControl
from workers.distributed.group import RankGroup, RankLost
from workers.distributed.rendezvous import RENDEZVOUS_TIMEOUT, connect_store, host_store
from workers.distributed.sync import FollowerControl, LeaderControl
from workers.hooks import StopTraining

if TYPE_CHECKING:
    from workers.trainer import Trainer

Send = Callable[[worker_pb2.WorkerMessage], None]
_ARRIVAL_POLL_SECONDS = 0.05


def rank_group(assignment: worker_pb2.AssignJob) -> RankGroup | None:
    """This worker's rank of the assigned job, or None for a single-process job."""
    world_size = assignment.spec.distributed.world_size
    if world_size <= 1:
        return None
    return RankGroup(rank=assignment.rank, world_size=world_size)


def control_for(group: RankGroup | None) -> JobControl:
    """The mailbox the rank's loop reads: rank 0 decides for all ranks."""
    if group is None:
        return JobControl()
    return LeaderControl(group) if group.is_leader else FollowerControl()


class RendezvousMailbox:
    """Rendezvous addresses the service forwarded, by job and attempt."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._addresses: dict[tuple[str, int], str] = {}

    def deliver(self, rendezvous: worker_pb2.JobRendezvous) -> None:
        with self._changed:
            self._addresses[(rendezvous.job_id, rendezvous.attempt)] = rendezvous.address
            self._changed.notify_all()

    def take(self, job_id: str, attempt: int, control: JobControl) -> str:
        """Wait for the address of the job's attempt. StopTraining when the worker
        is told to stop meanwhile, RankLost when rank 0 never announces it."""
        deadline = time.monotonic() + RENDEZVOUS_TIMEOUT.total_seconds()
        with self._changed:
            while (address := self._addresses.pop((job_id, attempt), None)) is None:
                _keep_waiting(control, deadline, f"rank 0 of {job_id} announced no rendezvous")
                self._changed.wait(timeout=1.0)
        return address


def meet(
    group: RankGroup,
    assignment: worker_pb2.AssignJob,
    *,
    mailbox: RendezvousMailbox,
    advertise_host: str,
    send: Send,
    control: JobControl,
    device: torch.device,
) -> None:
    """Join the job's process group: rank 0 hosts the store and announces its
    address through the service; the other ranks wait for it."""
    job_id, attempt = assignment.job_id, assignment.attempt
    job_key = f"{job_id}/{attempt}"
    arrived = f"{job_key}/arrived"
    try:
        if group.is_leader:
            store, address = host_store(advertise_host)
            rendezvous = worker_pb2.JobRendezvous(job_id=job_id, attempt=attempt, address=address)
            send(worker_pb2.WorkerMessage(rendezvous=rendezvous))
            _await_ranks(store, arrived, group, control)
        else:
            store = connect_store(mailbox.take(job_id, attempt, control))
            store.add(arrived, 1)
        group.join(
            store=store,
            job_key=job_key,
            backend=assignment.spec.distributed.backend,
            device=device,
        )
    except RuntimeError as error:  # store and process-group errors
        if isinstance(error, RankLost):
            raise
        raise RankLost(f"rank {group.rank} could not join the other ranks: {error}") from error


def _await_ranks(
    store: torch.distributed.Store, arrived: str, group: RankGroup, control: JobControl
) -> None:
    """Rank 0 waits until every other rank reached its store, stopping when
    told to: process-group setup itself cannot be interrupted."""
    deadline = time.monotonic() + RENDEZVOUS_TIMEOUT.total_seconds()
    while (count := store.add(arrived, 0)) < group.world_size - 1:
        others = group.world_size - 1
        _keep_waiting(control, deadline, f"only {count} of the other {others} ranks arrived")
        time.sleep(_ARRIVAL_POLL_SECONDS)


def _keep_waiting(control: JobControl, deadline: float, late: str) -> None:
    """StopTraining when the worker was told to stop, RankLost (saying what is
    `late`) once the rendezvous timeout passed."""
    stop = control.requested_stop()
    if stop is not None:
        raise StopTraining(stop)
    if time.monotonic() > deadline:
        raise RankLost(f"{late} within {RENDEZVOUS_TIMEOUT.total_seconds():.0f} s")


def share_initial_state(trainer: Trainer, group: RankGroup) -> None:
    """Every rank starts from rank 0's state (restored or freshly initialised)."""
    if group.is_leader:
        buffer = io.BytesIO()
        torch.save(trainer.state_dict(), buffer)
        group.broadcast(buffer.getvalue())
    else:
        data = group.broadcast()
        assert isinstance(data, bytes), "rank 0 broadcasts its serialized state"
        # The bytes come from rank 0 of the same job, not from a user.
        state = torch.load(io.BytesIO(data), map_location=trainer.device, weights_only=False)
        trainer.load_state_dict(state)
