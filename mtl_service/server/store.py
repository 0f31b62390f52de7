"""Durable job state in SQLite: jobs, their event histories and checkpoints.

SQLite allows one writer, so every statement runs on one dedicated thread;
async callers await it. WAL mode with `synchronous=FULL`: an event the service
acknowledged survives a crash of the service or the machine.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from google.protobuf import timestamp_pb2

from mtl.v1 import job_pb2

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    state INTEGER NOT NULL,
    job BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, position);
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    event BLOB NOT NULL,
    PRIMARY KEY (job_id, sequence)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    job_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    path TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    PRIMARY KEY (job_id, step)
);
"""


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of jobs, newest first; `next_position` is 0 on the last page."""

    jobs: list[job_pb2.Job]
    next_position: int


class JobStore:
    """The service's SQLite database under the data dir."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-store")
        self._connection: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Create the database and schema if needed."""
        await self._run(self._open)

    async def close(self) -> None:
        """Close the database; safe to call twice."""
        if self._connection is not None:
            await self._run(self._close)
        self._executor.shutdown(wait=True)

    async def create_job(self, job: job_pb2.Job, event: job_pb2.JobEvent) -> job_pb2.JobEvent:
        """Insert a new job and its first event in one transaction."""
        return await self._run(self._save, job, [event], insert=True)

    async def save(
        self, job: job_pb2.Job, events: Sequence[job_pb2.JobEvent] = ()
    ) -> list[job_pb2.JobEvent]:
        """Update a job and append events to its history, atomically.

        Each event gets the next sequence number and a time if it has none;
        the stored events are returned.
        """
        return await self._run(self._save, job, list(events), insert=False)

    async def get_job(self, job_id: str) -> job_pb2.Job | None:
        return await self._run(self._get_job, job_id)

    async def list_jobs(
        self, *, states: Sequence[int], page_size: int, before_position: int
    ) -> JobPage:
        """Jobs newest first, only `states` if given, older than `before_position` if > 0."""
        return await self._run(self._list_jobs, list(states), page_size, before_position)

    async def jobs_in_states(self, states: Sequence[int]) -> list[job_pb2.Job]:
        """Every job in one of `states`, oldest first (the FIFO queue order)."""
        page = await self._run(self._list_jobs, list(states), -1, 0)
        return list(reversed(page.jobs))

    async def count_by_state(self) -> dict[int, int]:
        return await self._run(self._count_by_state)

    async def events(
        self, job_id: str, after_sequence: int, *, limit: int = -1
    ) -> list[job_pb2.JobEvent]:
        """The job's events with a sequence above `after_sequence`, in order; at
        most `limit` of them (all when negative)."""
        return await self._run(self._events, job_id, after_sequence, limit)

    async def add_checkpoint(self, job_id: str, step: int, path: str, size_bytes: int) -> None:
        await self._run(self._add_checkpoint, job_id, step, path, size_bytes)

    async def latest_checkpoint(self, job_id: str) -> str | None:
        """Path of the job's checkpoint with the highest step, if any."""
        latest = await self._run(self._latest_checkpoint, job_id)
        return latest[1] if latest else None

    async def latest_checkpoint_with_step(self, job_id: str) -> tuple[int, str] | None:
        """(step, path) of the job's newest checkpoint, if any."""
        return await self._run(self._latest_checkpoint, job_id)

    async def _run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    @property
    def _db(self) -> sqlite3.Connection:
        assert self._connection is not None, "JobStore.open() was not awaited"
        return self._connection

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.executescript(_SCHEMA)
        self._connection = connection

    def _close(self) -> None:
        self._db.close()
        self._connection = None

    def _save(
        self, job: job_pb2.Job, events: list[job_pb2.JobEvent], *, insert: bool
    ) -> list[job_pb2.JobEvent]:
        db = self._db
        with _transaction(db):
            if insert:
                db.execute(
                    "INSERT INTO jobs (id, state, job) VALUES (?, ?, ?)",
                    (job.id, job.state, job.SerializeToString()),
                )
            else:
                db.execute(
                    "UPDATE jobs SET state = ?, job = ? WHERE id = ?",
                    (job.state, job.SerializeToString(), job.id),
                )
            (last,) = db.execute(
                "SELECT COALESCE(MAX(sequence), 0) FROM events WHERE job_id = ?", (job.id,)
            ).fetchone()
            for offset, event in enumerate(events, start=1):
                event.job_id = job.id
                event.sequence = last + offset
                if not event.HasField("time"):
                    event.time.CopyFrom(now_timestamp())
                db.execute(
                    "INSERT INTO events (job_id, sequence, event) VALUES (?, ?, ?)",
                    (job.id, event.sequence, event.SerializeToString()),
                )
        return events

    def _get_job(self, job_id: str) -> job_pb2.Job | None:
        row = self._db.execute("SELECT job FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return job_pb2.Job.FromString(row[0]) if row else None

    def _list_jobs(self, states: list[int], page_size: int, before_position: int) -> JobPage:
        clauses, args = [], []
        if states:
            clauses.append(f"state IN ({','.join('?' * len(states))})")
            args.extend(states)
        if before_position > 0:
            clauses.append("position < ?")
            args.append(before_position)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        limit = "" if page_size < 0 else f"LIMIT {int(page_size) + 1}"
        rows = self._db.execute(
            f"SELECT position, job FROM jobs {where} ORDER BY position DESC {limit}", args
        ).fetchall()
        has_more = 0 <= page_size < len(rows)
        rows = rows[:page_size] if page_size >= 0 else rows
        jobs = [job_pb2.Job.FromString(blob) for _, blob in rows]
        return JobPage(jobs=jobs, next_position=rows[-1][0] if has_more else 0)

    def _count_by_state(self) -> dict[int, int]:
        rows = self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return dict(rows)

    def _events(self, job_id: str, after_sequence: int, limit: int) -> list[job_pb2.JobEvent]:
        rows = self._db.execute(
            "SELECT event FROM events WHERE job_id = ? AND sequence > ? ORDER BY sequence LIMIT ?",
            (job_id, after_sequence, limit),
        ).fetchall()
        return [job_pb2.JobEvent.FromString(blob) for (blob,) in rows]

    def _add_checkpoint(self, job_id: str, step: int, path: str, size_bytes: int) -> None:
        with _transaction(self._db):
            self._db.execute(
                "INSERT OR REPLACE INTO checkpoints (job_id, step, path, size_bytes) "
                "VALUES (?, ?, ?, ?)",
                (job_id, step, path, size_bytes),
            )

    def _latest_checkpoint(self, job_id: str) -> tuple[int, str] | None:
        row = self._db.execute(
            "SELECT step, path FROM checkpoints WHERE job_id = ? ORDER BY step DESC LIMIT 1",
            (job_id,),
        ).fetchone()
        return (row[0], row[1]) if row else None


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def now_timestamp() -> timestamp_pb2.Timestamp:
    """The current time as a protobuf Timestamp."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(time.time_ns())
    return stamp
