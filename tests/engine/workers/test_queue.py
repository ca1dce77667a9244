"""The shared queue on PostgreSQL: a job per cycle, one waiting at most, a dead worker's job retried."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from config import parse_config
from engine.workers import Workers
from engine.workers.fence import _SCHEDULER
from engine.workers.queue import defer_now
from store import StateStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def deployment(postgres_url: str, tmp_path):
    return parse_config(
        {
            "version": 1,
            "store": {"url": postgres_url},
            "workers": {"engine": "procrastinate", "heartbeat": "1s", "stalled_after": "3s"},
            "connections": [
                {
                    "name": f"company-{i}",
                    "connector": "csv",
                    "schedule": {"interval": "15m"},
                    "settings": {"folder": str(tmp_path)},
                }
                for i in range(3)
            ],
        },
        base_dir=tmp_path,
    )


@pytest.fixture
def store(deployment) -> Iterator[StateStore]:
    s = StateStore.open(str(deployment.store.url))
    yield s
    s.close()


def jobs(store: StateStore) -> list[dict]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, status, attempts, args->>'connection' AS connection"
                " FROM procrastinate_jobs ORDER BY id"
            )
        )
        return [dict(r._mapping) for r in rows]


def test_schedulers_of_three_workers_queue_each_cycle_once(deployment, store: StateStore) -> None:
    schedulers = [Workers(deployment, store, stop=threading.Event(), name=f"w{i}") for i in range(3)]
    now = datetime.now(UTC)

    async def all_offer_at_once() -> list[list[int]]:
        for w in schedulers:
            await w.app.open_async()
        try:
            return await asyncio.gather(*(w.offer_cycles(now, {}) for w in schedulers))
        finally:
            for w in schedulers:
                await w.app.close_async()

    created = asyncio.run(all_offer_at_once())
    assert sorted(j["connection"] for j in jobs(store)) == ["company-0", "company-1", "company-2"]
    assert sum(len(c) for c in created) == 3


def _scheduler_sessions(store: StateStore) -> list[int]:
    """The database sessions holding the scheduler's lease, as PostgreSQL lists them."""
    namespace, key = _SCHEDULER
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = CAST(:n AS oid) AND objid = CAST(:k AS oid) AND database ="
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"n": namespace, "k": key},
        )
        return [int(r.pid) for r in rows]


def test_of_three_workers_one_offers_the_cycles_and_another_takes_over_when_it_dies(
    deployment, store: StateStore
) -> None:
    workers = [Workers(deployment, store, stop=threading.Event(), name=f"w{i}") for i in range(3)]
    now = datetime.now(UTC)
    next_cycles = now + timedelta(minutes=15)  # the connections' interval

    async def schedule_twice_with_a_death_between() -> tuple[list, list, list[int], list]:
        for w in workers:
            await w.app.open_async()
        offered: list[dict[str, int]] = [{} for _ in workers]
        try:
            first = [await w.schedule(now, o) for w, o in zip(workers, offered, strict=True)]
            holders = _scheduler_sessions(store)
            for job in jobs(store):  # the first cycles leave the queue (the next ones would wait behind)
                await workers[0].app.job_manager.cancel_job_by_id_async(job["id"])
            [dead] = [i for i, created in enumerate(first) if created is not None]
            with store.engine.connect() as conn:  # the worker's process dies: its session ends
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": holders[0]})
            await asyncio.sleep(0.5)  # the server lets the session go
            second = [
                await w.schedule(next_cycles, o)
                for i, (w, o) in enumerate(zip(workers, offered, strict=True))
                if i != dead
            ]
            again = await workers[dead].schedule(next_cycles, offered[dead])
            return first, second, holders, [again]
        finally:
            for w in workers:
                w.lease.release()
                await w.app.close_async()

    first, second, holders, [again] = asyncio.run(schedule_twice_with_a_death_between())
    assert len(holders) == 1
    # One worker offered each connection's cycle; the other two did not ask the database.
    assert [len(created) for created in first if created is not None] == [3]
    assert first.count(None) == 2
    # The next cycles were offered by one of the two left, and the dead session's owner stays out.
    assert [len(created) for created in second if created is not None] == [3]
    assert again is None
    queued = sorted(j["connection"] for j in jobs(store))
    assert queued == sorted(2 * ["company-0", "company-1", "company-2"])


