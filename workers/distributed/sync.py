"""Keeping the ranks of a distributed job identical at every step boundary.

Rank 0 runs the debug engine (conditions, NaN guard, commands, pauses). When
its boundary is done it broadcasts a `Decision` — the loss weights, learning
rates, whether to skip the update and whether to stop — and every other rank
waits at the same boundary until it arrives, so a pause on rank 0 pauses all
ranks at the same step. While paused, rank 0 broadcasts a tick every second
(the other ranks check their own stop requests then) and forwards commands
meant for another rank (a snapshot of rank N).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mtl.v1 import worker_pb2
from workers.control import JobControl, StopRequest
from workers.debug.commands import execute
from workers.distributed.group import RankGroup, RankLost
from workers.hooks import StepBoundary, StopTraining, TrainerHook

if TYPE_CHECKING:
    from workers.debug.engine import DebugEngine
    from workers.trainer import Trainer

TICK_SECONDS = 1.0
_TICK = "tick"


@dataclass(frozen=True, slots=True)
class Decision:
    """What rank 0 decided at the boundary of `step`; every rank applies it."""

    step: int
    user_weights: dict[str, float]
    learning_rates: list[float]
    skip_optimizer_step: bool
    stop: StopRequest | None


@dataclass(frozen=True, slots=True)
class Delegated:
    """A debug command for another rank (serialized DebugCommand)."""

    rank: int
    command: bytes


class LeaderControl(JobControl):
    """Rank 0's mailbox. The loop obeys the stop published with the last
    Decision, so that every rank stops before the same step."""

    def __init__(self, group: RankGroup) -> None:
        super().__init__()
        self.group = group
        self._decided_stop: StopRequest | None = None

    def stop_request(self) -> StopRequest | None:
        return self._decided_stop

    def decide_stop(self) -> StopRequest | None:
        """Fix the stop (if any) the ranks obey after this boundary."""
        self._decided_stop = self.requested_stop()
        return self._decided_stop

    def next_command(
        self, *, wait: bool, timeout: float | None = None
    ) -> worker_pb2.DebugCommand | None:
        if not wait:
            return super().next_command(wait=False)
        while True:
            command = super().next_command(wait=True, timeout=TICK_SECONDS)
            if command is not None or self.requested_stop() is not None:
                return command
            self.group.broadcast(_TICK)

    def delegate(self, rank: int, command: worker_pb2.DebugCommand) -> None:
        """Hand `command` to `rank`, which answers it on its own stream."""
        self.group.broadcast(Delegated(rank=rank, command=command.SerializeToString()))


class FollowerControl(JobControl):
    """The mailbox of a rank other than 0: it stops when rank 0 decided so,
    or when its own worker was told to (the job moved on without it)."""

    def __init__(self) -> None:
        super().__init__()
        self._leader_stop: StopRequest | None = None

    def stop_request(self) -> StopRequest | None:
        return self.requested_stop() or self._leader_stop

    def follow(self, stop: StopRequest | None) -> None:
        self._leader_stop = stop


class LeaderSync(TrainerHook):
    """Rank 0's last hook: broadcast the boundary's Decision."""

    def __init__(self, group: RankGroup, control: LeaderControl) -> None:
        self.group = group
        self.control = control

    def on_step_boundary(self, trainer: Trainer, boundary: StepBoundary) -> None:
        self.group.broadcast(
            Decision(
                step=boundary.step,
                user_weights=dict(trainer.user_weights),
                learning_rates=[float(g["lr"]) for g in trainer.optimizer.param_groups],
                skip_optimizer_step=boundary.skip_optimizer_step,
                stop=self.control.decide_stop(),
            )
        )


class FollowerSync(TrainerHook):
    """The only boundary hook of ranks other than 0: wait for rank 0's
    Decision, answering the commands delegated to this rank meanwhile."""

    def __init__(self, group: RankGroup, control: FollowerControl, engine: DebugEngine) -> None:
        self.group = group
        self.control = control
        self.engine = engine

    def on_step_boundary(self, trainer: Trainer, boundary: StepBoundary) -> None:
        while not isinstance(message := self.group.broadcast(), Decision):
            own_stop = self.control.requested_stop()
            if own_stop is not None:
                raise StopTraining(own_stop)
            if isinstance(message, Delegated) and message.rank == self.group.rank:
                command = worker_pb2.DebugCommand.FromString(message.command)
                execute(self.engine, trainer, boundary, command)
        if message.step != boundary.step:
            raise RankLost(
                f"rank {self.group.rank} is at step {boundary.step} but rank 0 "
                f"decided step {message.step}"
            )
        trainer.user_weights.update(message.user_weights)
        for group, learning_rate in zip(
            trainer.optimizer.param_groups, message.learning_rates, strict=True
        ):
            group["lr"] = learning_rate
        boundary.skip_optimizer_step = message.skip_optimizer_step
        self.control.follow(message.stop)
