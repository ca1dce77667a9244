"""A worker whose registration in the task queue is lost goes on working under a new one.

Every worker that starts deletes the registrations of workers whose heartbeats are older than
``stalled_after``. A live worker on a busy host (or a paused VM) can be among them: it must not die
at the next job it claims, but register again and go on syncing.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from config import parse_config
from connectors.csv.sample import write_sample_exports
from engine.workers import Workers
from engine.workers import service as workers_service
from store import StateStore
from tests.engine.workers.waiting import wait_for

pytestmark = pytest.mark.postgres


def deployment_of_one_shop(postgres_url: str, tmp_path: Path) -> Any:
    exports = write_sample_exports(tmp_path / "exports")
    return parse_config(
        {
            "version": 1,
            "store": {"url": postgres_url},
            "workers": {"engine": "procrastinate", "heartbeat": "1s", "stalled_after": "3s"},
            "connections": [
                {
                    "name": "shop",
                    "connector": "csv",
                    "schedule": {"interval": "1s"},
                    "settings": {"folder": str(exports)},
                }
            ],
        },
        base_dir=tmp_path,
    )


def test_a_worker_taken_for_stalled_by_a_worker_starting_beside_it_goes_on_syncing(
    postgres_url: str, tmp_path: Path
) -> None:
    deployment = deployment_of_one_shop(postgres_url, tmp_path)
    store = StateStore.open(postgres_url)
    stop = threading.Event()
    workers = Workers(deployment, store, stop=stop, name="busy-host")
    exit_code: list[int] = []
    thread = threading.Thread(target=lambda: exit_code.append(workers.run(drain_timeout=10)))

    def query(sql: str) -> list[tuple]:
        with store.engine.begin() as conn:
            result = conn.execute(sa.text(sql))
            return [tuple(r) for r in result] if result.returns_rows else []

    def synced_ok() -> int:
        return len([r for r in store.runs("shop") if r.status == "ok"])

    thread.start()
    try:
        wait_for("the first cycle", lambda: synced_ok() >= 1)
        [(registration,)] = query("SELECT id FROM procrastinate_workers")
        # Its heartbeats come late, and another worker starts: it deletes the registration, as
        # procrastinate does at every worker's start for those silent longer than stalled_after.
        query(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute'"
            f" WHERE id = {int(registration)}"
        )
        assert query("SELECT * FROM procrastinate_prune_stalled_workers_v1(3)") == [(registration,)]
        before = synced_ok()

        # The worker claims its next jobs under a new registration and keeps syncing.
        wait_for(
            "cycles after the registration was deleted",
            lambda: not thread.is_alive() or synced_ok() >= before + 3,
        )
        assert thread.is_alive(), "the worker exited"
        assert [r for (r,) in query("SELECT id FROM procrastinate_workers")] not in ([], [registration])
    finally:
        stop.set()
        thread.join(timeout=30)
    assert exit_code == [0]
    assert query("SELECT count(*) FROM procrastinate_workers") == [(0,)]
    store.close()


def test_a_worker_whose_task_queue_keeps_failing_exits_1_for_its_service_manager_to_restart_it(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from procrastinate import exceptions

    monkeypatch.setattr(workers_service, "_RESTART_PAUSE", 0.01)
    deployment = deployment_of_one_shop(postgres_url, tmp_path)
    store = StateStore.open(postgres_url)
    workers = Workers(deployment, store, stop=threading.Event())
    attempts = []

    async def refused(**_options: object) -> None:
        attempts.append(time.monotonic())
        raise exceptions.ConnectorException("Database error.")

    monkeypatch.setattr(workers.app, "run_worker_async", refused)
    assert workers.run(drain_timeout=5) == 1
    # It tried again, a few times, before giving up.
    assert len(attempts) == workers_service._RESTARTS + 1
    store.close()