def test_a_burst_of_webhooks_leaves_one_waiting_cycle_per_connection(deployment, store: StateStore) -> None:
    worker = Workers(deployment, store, stop=threading.Event())

    async def burst() -> list[int | None]:
        async with worker.app.open_async():
            return [await defer_now(worker.app, "company-1", "webhook") for _ in range(10)]

    ids = asyncio.run(burst())
    assert len([i for i in ids if i is not None]) == 1
    assert [(j["connection"], j["status"]) for j in jobs(store)] == [("company-1", "todo")]


def test_the_job_of_a_worker_that_went_silent_goes_back_to_the_queue(deployment, store: StateStore) -> None:
    worker = Workers(deployment, store, stop=threading.Event())

    async def die_while_running_then_reap() -> tuple[int, int]:
        async with worker.app.open_async():
            manager = worker.app.job_manager
            first = await defer_now(worker.app, "company-2", "webhook")
            dead = await manager.register_worker()
            job = await manager.fetch_job(queues=None, worker_id=dead)
            assert job is not None and job.id == first
            # While the dead worker's job holds the connection, the next cycle waits behind it.
            waiting = await defer_now(worker.app, "company-2", "schedule")
            assert waiting is not None
            await asyncio.to_thread(store.start_run, "company-2", worker="dead:1", job_id=first)
            assert await worker.housekeeping.retry_stalled() == []  # still within stalled_after
            await worker.app.connector.execute_query_async(  # type: ignore[attr-defined]
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute'"
                " WHERE id = %(id)s",
                id=dead,
            )
            retried = await worker.housekeeping.retry_stalled()
            assert [j.id for j in retried] == [first]
            return first, waiting

    first, waiting = asyncio.run(die_while_running_then_reap())
    by_id = {j["id"]: j for j in jobs(store)}
    assert by_id[first]["status"] == "todo" and by_id[first]["attempts"] == 1
    assert by_id[waiting]["status"] == "cancelled"  # the retried job does the same work
    [run] = store.runs("company-2")
    assert run.status == "abandoned" and run.finished_at is not None and run.job_id == first


def test_a_webhook_pull_is_run_by_a_worker_which_then_stops_cleanly(postgres_url: str, tmp_path) -> None:
    from connectors.csv.sample import write_sample_exports

    exports = write_sample_exports(tmp_path / "exports")
    deployment = parse_config(
        {
            "version": 1,
            "store": {"url": postgres_url},
            "workers": {"engine": "procrastinate"},
            "connections": [{"name": "shop", "connector": "csv", "settings": {"folder": str(exports)}}],
        },
        base_dir=tmp_path,
    )
    store = StateStore.open(postgres_url)
    stop = threading.Event()
    workers = Workers(deployment, store, stop=stop, name="test-worker")
    workers.sync_soon("shop", "webhook")  # arrives before the worker is up: kept until it is
    exit_code: list[int] = []
    thread = threading.Thread(target=lambda: exit_code.append(workers.run(drain_timeout=10)))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not [r for r in store.runs("shop") if r.status == "ok"]:
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert exit_code == [0]
    first = store.runs("shop")[-1]
    assert first.status == "ok" and first.worker == "test-worker"
    assert store.count_records("shop")
    with store.engine.connect() as conn:
        trigger = conn.execute(
            sa.text("SELECT args->>'trigger' FROM procrastinate_jobs WHERE id = :j"), {"j": first.job_id}
        ).scalar_one()
        live = conn.execute(sa.text("SELECT count(*) FROM procrastinate_workers")).scalar_one()
    assert trigger == "webhook"
    assert live == 0  # a worker that stops cleanly leaves no heartbeat behind
    store.close()
