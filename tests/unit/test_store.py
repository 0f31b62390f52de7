"""The SQLite job store: atomic saves, gapless event sequences, pages, reopen."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mtl.v1 import job_pb2
from mtl_service.server.store import JobStore


def _job(job_id: str, state: int = job_pb2.JOB_STATE_QUEUED) -> job_pb2.Job:
    return job_pb2.Job(id=job_id, state=state, attempt=1)


def _event(to_state: int) -> job_pb2.JobEvent:
    return job_pb2.JobEvent(state_change=job_pb2.StateChange(to_state=to_state))


def test_events_get_gapless_sequences_and_survive_a_reopen(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = JobStore(tmp_path / "db.sqlite3")
        await store.open()
        job = _job("job-a")
        await store.create_job(job, _event(job_pb2.JOB_STATE_QUEUED))
        job.state = job_pb2.JOB_STATE_RUNNING
        stored = await store.save(job, [_event(job_pb2.JOB_STATE_STARTING), _event(3)])
        assert [e.sequence for e in stored] == [2, 3]
        await store.close()
        reopened = JobStore(tmp_path / "db.sqlite3")
        await reopened.open()
        assert (await reopened.get_job("job-a")).state == job_pb2.JOB_STATE_RUNNING
        events = await reopened.events("job-a", 0)
        assert [e.sequence for e in events] == [1, 2, 3]
        assert all(e.job_id == "job-a" and e.time.seconds > 0 for e in events)
        assert [e.sequence for e in await reopened.events("job-a", 2)] == [3]
        await reopened.close()

    asyncio.run(scenario())


def test_pages_go_newest_first_and_filter_by_state(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = JobStore(tmp_path / "db.sqlite3")
        await store.open()
        for index in range(5):
            state = job_pb2.JOB_STATE_QUEUED if index % 2 else job_pb2.JOB_STATE_FAILED
            await store.create_job(_job(f"job-{index}", state), _event(state))
        first = await store.list_jobs(states=[], page_size=2, before_position=0)
        assert [j.id for j in first.jobs] == ["job-4", "job-3"]
        second = await store.list_jobs(states=[], page_size=2, before_position=first.next_position)
        assert [j.id for j in second.jobs] == ["job-2", "job-1"]
        queued = await store.jobs_in_states([job_pb2.JOB_STATE_QUEUED])
        assert [j.id for j in queued] == ["job-1", "job-3"]
        assert await store.count_by_state() == {
            job_pb2.JOB_STATE_QUEUED: 2,
            job_pb2.JOB_STATE_FAILED: 3,
        }
        await store.close()

    asyncio.run(scenario())


def test_latest_checkpoint_is_the_highest_step(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = JobStore(tmp_path / "db.sqlite3")
        await store.open()
        assert await store.latest_checkpoint("job-a") is None
        for step in (100, 300, 200):
            await store.add_checkpoint("job-a", step, f"/c/{step}", 10)
        assert await store.latest_checkpoint("job-a") == "/c/300"
        await store.close()

    asyncio.run(scenario())
