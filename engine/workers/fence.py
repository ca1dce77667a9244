"""Database session locks: one per connection, held for the whole cycle, and the scheduler's.

procrastinate's per-connection lock is a lease that ends with the worker's heartbeats: a worker
paused longer than ``stalled_after`` (a stalled VM, a long network cut) is taken for dead and its
job is retried while it may still be syncing. A PostgreSQL advisory lock belongs to the worker's
database session instead, which ends only when the process is gone or its connection is cut, so
the retried job waits for the first one to really stop.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger("arbridge.workers")

# Advisory-lock namespaces (two-key form) of the per-connection locks.
_SYNC_NAMESPACE = 0x41524253
_REFIT_NAMESPACE = 0x41525246
# The scheduler's lock: one key, in a namespace of its own.
_SCHEDULER = (0x41525343, 0)


def fence_key(connection: str, namespace: int = _SYNC_NAMESPACE) -> tuple[int, int]:
    """The advisory-lock key pair of a connection."""
    digest = hashlib.sha256(connection.encode()).digest()
    return namespace, int.from_bytes(digest[:4], "big", signed=True)


@contextmanager
def connection_fence(engine: Engine, connection: str, stop: threading.Event) -> Iterator[bool]:
    """Hold the connection's lock while the block runs; yields False when ``stop`` came first.

    ``engine`` should not pool connections: the lock lives as long as the session that took it.
    """
    namespace, key = fence_key(connection)
    with engine.connect() as conn:
        waited = False
        while True:
            held = bool(
                conn.execute(
                    sa.text("SELECT pg_try_advisory_lock(:n, :k)"), {"n": namespace, "k": key}
                ).scalar()
            )
            conn.commit()  # the session keeps the lock; no transaction stays open during the cycle
            if held:
                break
            if not waited:
                log.warning(
                    "a worker taken for dead is still syncing this connection; waiting for it to finish",
                    extra={"connection": connection, "event": "fence_wait"},
                )
                waited = True
            if stop.wait(1.0):
                yield False
                return
        try:
            yield True
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:n, :k)"), {"n": namespace, "k": key})
            conn.commit()


@contextmanager
def refit_fence(engine: Engine, connection: str) -> Iterator[bool]:
    """Hold the lock of the connection's model refit; yields False at once when another worker has it.

    A lock of its own, not the cycle's: the connection goes on cycling while its model is refitted.
    """
    namespace, key = fence_key(connection, _REFIT_NAMESPACE)
    with engine.connect() as conn:
        held = bool(
            conn.execute(sa.text("SELECT pg_try_advisory_lock(:n, :k)"), {"n": namespace, "k": key}).scalar()
        )
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:n, :k)"), {"n": namespace, "k": key})
                conn.commit()


class SchedulerLease:
    """Whether this process is the one that offers cycles to the queue: who holds a session lock.

    The queue admits one job per connection and cycle however many processes offer it, so one
    offering process is enough; the others would only ask the database again. The lock belongs to
    the holder's database session: when the holder stops, dies or loses its connection, the next
    ``hold()`` of another process (each second) takes it over.

    ``engine`` should not pool connections, like the fences'.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: sa.Connection | None = None
        self._held = False

    def hold(self) -> bool:
        """True when this process holds the lease, taking it when it is free (blocking; a short query)."""
        namespace, key = _SCHEDULER
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
            if self._held:
                # The lock lasts as long as the session: a session still answering still holds it.
                self._conn.execute(sa.text("SELECT 1"))
            else:
                self._held = bool(
                    self._conn.execute(
                        sa.text("SELECT pg_try_advisory_lock(:n, :k)"), {"n": namespace, "k": key}
                    ).scalar()
                )
            self._conn.commit()
        except sa.exc.DBAPIError:
            # The session is gone, and the lock with it: another process may take it from now on.
            self.release()
            return False
        return self._held

    def release(self) -> None:
        """Give the lease up (closing the session ends the lock)."""
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None:
            with suppress(sa.exc.DBAPIError):
                conn.close()
