"""The check the many-workers test and benchmark rely on finds a connection synced twice at once."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from benchmarks.worker_processes import overlapping_runs
from store import StateStore
from store.schema import runs
from store.state import ts

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_ids = itertools.count()


def run(connection: str, worker: str, start_min: float, end_min: float | None) -> dict[str, object]:
    return {
        "id": f"run-{next(_ids)}",
        "connection": connection,
        "kind": "sync",
        "started_at": ts(T0 + timedelta(minutes=start_min)),
        "finished_at": None if end_min is None else ts(T0 + timedelta(minutes=end_min)),
        "status": "running" if end_min is None else "ok",
        "stats": "{}",
        "worker": worker,
    }


def test_back_to_back_runs_pass_and_runs_started_inside_another_are_reported(tmp_path: Path) -> None:
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(runs),
            [
                # One worker after the other, the second starting the moment the first ended.
                run("company-a", "host:1", 0, 5),
                run("company-a", "host:2", 5, 6),
                # A second worker starts while the first is still syncing, and a third after the
                # second ended but still inside the first's long run.
                run("company-b", "host:1", 0, 10),
                run("company-b", "host:2", 3, 4),
                run("company-b", "host:3", 7, 8),
                # A run that never ended, and a later one.
                run("company-c", "host:1", 0, None),
                run("company-c", "host:2", 30, 31),
            ],
        )
    found = [
        (before.connection, before.worker, after.worker) for before, after in overlapping_runs(store.engine)
    ]
    assert found == [
        ("company-b", "host:1", "host:2"),
        ("company-b", "host:1", "host:3"),
        ("company-c", "host:1", "host:2"),
    ]
