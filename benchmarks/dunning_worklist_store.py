"""``arbridge worklist`` over a state store: the top N of 100k customers / 1M invoices / 300k payments.

    python -m benchmarks.dunning_worklist_store              # full size (fills a store first: minutes)
    python -m benchmarks.dunning_worklist_store --scale 0.1  # a tenth of that
    python -m benchmarks.dunning_worklist_store --db FILE    # keep (or reuse) the filled SQLite store
    python -m benchmarks.dunning_worklist_store --url postgresql+psycopg://postgres@127.0.0.1/bench
                                                  # a PostgreSQL store (filled when it holds nothing)

The store is filled in a separate process by a pull through the in-memory connector, so the
measured process holds only what ranking keeps: one customer's documents at a time and the best
``--top`` entries. Prints one JSON line ``{name, n, seconds, per_second, api_calls, peak_rss_mb}``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import measure

CONNECTION = "bench"
# The in-memory ERP issues its invoices from January 2024 on; by June most open ones are overdue.
AS_OF = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)


def fill(url: str, scale: float) -> None:
    """Pull the in-memory ERP into the store at ``url``."""
    from connectors.base import ConnectorContext
    from connectors.registry import discover
    from engine.sync import SyncEngine, SyncOptions
    from store import StateStore

    store = StateStore.open(url)
    settings = {
        "erp": "bench",
        "customers": int(100_000 * scale),
        "invoices": int(1_000_000 * scale),
        "credit_memos": 0,
        "payments": int(300_000 * scale),
        "seed": 7,
    }
    connector = (
        discover(test_doubles=True)
        .get("memory")
        .create(settings, ConnectorContext(connection=CONNECTION, state=store.connector_state(CONNECTION)))
    )
    SyncEngine(store, connector, CONNECTION, SyncOptions(write_back=False)).run_cycle()
    store.close()


def main(argv: list[str] | None = None) -> None:
    """Fill the store (in a child process) unless it exists, then rank and print the measurement."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100k/1M/300k records")
    parser.add_argument("--top", type=int, default=20, help="entries kept, as arbridge worklist --top")
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temporary one)")
    parser.add_argument("--url", help="a store URL instead of a SQLite file, e.g. a PostgreSQL database")
    parser.add_argument("--fill-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fill_only:
        fill(args.url, args.scale)
        return
    from engine.dunning_worklist import worklist_from_store
    from store import StateStore

    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.sqlite"
        url = args.url or f"sqlite:///{db}"
        probe = StateStore.open(url)
        empty = not probe.count_records(CONNECTION)
        probe.close()
        if empty:
            cmd = [sys.executable, "-m", "benchmarks.dunning_worklist_store", "--fill-only"]
            subprocess.run([*cmd, "--url", url, "--scale", str(args.scale)], check=True)

        store = StateStore.open(url)
        name = "dunning.worklist.store" + (f".{store.dialect}" if store.dialect != "sqlite" else "")
        with measure(name) as m:
            ranking = worklist_from_store(store, CONNECTION, AS_OF, top=args.top)
            m.n = ranking.customers
            m.extra = {
                "invoices": store.count_records(CONNECTION).get("invoices", 0),
                "top": len(ranking.entries),
            }
        store.close()


if __name__ == "__main__":
    main()
