"""Many arbridge processes, on any number of machines, sharing the work of one PostgreSQL store.

With ``workers.engine: procrastinate`` every ``arbridge run`` is a worker of a procrastinate task
queue kept in the store's own database (no other server to run). A connection's cycle is one job;
the per-connection ``lock`` lets one worker at a time sync a connection, the ``queueing_lock`` keeps
at most one more waiting, and a worker that stops sending heartbeats has its job put back in the
queue for another worker. The store's outbox and idempotency keys make a retried cycle safe.
"""

from engine.workers.queue import QUEUE, SYNC_TASK, sync_lock
from engine.workers.service import Workers
from engine.workers.slots import cycle_start

__all__ = ["QUEUE", "SYNC_TASK", "Workers", "cycle_start", "sync_lock"]
