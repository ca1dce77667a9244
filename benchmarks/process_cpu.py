"""Processor time of processes, of the PostgreSQL backends serving one database, and of the machine.

Read from Linux's ``/proc``: the benchmark's workers, sandbox and database run in processes of
their own, and the machine is shared, so each one's processor time says more than wall time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa

__all__ = ["BackendCpu", "machine_busy_seconds", "process_seconds"]

_TICK = os.sysconf("SC_CLK_TCK")
_SAMPLER = "arbridge-backend-cpu"


def process_seconds(pid: int) -> float:
    """User plus system processor seconds of ``pid`` so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After the command name: state is field 3, utime and stime are fields 14 and 15 of stat(5).
    return (int(fields[11]) + int(fields[12])) / _TICK


def processes_seconds(pids: Iterable[int]) -> float:
    """The sum of :func:`process_seconds` over ``pids``."""
    return sum(process_seconds(p) for p in pids)


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) processor seconds of every core since boot, from ``/proc/stat``."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    total = sum(values[:8])  # user … steal; guest time is already inside user
    return (total - idle) / _TICK, total / _TICK


class BackendCpu:
    """Processor time of the PostgreSQL backends serving one database, sampled in the background.

    A backend that ends between two samples loses its time since the last one, so the figure is a
    slight undercount; the database server's shared processes (checkpointer, WAL writer,
    autovacuum) serve every database and are left out.

    Args:
        engine: an engine on the database to watch (its own sampling session is left out).
        every: seconds between samples.
    """

    def __init__(self, engine: sa.Engine, every: float = 0.25) -> None:
        self.engine = engine
        self.every = every
        self._base: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._since = datetime.now(UTC)

    def start(self) -> BackendCpu:
        self._since = datetime.now(UTC)
        self._thread = threading.Thread(target=self._run, name="backend-cpu", daemon=True)
        self._thread.start()
        self._ready.wait()  # the backends' time so far is known: what follows is counted
        return self

    def stop(self) -> float:
        """Stop sampling; the backends' processor seconds since :meth:`start`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return sum(self._last[p] - self._base[p] for p in self._last)

    def _run(self) -> None:
        try:
            # A session of its own, named so that other samplers on the same database leave it out.
            sampler = sa.create_engine(
                self.engine.url, poolclass=sa.pool.NullPool, connect_args={"application_name": _SAMPLER}
            )
            with sampler.connect() as conn:
                self._sample(conn)
                self._ready.set()
                while not self._stop.wait(self.every):
                    self._sample(conn)
                self._sample(conn)  # what ran until the stop
            sampler.dispose()
        finally:
            self._ready.set()  # a sampler that could not start does not hold the caller up

    def _sample(self, conn: sa.Connection) -> None:
        rows = conn.execute(
            sa.text(
                "SELECT pid, backend_start FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND application_name IS DISTINCT FROM :sampler"
            ),
            {"sampler": _SAMPLER},
        ).all()
        conn.commit()  # a fresh snapshot of the activity view next time
        for pid, began in rows:
            seconds = process_seconds(pid)
            if pid not in self._base:
                # A backend that began after the start counts from zero.
                self._base[pid] = 0.0 if began is not None and began >= self._since else seconds
            self._last[pid] = max(seconds, self._last.get(pid, 0.0))
