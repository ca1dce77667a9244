"""`arbridge run` worker processes on one PostgreSQL store, and the check that they kept apart.

Shared by the many-workers benchmark and the many-workers test: both start real ``arbridge run``
processes and read the store's ``runs`` table afterwards.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["ROOT", "free_port", "overlapping_runs", "start_worker"]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_worker(
    config: Path,
    log: Path,
    *,
    module: str = "sync_daemon",
    global_options: Sequence[str] = (),
    run_options: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """Start ``python -m module [global_options] run -c config [run_options]``, output to ``log``.

    ``module`` is ``sync_daemon`` (the ``arbridge`` command) or a module that registers more
    deciders and then calls it.
    """
    out = open(log, "wb")  # noqa: SIM115 - the process owns it until the end
    try:
        return subprocess.Popen(
            [sys.executable, "-m", module, *global_options, "run", "-c", str(config), *run_options],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    finally:
        out.close()  # the child holds its own copy


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def overlapping_runs(engine: sa.Engine) -> list[tuple[sa.Row[Any], sa.Row[Any]]]:
    """Pairs of runs of one connection where the later one began before the earlier one ended.

    A run that never ended overlaps every later run of its connection. An empty list means no
    connection was ever synced by two processes at once.
    """
    with engine.connect() as conn:
        rows = list(
            conn.execute(
                sa.text(
                    "SELECT connection, worker, job_id, started_at, finished_at FROM runs"
                    " ORDER BY connection, started_at"
                )
            )
        )
    found = []
    for _, runs in itertools.groupby(rows, key=lambda r: r.connection):
        latest_end: datetime | None = None
        holder: sa.Row[Any] | None = None
        for run in runs:
            started = _moment(run.started_at)
            if holder is not None and (latest_end is None or started < latest_end):
                found.append((holder, run))
            end = None if run.finished_at is None else _moment(run.finished_at)
            # The run that ends last so far is the one a later run must not start inside.
            if holder is None or (latest_end is not None and (end is None or end > latest_end)):
                holder, latest_end = run, end
    return found
