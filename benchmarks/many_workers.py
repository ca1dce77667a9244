"""N `arbridge run` workers sharing one PostgreSQL store: cycles per minute and cycle latency at each N.

    python -m benchmarks.many_workers                      # 200 companies, N = 1, 2, 4, 60 s each
    python -m benchmarks.many_workers --duration 120 --workers 1 2 3 4
    python -m benchmarks.many_workers --url postgresql+psycopg://postgres@127.0.0.1:5432/other

One process serves 200 QuickBooks sandbox companies (``benchmarks.qbo_companies``, one realm
each); the store has one connection per company, every one on a short interval, so the task queue
always holds work (at most one job waiting per connection) and the figures are what the workers
can do, not what the schedule asks. The first round syncs every company in full and is not
measured; each N then runs for ``--duration`` seconds after ``--ramp`` seconds of start-up.

For each N it prints a JSON line and, at the end, a table: cycles per minute, the 95th percentile
of a cycle's duration and of its wait in the queue, and the processor seconds per cycle of the
workers, the sandbox and the database's backends, with how busy the whole machine was. Afterwards
it checks the store's ``runs``: no two runs of one connection may overlap. A worker that exits
unasked ends the benchmark, which prints the worker's exit code and the end of its log.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.common import emit
from benchmarks.process_cpu import BackendCpu, machine_busy_seconds, process_seconds, processes_seconds
from benchmarks.qbo_companies import REFRESH_TOKEN, company_settings
from benchmarks.worker_processes import ROOT, exit_report, free_port, overlapping_runs, start_worker
from engine.workers.queue import read_queue

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/arbridge_workers_bench"
SECRET_ENV, REFRESH_ENV = "WORKERS_BENCH_QBO_CLIENT_SECRET", "WORKERS_BENCH_QBO_REFRESH_TOKEN"


@dataclass
class Round:
    """What N workers did in one measured window."""

    workers: int
    seconds: float
    cycles: int
    connections_cycled: int
    p95_cycle_s: float
    median_cycle_s: float
    p95_wait_s: float
    cpu_workers_s: float
    cpu_sandbox_s: float
    cpu_database_s: float
    machine_busy_cores: float
    load_before: float
    load_after: float

    @property
    def per_minute(self) -> float:
        return self.cycles / self.seconds * 60

    def line(self) -> dict[str, Any]:
        per_cycle = max(self.cycles, 1)
        return {
            "name": "many_workers",
            "workers": self.workers,
            "n": self.cycles,
            "seconds": round(self.seconds, 1),
            "cycles_per_minute": round(self.per_minute, 1),
            "connections_cycled": self.connections_cycled,
            "p95_cycle_s": round(self.p95_cycle_s, 3),
            "median_cycle_s": round(self.median_cycle_s, 3),
            "p95_queue_wait_s": round(self.p95_wait_s, 2),
            "cpu_ms_per_cycle": {
                "workers": round(1000 * self.cpu_workers_s / per_cycle, 1),
                "sandbox": round(1000 * self.cpu_sandbox_s / per_cycle, 1),
                "database": round(1000 * self.cpu_database_s / per_cycle, 1),
            },
            "cpu_cores_busy": {
                "workers": round(self.cpu_workers_s / self.seconds, 2),
                "sandbox": round(self.cpu_sandbox_s / self.seconds, 2),
                "database": round(self.cpu_database_s / self.seconds, 2),
                "machine": round(self.machine_busy_cores, 2),
            },
            "load_average": [round(self.load_before, 2), round(self.load_after, 2)],
        }


def prepare_database(url: str, *, fresh: bool) -> sa.Engine:
    """An engine on ``url``, creating the database when it does not exist.

    ``fresh`` drops and recreates it first (the benchmark's own database); otherwise a database
    that already holds a store is refused.
    """
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if fresh:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": target.database}
        ).first()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    engine = sa.create_engine(url)
    if sa.inspect(engine).has_table("runs"):
        raise SystemExit(f"the database at {url} already holds a store; give an empty one")
    return engine


def start_sandbox(companies: int, folder: Path) -> tuple[subprocess.Popen[str], int]:
    """The companies' server in a process of its own; returns it and its port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.qbo_companies", "--companies", str(companies)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=open(folder / "sandbox.log", "wb"),  # noqa: SIM115 - the process owns it
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("serving "):
        raise SystemExit(f"the sandbox did not start: {(folder / 'sandbox.log').read_text()}")
    return proc, int(line.split()[1])


def write_config(folder: Path, url: str, port: int, companies: int, interval: str, concurrency: int) -> Path:
    """One configuration for every worker: a connection per company, secrets as references."""
    entries = []
    for index in range(companies):
        settings = company_settings(port, index, f"${{{SECRET_ENV}}}")
        settings["refresh_token"] = f"${{{REFRESH_ENV}}}"
        lines = "".join(f'\n      {k}: "{v}"' for k, v in settings.items())
        entries.append(
            f"""
  - name: company-{index:04d}
    connector: quickbooks
    schedule: {{interval: {interval}}}
    write_back: {{enabled: true}}
    settings:{lines}"""
        )
    path = folder / "arbridge.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            store: {{url: "{url}"}}
            workers: {{engine: procrastinate, concurrency: {concurrency}, heartbeat: 2s, stalled_after: 10s}}
            connections:"""
        )
        + "".join(entries)
        + "\n"
    )
    path.chmod(0o600)
    return path


def worker_logs(folder: Path, label: str, n: int) -> list[Path]:
    return [folder / f"{label}-worker-{i}.log" for i in range(n)]


def start_workers(n: int, config: Path, folder: Path, label: str) -> list[subprocess.Popen[bytes]]:
    # One configuration file for all: each worker serves its probes on a port of its own.
    return [
        start_worker(config, log, run_options=["--bind", f"127.0.0.1:{free_port()}"])
        for log in worker_logs(folder, label, n)
    ]


def worker_exited(what: str, workers: list[subprocess.Popen[bytes]], logs: list[Path]) -> SystemExit:
    """The benchmark's end when a worker exits unasked, with what the worker said last.

    The logs' folder may be a temporary one, gone once the benchmark ends: the tail is printed.
    """
    stop_workers(workers)
    return SystemExit(f"a worker {what} exited\n{exit_report(workers, logs)}")


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.wait(timeout=60)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def wait_for_first_cycles(
    engine: sa.Engine, companies: int, workers: list[subprocess.Popen[bytes]], logs: list[Path]
) -> float:
    """Wait until every connection has a finished cycle; returns the seconds it took."""
    started = time.monotonic()
    while True:
        if any(w.poll() is not None for w in workers):
            raise worker_exited("during the first full sync", workers, logs)
        try:
            with engine.connect() as conn:
                done = conn.execute(
                    sa.text("SELECT count(DISTINCT connection) FROM runs WHERE status = 'ok'")
                ).scalar_one()
        except sa.exc.ProgrammingError:
            done = 0  # the first worker is still creating the schema
        if done >= companies:
            return time.monotonic() - started
        time.sleep(1)


def cycles_between(
    engine: sa.Engine, since: datetime, until: datetime, up_at: datetime
) -> list[tuple[str, float, float]]:
    """(connection, duration, wait in the queue) of every sync run that finished in the window.

    A cycle waits from when it was due, or from ``up_at`` (all workers taking jobs) for one that
    came due while no worker ran.
    """
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT r.connection, r.started_at, r.finished_at,"
                " (j.args->>'timestamp')::bigint AS due"
                " FROM runs r LEFT JOIN procrastinate_jobs j ON j.id = r.job_id"
                " WHERE r.kind = 'sync' AND r.finished_at IS NOT NULL"
            )
        ).all()
    out = []
    for connection, started_at, finished_at, due in rows:
        started, finished = _moment(started_at), _moment(finished_at)
        if since <= finished <= until:
            ready = max(due, up_at.timestamp()) if due is not None else started.timestamp()
            wait = max(0.0, started.timestamp() - ready)
            out.append((connection, (finished - started).total_seconds(), wait))
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) > 1 else (values[0] if values else 0.0)


def measure_round(
    engine: sa.Engine, n: int, config: Path, folder: Path, sandbox: int, ramp: float, duration: float
) -> Round:
    gone_by = time.monotonic() + 15
    while read_queue(engine, alive_within_s=5).workers_alive and time.monotonic() < gone_by:
        time.sleep(0.5)  # the last round's workers, not yet forgotten by the queue
    workers = start_workers(n, config, folder, f"n{n}")
    logs = worker_logs(folder, f"n{n}", n)
    try:
        # A busy machine takes seconds to start a worker: measure once all of them take jobs.
        while read_queue(engine, alive_within_s=5).workers_alive < n:
            if any(w.poll() is not None for w in workers):
                raise worker_exited(f"of round N={n}", workers, logs)
            time.sleep(0.5)
        up_at = datetime.now(UTC)
        time.sleep(ramp)
        pids = [w.pid for w in workers]
        load_before = os.getloadavg()[0]
        since = datetime.now(UTC)
        cpu_workers, cpu_sandbox = processes_seconds(pids), process_seconds(sandbox)
        busy_before, _ = machine_busy_seconds()
        backends = BackendCpu(engine).start()
        time.sleep(duration)
        if any(w.poll() is not None for w in workers):
            raise worker_exited(f"of round N={n} (measuring)", workers, logs)
        database = backends.stop()
        cpu_workers = processes_seconds(pids) - cpu_workers
        cpu_sandbox = process_seconds(sandbox) - cpu_sandbox
        busy = machine_busy_seconds()[0] - busy_before
        until = datetime.now(UTC)
        load_after = os.getloadavg()[0]
    finally:
        stop_workers(workers)
    seconds = (until - since).total_seconds()
    cycles = cycles_between(engine, since, until, up_at)
    durations = [d for _, d, _ in cycles]
    return Round(
        workers=n,
        seconds=seconds,
        cycles=len(cycles),
        connections_cycled=len({c for c, _, _ in cycles}),
        p95_cycle_s=p95(durations),
        median_cycle_s=statistics.median(durations) if durations else 0.0,
        p95_wait_s=p95([w for _, _, w in cycles]),
        cpu_workers_s=cpu_workers,
        cpu_sandbox_s=cpu_sandbox,
        cpu_database_s=database,
        machine_busy_cores=busy / seconds,
        load_before=load_before,
        load_after=load_after,
    )


def table(rounds: list[Round]) -> str:
    head = (
        "workers  cycles/min  p95 cycle s  median s  p95 queue wait s  connections"
        "  CPU ms/cycle: workers  sandbox  database  cores busy (ours / machine)  load avg"
    )
    lines = [head, "-" * len(head)]
    for r in rounds:
        per = max(r.cycles, 1)
        ours = (r.cpu_workers_s + r.cpu_sandbox_s + r.cpu_database_s) / r.seconds
        lines.append(
            f"{r.workers:>7}  {r.per_minute:>10.0f}  {r.p95_cycle_s:>11.2f}  {r.median_cycle_s:>8.2f}"
            f"  {r.p95_wait_s:>16.1f}  {r.connections_cycled:>11}"
            f"  {1000 * r.cpu_workers_s / per:>21.0f}  {1000 * r.cpu_sandbox_s / per:>7.0f}"
            f"  {1000 * r.cpu_database_s / per:>8.0f}  {ours:>17.2f} / {r.machine_busy_cores:.2f}"
            f"  {r.load_before:.1f}-{r.load_after:.1f}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url",
        help="an empty PostgreSQL database (created if missing); by default the benchmark's own, "
        f"recreated on every run: {DEFAULT_URL}",
    )
    parser.add_argument(
        "--companies", type=int, default=200, help="QuickBooks companies, one connection each"
    )
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2, 4], help="the N to measure, in order"
    )
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds per N")
    parser.add_argument(
        "--ramp", type=float, default=10.0, help="seconds after all N workers are up, not measured"
    )
    parser.add_argument(
        "--interval", default="5s", help="every connection's schedule (short keeps the queue full)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, help="workers.concurrency: cycles at once per worker"
    )
    parser.add_argument("--logs", type=Path, help="keep the configuration and every process's log here")
    args = parser.parse_args()

    url = args.url or DEFAULT_URL
    engine = prepare_database(url, fresh=args.url is None)
    os.environ[SECRET_ENV], os.environ[REFRESH_ENV] = "sandbox-secret", REFRESH_TOKEN
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    kept = contextlib.nullcontext(str(args.logs)) if args.logs else None
    with kept or tempfile.TemporaryDirectory(prefix="arbridge-workers-bench-") as tmp:
        folder = Path(tmp)
        sandbox, port = start_sandbox(args.companies, folder)
        try:
            config = write_config(folder, url, port, args.companies, args.interval, args.concurrency)
            first = start_workers(max(args.workers), config, folder, "first")
            try:
                took = wait_for_first_cycles(
                    engine, args.companies, first, worker_logs(folder, "first", max(args.workers))
                )
            finally:
                stop_workers(first)
            emit(
                {
                    "name": "many_workers_first_full_sync",
                    "workers": max(args.workers),
                    "n": args.companies,
                    "seconds": round(took, 1),
                }
            )
            rounds = []
            for n in args.workers:
                rounds.append(measure_round(engine, n, config, folder, sandbox.pid, args.ramp, args.duration))
                emit(rounds[-1].line())
        finally:
            sandbox.send_signal(signal.SIGTERM)
            sandbox.wait(timeout=30)
        overlaps = overlapping_runs(engine)
        with engine.connect() as conn:
            total = conn.execute(sa.text("SELECT count(*) FROM runs")).scalar_one()
    print(table(rounds))
    print(
        f"no connection synced twice at once: {'yes' if not overlaps else 'NO'}"
        f" ({len(overlaps)} overlapping pairs among {total} runs of {args.companies} connections)"
    )
    for before, after in overlaps[:10]:
        print(
            f"  {before.connection}: {before.worker} {before.started_at}-{before.finished_at}"
            f" overlaps {after.worker} {after.started_at}"
        )
    engine.dispose()
    return 1 if overlaps else 0


if __name__ == "__main__":
    sys.exit(main())
