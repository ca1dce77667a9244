"""The workspace's overview over a state store of 100k customers / 1M invoices / 300k payments.

    python -m benchmarks.workspace_overview              # full size (fills a store first: minutes)
    python -m benchmarks.workspace_overview --scale 0.1  # a tenth of that
    python -m benchmarks.workspace_overview --db FILE    # keep (or reuse) the filled SQLite store
    python -m benchmarks.workspace_overview --url postgresql+psycopg://postgres@127.0.0.1/bench

The figures come from sums kept up to date as records change (``store/insights.py``): the page
renders from a few thousand daily rows, not from the invoices. Measures the refresh that brings
the sums up to date with a freshly filled store (the daemon does it in the background), then
``GET /overview`` through the daemon's app with a logged-in viewer, cold (first request) and warm
(the best of the next three). Prints one JSON line per measurement
``{name, n, seconds, per_second, api_calls, peak_rss_mb, …}``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from benchmarks.common import emit, peak_rss_mb
from benchmarks.dunning_worklist_store import AS_OF, CONNECTION

PASSWORD = "benchmark password"


def main(argv: list[str] | None = None) -> None:
    """Fill the store (in a child process) unless it holds records, then time the overview."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100k/1M/300k records")
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temporary one)")
    parser.add_argument("--url", help="a store URL instead of a SQLite file, e.g. a PostgreSQL database")
    args = parser.parse_args(argv)

    from config.model import ServerConfig
    from service.http import Health, OpsServer, create_app
    from store import StateStore
    from store.users import Users

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
        users = Users(store)
        if users.get("bench") is None:
            users.add("bench", PASSWORD, "viewer", by="benchmark")
        deployment = SimpleNamespace(
            server=ServerConfig(bind="127.0.0.1:8765"),
            connections=[SimpleNamespace(name=CONNECTION, connector="memory", enabled=True)],
            rules=None,
        )
        ops = OpsServer(deployment, store, health=Health(), on_webhook=lambda c, n: None, clock=lambda: AS_OF)
        client = create_app(ops).test_client()
        from store.insights import refresh

        # What the daemon's background refresh does after a pull: the sums catch up with the records.
        started = time.perf_counter()
        read = refresh(store, CONNECTION)
        seconds = round(time.perf_counter() - started, 3)
        emit(
            {
                "name": "workspace.insights.refresh",
                "n": read,
                "seconds": seconds,
                "per_second": round(read / seconds, 1) if seconds else None,
                "api_calls": 0,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
        form = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)})
        invoices = store.count_records(CONNECTION).get("invoices", 0)
        name = "workspace.overview" + (f".{store.dialect}" if store.dialect != "sqlite" else "")
        times = []
        for _ in range(4):
            started = time.perf_counter()
            page = client.get("/overview")
            times.append(time.perf_counter() - started)
            assert page.status_code == 200, page.status_code
        for label, seconds in (("cold", times[0]), ("warm", min(times[1:]))):
            emit(
                {
                    "name": f"{name}.{label}",
                    "n": invoices,
                    "seconds": round(seconds, 3),
                    "per_second": round(invoices / seconds, 1) if seconds else None,
                    "api_calls": 0,
                    "peak_rss_mb": peak_rss_mb(),
                    "target_seconds": 1.0 if label == "warm" else None,
                }
            )
        store.close()


if __name__ == "__main__":
    main()
