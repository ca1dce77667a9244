"""`arbridge run` worker processes on one PostgreSQL store, and the check that they kept apart.

Shared by the many-workers benchmark and the many-workers test: both start real ``arbridge run``
processes and read the store's ``runs`` table afterwards.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["ROOT", "exit_report", "free_port", "log_tail", "overlapping_runs", "start_worker"]

_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_ports() -> range:
    try:
        low, high = (int(p) for p in _EPHEMERAL.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    return range(low, high + 1)


def free_port() -> int:
    """A TCP port on loopback that nothing uses now and that no other process is handed meanwhile.

    A worker binds its port seconds after it is chosen (imports, the store's migration). A port
    from the kernel's ephemeral range could be given in the meantime to another process's
    ``bind(0)`` or outgoing connection, and the worker would exit on "address already in use";
    a port below that range is only ever taken by a process that names it.
    """
    ephemeral = _ephemeral_ports()
    candidates = [p for p in range(20000, 32768) if p not in ephemeral]
    for port in random.sample(candidates, k=min(200, len(candidates))):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError("no free TCP port on 127.0.0.1 between 20000 and 32767")


def log_tail(log: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a process's log (what it said before it exited)."""
    try:
        text = log.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {log}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def exit_report(workers: Sequence[subprocess.Popen[bytes]], logs: Sequence[Path], lines: int = 40) -> str:
    """For each worker that has exited: its pid, its exit code and the end of its log."""
    parts = []
    for worker, log in zip(workers, logs, strict=True):
        code = worker.poll()
        if code is not None:
            said = log_tail(log, lines)
            parts.append(f"worker pid {worker.pid} exited with code {code}; the end of {log}:\n{said}")
    return "\n\n".join(parts)


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
