"""Full pull of a large ERP through the in-memory connector into a store, then a 1%-changed re-run.

    python -m benchmarks.sync_pull                       # 100k customers / 1M invoices / 300k payments
    python -m benchmarks.sync_pull --scale 0.1           # a tenth of that, for a quick look
    python -m benchmarks.sync_pull --url postgresql+psycopg://postgres@127.0.0.1/bench
                                                         # into an empty PostgreSQL database

Targets: at least 20,000 records/s end to end on one core, peak RSS under 500 MB, and the re-run
with 1% of the records changed costing at most 3% of the full run's time.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.common import emit, measure, peak_rss_mb
from connectors.base import ConnectorContext
from connectors.registry import discover
from engine.sync import SyncEngine, SyncOptions
from mapping.models import Stream
from store import StateStore


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100k/1M/300k records")
    parser.add_argument("--changed", type=float, default=0.01, help="fraction changed before the re-run")
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temporary one)")
    parser.add_argument("--url", help="an empty store at this URL instead of a SQLite file")
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
            report = engine.run_cycle()
            full.n = sum(v.get("new", 0) + v.get("changed", 0) for v in report.pulled.values())
            full.api_calls = report.api_calls
            full.extra = {
                "customers": customers,
                "invoices": invoices,
                "payments": payments,
                "status": report.status,
            }
        assert full.n == total, f"pulled {full.n} of {total}"

        erp = cls.erps["bench"]  # type: ignore[attr-defined]
        for stream in (Stream.CUSTOMERS, Stream.INVOICES, Stream.PAYMENTS):
            erp.touch(stream, args.changed, seed=11)
        with measure("sync_incremental_1pct" + suffix) as inc:
            report = engine.run_cycle()
            inc.n = sum(v.get("new", 0) + v.get("changed", 0) for v in report.pulled.values())
            inc.api_calls = report.api_calls
            inc.relative_to = full.seconds
        emit(
            {
                "name": "sync_summary",
                "n": total,
                "peak_rss_mb": peak_rss_mb(),
                "db_mb": round(db.stat().st_size / 2**20, 1) if db.exists() else None,
            }
        )
        store.close()


if __name__ == "__main__":
    main()
