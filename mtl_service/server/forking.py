"""ForkJob: a new job that starts from another job's state, with overrides."""

from __future__ import annotations

from mtl.v1 import job_pb2, spec_pb2, worker_pb2
from mtl_service.errors import FailedPrecondition
from mtl_service.server.debug_broker import DebugBroker
from mtl_service.server.jobs import JobManager


async def fork_job(
    jobs: JobManager, broker: DebugBroker, request: job_pb2.ForkJobRequest
) -> job_pb2.Job:
    """Queue a fork of `request.job_id`: from its paused state (a checkpoint taken
    now) or else its newest checkpoint; the overrides are validated like a spec.
    The fork has none of the parent's breakpoints."""
    parent = await jobs.get(request.job_id)
    origin = await _origin(jobs, broker, parent)
    spec = spec_pb2.JobSpec()
    spec.CopyFrom(parent.spec)
    spec.name = request.name or f"{parent.spec.name or parent.id} (fork)"
    spec.loss_weights.update(request.loss_weights)
    if request.learning_rate:
        spec.optimizer.learning_rate = request.learning_rate
    if request.HasField("weighting"):
        spec.weighting.CopyFrom(request.weighting)
    # A fork starts at the step its parent paused at; the parent's breakpoints
    # would fire there again at once, so a fork starts without breakpoints.
    del spec.breakpoints[:]
    return await jobs.submit(spec, fork_origin=origin)


async def _origin(jobs: JobManager, broker: DebugBroker, parent: job_pb2.Job) -> job_pb2.ForkOrigin:
    if parent.state == job_pb2.JOB_STATE_PAUSED:
        reply = await broker.call(parent.id, "checkpoint", worker_pb2.CheckpointRequest())
        saved = reply.checkpoint
        return job_pb2.ForkOrigin(
            parent_job_id=parent.id, step=saved.step, checkpoint_path=saved.path
        )
    latest = await jobs.store.latest_checkpoint_with_step(parent.id)
    if latest is None:
        raise FailedPrecondition(
            f"job {parent.id} has no checkpoint yet; pause it (mtlctl pause) and fork "
            "its paused state, or wait for its first checkpoint"
        )
    step, path = latest
    return job_pb2.ForkOrigin(parent_job_id=parent.id, step=step, checkpoint_path=path)
