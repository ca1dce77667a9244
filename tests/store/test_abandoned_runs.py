"""A run whose process is gone is shown and stored as abandoned, not ``running`` for ever.

On this machine a dead pid tells at once; a run on another machine is abandoned once its heartbeat
is stale. A run whose process is alive holds its connection: another cycle of it is skipped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from store import ConnectionBusyError, StateStore
from store.runs import STALE_AFTER
from store.state import now, ts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    s = StateStore.open(store_url)
    yield s
    s.close()


def stored_status(store: StateStore, run_id: str) -> str:
    with store.engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT status FROM runs WHERE id = :i"), {"i": run_id}).scalar())


def other_host_run(store: StateStore, heartbeat_age: timedelta) -> str:
    run_id = store.start_run("shop", worker="worker-7.example:4242")
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE runs SET heartbeat_at = :h WHERE id = :i"),
            {"h": ts(now() - heartbeat_age), "i": run_id},
        )
    return run_id


def test_a_run_killed_mid_cycle_is_shown_and_stored_as_abandoned(store: StateStore, store_url: str) -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from store import StateStore; "
            "s = StateStore.open(sys.argv[1]); print(s.start_run('shop'), flush=True); time.sleep(60)",
            store_url,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    # While its process lives, the run is running and holds the connection.
    assert [r.status for r in store.runs("shop")] == ["running"]
    with pytest.raises(ConnectionBusyError, match=f":{child.pid}"):
        store.start_run("shop")
    child.send_signal(signal.SIGKILL)
    child.wait(30)

    [shown] = store.runs("shop")
    assert (shown.id, shown.status) == (run_id, "abandoned")
    assert f":{child.pid}" in (shown.error or "") and "is gone" in (shown.error or "")
    assert stored_status(store, run_id) == "abandoned"
    assert store.start_run("shop"), "the connection is free again"


def test_a_run_on_another_machine_is_abandoned_once_its_heartbeat_is_stale(store: StateStore) -> None:
    stale = other_host_run(store, STALE_AFTER + timedelta(minutes=1))
    assert [r.status for r in store.runs("shop")] == ["abandoned"]
    assert stored_status(store, stale) == "abandoned"


def test_a_run_on_another_machine_with_a_fresh_heartbeat_keeps_its_connection(store: StateStore) -> None:
    alive = other_host_run(store, timedelta(seconds=20))
    assert [r.status for r in store.runs("shop")] == ["running"]
    with pytest.raises(ConnectionBusyError) as refused:
        store.start_run("shop")
    assert "worker-7.example:4242" in str(refused.value) and "this cycle is skipped" in str(refused.value)
    assert stored_status(store, alive) == "running"
    assert store.start_run("other"), "other connections are not held up"
