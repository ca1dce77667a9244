"""The task queue: procrastinate on the store's PostgreSQL database, one job per connection and cycle.

Every sync job of a connection carries two procrastinate locks named after the connection:

- ``lock``: a job waits while another job with the same lock is running, so no two workers ever
  sync the same connection at once;
- ``queueing_lock``: at most one job per connection waits in the queue, so a connection slower
  than its schedule (or a burst of webhooks) never piles up a backlog.

Scheduled cycles are deferred through procrastinate's periodic-job table, which admits one job per
connection and cycle start however many schedulers offer it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from procrastinate import App, JobContext, PsycopgConnector, exceptions
from procrastinate.jobs import Job, Status

from engine.metrics import QUEUE_STATUSES, QueueSnapshot

log = logging.getLogger("arbridge.workers")

QUEUE = "arbridge-sync"
SYNC_TASK = "arbridge.sync_connection"

# Advisory-lock namespace (two-key form) for the queue's housekeeping; any 32-bit value unused elsewhere.
_HOUSEKEEPING = (0x41524247, 0)


def sync_lock(connection: str) -> str:
    """The procrastinate ``lock`` and ``queueing_lock`` of a connection's sync jobs."""
    return f"arbridge-sync:{connection}"


def conninfo(store_url: str) -> str:
    """The libpq URI of a SQLAlchemy PostgreSQL URL (``postgresql+psycopg://…`` → ``postgresql://…``)."""
    url = sa.engine.make_url(store_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError("the task queue needs a PostgreSQL store")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def build_app(store_url: str, sync_job: Callable[..., Any], *, pool_size: int) -> App:
    """A procrastinate app on the store's database, with ``sync_job`` as the one task it runs."""
    connector = PsycopgConnector(conninfo=conninfo(store_url), min_size=1, max_size=pool_size)
    app = App(connector=connector)
    app.task(name=SYNC_TASK, queue=QUEUE, pass_context=True)(sync_job)
    return app


def _sync_deferrer(app: App, connection: str, *, timestamp: int, trigger: str) -> Any:
    return app.configure_task(
        SYNC_TASK,
        allow_unknown=False,
        lock=sync_lock(connection),
        queueing_lock=sync_lock(connection),
        task_kwargs={"connection": connection, "timestamp": timestamp, "trigger": trigger},
    )


async def defer_cycle(app: App, connection: str, start: int) -> int | None:
    """Queue the cycle of ``connection`` that starts at ``start`` (Unix seconds), once across all processes.

    Returns the job id, or None when the cycle was queued before or a job of the connection is
    already waiting (it does the same work).
    """
    job = _sync_deferrer(app, connection, timestamp=start, trigger="schedule").job
    try:
        return await app.job_manager.defer_periodic_job(job, periodic_id=connection, defer_timestamp=start)
    except exceptions.AlreadyEnqueued:
        return None


async def defer_now(app: App, connection: str, trigger: str) -> int | None:
    """Queue a cycle of ``connection`` as soon as a worker is free; None when one is already waiting."""
    deferrer = _sync_deferrer(app, connection, timestamp=int(time.time()), trigger=trigger)
    try:
        return int(await deferrer.defer_async())
    except exceptions.AlreadyEnqueued:
        return None


class Housekeeping:
    """Retries the jobs of dead workers and forgets old finished jobs; one process at a time does it."""

    def __init__(
        self,
        app: App,
        *,
        stalled_after: float,
        keep_hours: int,
        abandon_runs: Callable[[int, str], int],
    ) -> None:
        self.app = app
        self.stalled_after = stalled_after
        self.keep_hours = keep_hours
        self._abandon_runs = abandon_runs

    async def retry_stalled(self) -> list[Job]:
        """Put the jobs of workers silent for ``stalled_after`` seconds back in the queue."""
        return await self._exclusively(self._retry_stalled) or []

    async def forget_old_jobs(self) -> None:
        """Delete finished jobs older than ``keep_hours`` (their runs stay in the store)."""
        await self._exclusively(self._forget_old_jobs)

    async def _exclusively(self, work: Callable[[], Any]) -> Any:
        # Two processes retrying the same stalled job could put it back twice, the second time while
        # a live worker already runs it: an advisory lock makes the check and the retry one step.
        pool = self.app.connector.pool  # type: ignore[attr-defined]
        async with pool.connection() as conn, conn.transaction():
            cursor = await conn.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", _HOUSEKEEPING)
            row = await cursor.fetchone()
            if not (row and row[0]):
                return None  # another process is at it
            return await work()

    async def _retry_stalled(self) -> list[Job]:
        manager = self.app.job_manager
        stalled = list(
            await manager.get_stalled_jobs(
                queue=QUEUE, task_name=SYNC_TASK, seconds_since_heartbeat=self.stalled_after
            )
        )
        for job in stalled:
            assert job.id is not None
            connection = str(job.task_kwargs.get("connection"))
            # Close the dead worker's run before the job can start again under the same job id.
            await asyncio.to_thread(
                self._abandon_runs,
                job.id,
                f"the worker running it stopped sending heartbeats for {self.stalled_after:g}s; "
                f"job {job.id} was retried",
            )
            await self._retry(job)
            log.warning(
                "job %s was running on a worker that stopped sending heartbeats; it is back in the queue",
                job.id,
                extra={"connection": connection, "event": "stalled_job_retried", "job_id": job.id},
            )
        return stalled

    async def _retry(self, job: Job) -> None:
        manager = self.app.job_manager
        assert job.id is not None
        for _ in range(3):
            try:
                await manager.retry_job(job)
                return
            except exceptions.UniqueViolation:
                # A newer job of the connection waits in the queue and holds its queueing lock: the
                # older one goes first, and the newer one would only repeat its work.
                for waiting in _ids(
                    await manager.list_jobs_async(queueing_lock=job.queueing_lock, status="todo")
                ):
                    await manager.cancel_job_by_id_async(waiting)
        await manager.finish_job_by_id_async(job.id, status=Status.ABORTED, delete_job=False)

    async def _forget_old_jobs(self) -> None:
        await self.app.job_manager.delete_old_jobs(
            nb_hours=self.keep_hours,
            queue=QUEUE,
            include_failed=True,
            include_cancelled=True,
            include_aborted=True,
        )


_JOBS_BY_STATUS = sa.text(
    "SELECT status::text AS status, count(*) AS n FROM procrastinate_jobs"
    " WHERE queue_name = :queue AND status::text IN :statuses GROUP BY status"
).bindparams(sa.bindparam("statuses", expanding=True))

# A job waits from the last time it became todo (deferred, retried after its worker died) or from
# the time it was scheduled for, whichever is later; a job scheduled for later is not waiting yet.
_OLDEST_TODO_AGE = sa.text(
    "SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(waiting_since)), 0) FROM ("
    "  SELECT GREATEST(j.scheduled_at,"
    "    (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id)) AS waiting_since"
    "  FROM procrastinate_jobs j"
    "  WHERE j.queue_name = :queue AND j.status = 'todo'"
    "    AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())"
    ") AS due"
)

_WORKERS_ALIVE = sa.text(
    "SELECT count(*) FROM procrastinate_workers"
    " WHERE last_heartbeat > now() - make_interval(secs => :seconds)"
)


def read_queue(engine: sa.Engine, *, alive_within_s: float) -> QueueSnapshot:
    """The queue's jobs by status, the wait of its oldest due job and its live workers.

    Args:
        engine: an engine on the store's PostgreSQL database.
        alive_within_s: a worker whose last heartbeat is older than this is not counted.
    """
    with engine.connect() as conn:
        jobs = {
            str(row.status): int(row.n)
            for row in conn.execute(_JOBS_BY_STATUS, {"queue": QUEUE, "statuses": list(QUEUE_STATUSES)})
        }
        oldest = float(conn.execute(_OLDEST_TODO_AGE, {"queue": QUEUE}).scalar_one())
        alive = int(conn.execute(_WORKERS_ALIVE, {"seconds": alive_within_s}).scalar_one())
    return QueueSnapshot(jobs=jobs, oldest_todo_age_s=oldest, workers_alive=alive)


def _ids(jobs: Iterable[Job]) -> list[int]:
    return [j.id for j in jobs if j.id is not None]


__all__ = [
    "QUEUE",
    "SYNC_TASK",
    "Housekeeping",
    "JobContext",
    "build_app",
    "conninfo",
    "defer_cycle",
    "defer_now",
    "read_queue",
    "sync_lock",
]
