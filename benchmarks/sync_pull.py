"""Full pull of a large ERP through the in-memory connector into a store, then a 1%-changed re-run.

    python -m benchmarks.sync_pull                       # 100k customers / 1M invoices / 300k payments
    python -m benchmarks.sync_pull --scale 0.1           # a tenth of that, for a quick look
    python -m benchmarks.sync_pull --url postgresql+psycopg://postgres@127.0.0.1/bench
                                                         # into an empty PostgreSQL database, then the
                                                         # same pull into SQLite, printed beside it

Targets: at least 20,000 records/s end to end on one core, on SQLite and on PostgreSQL (and
PostgreSQL no slower than SQLite), peak RSS under 500 MB, and the re-run with 1% of the records
changed costing at most 3% of the full run's time. Each line carries the processor time of this
process and the load average, because the machines these run on are often shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import emit, measure, peak_rss_mb
from connectors.base import ConnectorContext
from connectors.registry import discover
from engine.sync import SyncEngine, SyncOptions
from mapping.models import Stream
from store import StateStore


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_average() -> list[float]:
    return [round(x, 1) for x in os.getloadavg()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100k/1M/300k records")
    parser.add_argument("--changed", type=float, default=0.01, help="fraction changed before the re-run")
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temporary one)")
    parser.add_argument("--url", help="an empty store at this URL instead of a SQLite file")
    parser.add_argument(
        "--alone", action="store_true", help="with --url: do not run the same pull into SQLite after it"
    )
    args = parser.parse_args(argv)

    customers, invoices, payments = (
        int(100_000 * args.scale),
        int(1_000_000 * args.scale),
        int(300_000 * args.scale),
    )
    total = customers + invoices + payments
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.sqlite"
        store = StateStore.open(args.url or f"sqlite:///{db}")
        if store.count_records("bench"):
            parser.error(f"the store at {args.url} already holds records; give an empty one")
        cls = discover(test_doubles=True).get("memory")
        settings = {
            "erp": "bench",
            "customers": customers,
            "invoices": invoices,
            "credit_memos": 0,
            "payments": payments,
            "seed": 7,
        }
        connector = cls.create(
            settings, ConnectorContext(connection="bench", state=store.connector_state("bench"))
        )
        engine = SyncEngine(store, connector, "bench", SyncOptions(write_back=False))

        suffix = "" if store.dialect == "sqlite" else f".{store.dialect}"
        with measure("sync_full_pull" + suffix) as full:
            cpu = cpu_seconds()
            report = engine.run_cycle()
            full.n = sum(v.get("new", 0) + v.get("changed", 0) for v in report.pulled.values())
            full.api_calls = report.api_calls
            full.extra = {
                "customers": customers,
                "invoices": invoices,
                "payments": payments,
                "status": report.status,
                "cpu_seconds": round(cpu_seconds() - cpu, 2),
                "load_average": load_average(),
            }
        assert full.n == total, f"pulled {full.n} of {total}"

        erp = cls.erps["bench"]  # type: ignore[attr-defined]
        for stream in (Stream.CUSTOMERS, Stream.INVOICES, Stream.PAYMENTS):
            erp.touch(stream, args.changed, seed=11)
        with measure("sync_incremental_1pct" + suffix) as inc:
            cpu = cpu_seconds()
            report = engine.run_cycle()
            inc.n = sum(v.get("new", 0) + v.get("changed", 0) for v in report.pulled.values())
            inc.api_calls = report.api_calls
            inc.relative_to = full.seconds
            inc.extra = {"cpu_seconds": round(cpu_seconds() - cpu, 2)}
        emit(
            {
                "name": "sync_summary" + suffix,
                "n": total,
                "peak_rss_mb": peak_rss_mb(),
                "db_mb": round(db.stat().st_size / 2**20, 1) if db.exists() else None,
            }
        )
        store.close()
    if args.url and not args.alone:
        beside_sqlite(args, full.n / full.seconds)


def beside_sqlite(args: argparse.Namespace, per_second: float) -> None:
    """The same pull into SQLite, in a process of its own (its own peak memory), and the comparison."""
    command = [sys.executable, "-m", "benchmarks.sync_pull", "--scale", str(args.scale)]
    command += ["--changed", str(args.changed)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    sqlite_rate = None
    for line in done.stdout.splitlines():
        sys.stdout.write(line + "\n")
        fields = json.loads(line)
        if fields.get("name") == "sync_full_pull":
            sqlite_rate = fields["per_second"]
    emit(
        {
            "name": "sync_postgresql_beside_sqlite",
            "postgresql_per_second": round(per_second, 1),
            "sqlite_per_second": sqlite_rate,
            "postgresql_to_sqlite": round(per_second / sqlite_rate, 2) if sqlite_rate else None,
            "load_average": load_average(),
        }
    )


if __name__ == "__main__":
    main()
