"""This process as one worker of the shared task queue: its scheduler, its sync jobs, its drain."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from engine.runner import sync_connection
from engine.workers.fence import SchedulerLease, connection_fence, refit_fence
from engine.workers.queue import QUEUE, Housekeeping, JobContext, build_app, defer_cycle, defer_now
from engine.workers.slots import cycle_start
from store import StateStore

log = logging.getLogger("arbridge.workers")

_CONTEXT_KEY = "arbridge_workers"
_TICK = 1.0  # seconds between two looks at the schedules
_FORGET_EVERY = 3600.0  # seconds between two deletions of old finished jobs
# procrastinate's worker that ends unasked is started again, after a pause growing from
# _RESTART_PAUSE to _RESTART_PAUSE_MAX; the process gives up after _RESTARTS failures in a row,
# each within _STEADY seconds of the start before it.
_RESTART_PAUSE, _RESTART_PAUSE_MAX = 1.0, 30.0
_RESTARTS = 5
_STEADY = 60.0


def run_sync_job(context: JobContext, connection: str, timestamp: int = 0, trigger: str = "schedule") -> str:
    """The queue's one task: a full cycle of ``connection`` (``timestamp`` is when it was due)."""
    workers: Workers = context.additional_context[_CONTEXT_KEY]
    assert context.job.id is not None
    log.info(
        "job %s: %s cycle",
        context.job.id,
        trigger,
        extra={"connection": connection, "event": "job_started", "job_id": context.job.id},
    )
    return workers.sync(connection, job_id=context.job.id)


class Workers:
    """Runs this process as a worker of the task queue in the store's PostgreSQL database.

    One worker at a time also schedules: the holder of the scheduler's lease offers every
    connection's current cycle to the queue once per interval. Each second every worker tries to
    take the lease, so when its holder stops or dies another worker goes on within a second.
    Every worker retries the jobs of workers that went silent.

    Args:
        deployment: the loaded configuration (``workers.engine: procrastinate``).
        store: the state store, on PostgreSQL.
        registry: the connectors (discovered when None).
        stop: set to stop claiming jobs; cycles in flight finish their page or batch and return.
        name: how runs and logs name this worker (``host:pid`` when None).
    """

    def __init__(
        self,
        deployment: Any,
        store: StateStore,
        *,
        registry: Any = None,
        stop: threading.Event,
        name: str | None = None,
    ) -> None:
        self.deployment = deployment
        self.store = store
        self.registry = registry
        self.stop = stop
        self.settings = deployment.workers
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.connections = {c.name: c for c in deployment.connections if getattr(c, "enabled", True)}
        self.app = build_app(str(deployment.store.url), run_sync_job, pool_size=self.settings.concurrency + 4)
        self.housekeeping = Housekeeping(
            self.app,
            stalled_after=self.settings.stalled_after.total_seconds(),
            keep_hours=max(1, round(self.settings.keep_jobs.total_seconds() / 3600)),
            abandon_runs=store.abandon_runs,
        )
        # Fences hold a lock for a whole cycle on their own session, outside the store's pool.
        self._fences = sa.create_engine(store.engine.url, poolclass=sa.pool.NullPool)
        self.lease = SchedulerLease(self._fences)
        self._beat: Callable[[], None] = lambda: None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early: list[tuple[str, str]] = []
        self._guard = threading.Lock()
        from engine.background_refit import BackgroundRefits  # numpy loads only in a worker

        # Refits run beside the jobs, each under its own lock: a job slot is never held for a fit.
        self.refits = BackgroundRefits(
            deployment, store, guard=lambda connection: refit_fence(self._fences, connection)
        )

    # -- from other threads -----------------------------------------------------------------------

    def sync_soon(self, connection: str, trigger: str = "webhook", *, wait: bool = False) -> None:
        """Queue a cycle of ``connection`` now, unless one is already waiting (thread-safe).

        Args:
            connection: the connection's name.
            trigger: why, for the job's arguments and the logs (``webhook``, ``resume``).
            wait: block until the job is in the database (a job handing its connection back does).
        """
        with self._guard:
            loop = self._loop
            if loop is None:
                self._early.append((connection, trigger))
                return
        future = asyncio.run_coroutine_threadsafe(defer_now(self.app, connection, trigger), loop)
        future.add_done_callback(lambda f: _log_deferred(f, connection, trigger))
        if wait:
            future.result(timeout=30)

    def sync(self, connection: str, *, job_id: int) -> str:
        """One cycle of ``connection`` for job ``job_id``; returns the run's status."""
        conn = self.connections.get(connection)
        if conn is None:
            log.warning(
                "job %s is for a connection this configuration does not have or disables; skipped",
                job_id,
                extra={"connection": connection, "event": "job_skipped"},
            )
            return "skipped"
        with connection_fence(self._fences, connection, self.stop) as held:
            if not held:
                self.sync_soon(connection, "resume", wait=True)
                return "handed back"
            report = sync_connection(
                self.deployment,
                conn,
                self.store,
                registry=self.registry,
                stop=self.stop,
                on_page=lambda *_: self._beat(),
                worker=self.name,
                job_id=job_id,
            )
            if report.status != "interrupted" and not self.stop.is_set():
                self.refits.after_cycle(connection)
        if report.status == "interrupted":
            # Stopped mid-cycle: another worker (or this one once restarted) goes on from the stored cursors.
            self.sync_soon(connection, "resume", wait=True)
        self._beat()
        return report.status

    # -- the worker -----------------------------------------------------------------------------

    def run(self, *, drain_timeout: float, beat: Callable[[], None] = lambda: None) -> int:
        """Work until ``stop`` is set, then let the cycles in flight finish; 0 on a requested stop.

        Returns 1 when the worker ended without being asked to (the task queue kept failing).
        """
        self._beat = beat
        _route_queue_logs()
        try:
            return asyncio.run(self._main(drain_timeout))
        finally:
            from engine.background_refit import SHUTDOWN_GRACE

            self.refits.close(wait=SHUTDOWN_GRACE)
            self._fences.dispose()

    async def _main(self, drain_timeout: float) -> int:
        loop = asyncio.get_running_loop()
        # Sync cycles run in the loop's default executor: give every concurrent job a thread of its own.
        loop.set_default_executor(
            ThreadPoolExecutor(max_workers=self.settings.concurrency + 4, thread_name_prefix="arbridge-job")
        )
        async with self.app.open_async():
            with self._guard:
                self._loop = loop
                early, self._early = self._early, []
            for connection, trigger in early:
                await defer_now(self.app, connection, trigger)
            worker = asyncio.create_task(self._work(drain_timeout), name="worker")
            scheduler = asyncio.create_task(self._schedule(), name="scheduler")
            log.info(
                "worker %s started: %d connection(s), %d at a time",
                self.name,
                len(self.connections),
                self.settings.concurrency,
                extra={"event": "worker_started"},
            )
            while not self.stop.is_set() and not worker.done():
                await asyncio.sleep(0.2)
            scheduler.cancel()
            worker.cancel()  # procrastinate's graceful stop: claim nothing new, wait for jobs in flight
            results = await asyncio.gather(worker, scheduler, return_exceptions=True)
            with self._guard:
                self._loop = None
        crashed = [
            r for r in results if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
        ]
        for exc in crashed:
            log.error("worker failed: %s", _reason(exc), exc_info=exc, extra={"event": "worker_failed"})
        return 0 if self.stop.is_set() and not crashed else 1

    async def _work(self, drain_timeout: float) -> None:
        """procrastinate's worker, registered again each time it ends without being asked to.

        It ends when a query fails (the database restarting) or when its registration is gone: a
        worker starting elsewhere deletes the registrations whose heartbeats are older than
        ``stalled_after`` (a paused VM, a host too busy to send them in time), and the next job
        this worker claims under the deleted one is refused. Jobs in flight finish first; the
        worker then goes on under a new registration instead of leaving its share of the work
        undone. It gives up (the process exits 1) only when the queue keeps failing.
        """
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await self.app.run_worker_async(
                    queues=[QUEUE],
                    name=self.name,
                    concurrency=self.settings.concurrency,
                    install_signal_handlers=False,
                    update_heartbeat_interval=self.settings.heartbeat.total_seconds(),
                    stalled_worker_timeout=self.settings.stalled_after.total_seconds(),
                    shutdown_graceful_timeout=drain_timeout,
                    additional_context={_CONTEXT_KEY: self},
                )
                failure: Exception = RuntimeError("the task queue's worker stopped (see the error before)")
            except Exception as exc:
                failure = exc
            if self.stop.is_set():
                return
            failures = failures + 1 if time.monotonic() - started < _STEADY else 1
            if failures > _RESTARTS:
                raise failure
            pause = min(_RESTART_PAUSE * 2 ** (failures - 1), _RESTART_PAUSE_MAX)
            log.warning(
                "the task queue's worker stopped: %s; registering again in %gs",
                _reason(failure),
                pause,
                exc_info=failure,
                extra={"event": "worker_restarted"},
            )
            await asyncio.sleep(pause)

    async def offer_cycles(self, now: datetime, offered: dict[str, int]) -> list[int]:
        """Offer each connection's cycle at ``now`` to the queue; returns the ids of the jobs it created.

        ``offered`` remembers the last cycle offered per connection, so the database is asked only
        when a cycle begins; the queue keeps one job per cycle whichever worker offers it first.
        """
        created = []
        for name, conn in self.connections.items():
            start = int(cycle_start(self.deployment.schedule_for(conn), name, now).timestamp())
            if offered.get(name) == start:
                continue
            job_id = await defer_cycle(self.app, name, start)
            offered[name] = start
            if job_id is not None:
                created.append(job_id)
                log.info(
                    "cycle queued as job %s",
                    job_id,
                    extra={"connection": name, "event": "cycle_queued", "job_id": job_id},
                )
        return created

    async def schedule(self, now: datetime, offered: dict[str, int]) -> list[int] | None:
        """Offer the cycles at ``now`` when this worker holds the scheduler's lease (see ``offer_cycles``).

        Returns the ids of the jobs created, or None when another worker schedules. ``offered`` is
        forgotten while another worker schedules: what that one offered is not known here.
        """
        if not await asyncio.to_thread(self.lease.hold):
            offered.clear()
            return None
        return await self.offer_cycles(now, offered)

    async def _schedule(self) -> None:
        try:
            await self._schedule_each_tick()
        finally:
            await asyncio.to_thread(self.lease.release)

    async def _schedule_each_tick(self) -> None:
        offered: dict[str, int] = {}
        next_retry = next_forget = 0.0
        failing = False
        while True:
            try:
                await self.schedule(datetime.now(UTC), offered)
                if time.monotonic() >= next_retry:
                    await self.housekeeping.retry_stalled()
                    next_retry = time.monotonic() + self.settings.heartbeat.total_seconds()
                if time.monotonic() >= next_forget:
                    await self.housekeeping.forget_old_jobs()
                    next_forget = time.monotonic() + _FORGET_EVERY
                if failing:
                    log.warning("task queue reachable again", extra={"event": "queue_reachable"})
                    failing = False
                self._beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be restarting: keep trying, log it once
                if not failing:
                    log.error(
                        "cannot schedule: the task queue does not answer: %s",
                        exc,
                        extra={"event": "queue_unreachable"},
                    )
                    failing = True
            await asyncio.sleep(_TICK)


def _log_deferred(future: Future[int | None], connection: str, trigger: str) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("could not queue a %s cycle: %s", trigger, exc, extra={"connection": connection})
    elif future.result() is None:
        log.info(
            "a cycle is already waiting in the queue", extra={"connection": connection, "trigger": trigger}
        )
    else:
        log.info(
            "%s cycle queued as job %s",
            trigger,
            future.result(),
            extra={"connection": connection, "event": "cycle_queued", "job_id": future.result()},
        )


def _reason(exc: BaseException) -> str:
    """An exception and its causes on one line (procrastinate says only "Database error." itself)."""
    parts: list[str] = []
    while exc is not None and len(parts) < 3:
        text = " ".join(str(exc).split()).rstrip(".")
        parts.append(text or type(exc).__name__)
        exc = exc.__cause__  # type: ignore[assignment]
    return ": ".join(parts)


def _route_queue_logs() -> None:
    """procrastinate's warnings and errors (a failed job, a lost database) go where arbridge logs."""
    ours = logging.getLogger("arbridge")
    queue = logging.getLogger("procrastinate")
    queue.handlers[:] = list(ours.handlers)
    queue.setLevel(logging.WARNING)
    queue.propagate = not ours.handlers
