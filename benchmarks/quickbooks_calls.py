"""API calls the QuickBooks connector spends, against the sandbox, versus the theoretical minimum.

Run: ``python -m benchmarks.quickbooks_calls [--full | --invoices N --writes N]``; prints JSON lines.
``--full`` is the size the target is stated for: 50,000 invoices and 1,000 write-backs.

* full pull: calls per 1,000 invoices (minimum: one query page of 1,000 per 1,000 records);
* write-back: calls per 1,000 collection-status updates (minimum: one batch per ``batch_max``);
* incremental: one cycle over all four streams after 1% of the invoices changed, as a share of
  the full pull's calls (target: at most 3%).

Token-endpoint calls are reported apart ("plus auth"). The sandbox's throttling is off: the
figures count calls, and the connector's own pacing under Intuit's limits would only add waiting.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import ConnectorContext, Cursor, MemoryKeyValueStore, OutboundOp
from connectors.quickbooks import QuickBooksConnector
from mapping.models import CollectionStatus, CollectionStatusUpdate, Stream, TargetType
from sandboxes.quickbooks.server import QuickBooksSandbox


class _Clock:
    """The sandbox's clock: real time plus the minutes a scenario skips between sync cycles."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def skip(self, minutes: float) -> None:
        self.offset += timedelta(minutes=minutes)


def _api_calls(sandbox: QuickBooksSandbox, since: int) -> tuple[int, int]:
    log = sandbox.requests_log[since:]
    auth = sum(1 for r in log if "oauth" in str(r.get("path")))
    return len(log) - auth, auth


def run(invoices: int, writes: int) -> list[dict[str, Any]]:
    """Run the three scenarios and return one result row per scenario."""
    rows: list[dict[str, Any]] = []
    clock = _Clock()
    sandbox = QuickBooksSandbox(port=0, seed="large", records=invoices, clock=clock, throttle=False).start()
    try:
        settings = {
            "base_url": sandbox.base_url,
            "token_url": sandbox.token_url,
            "realm_id": sandbox.realm_id,
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
            "refresh_token": sandbox.issue_refresh_token(),
            "collection_status_field_id": "1",
        }
        state = MemoryKeyValueStore()

        def connector() -> QuickBooksConnector:
            made = QuickBooksConnector.create(settings, ConnectorContext("bench", state=state))
            assert isinstance(made, QuickBooksConnector)
            return made

        # Full pull of every stream.
        mark = len(sandbox.requests_log)
        started = time.perf_counter()
        conn = connector()
        cursors: dict[Stream, Cursor | None] = {}
        counts: dict[Stream, int] = {}
        versions: dict[str, str] = {}
        per_stream_calls: dict[Stream, int] = {}
        for stream in Stream:
            before = len(sandbox.requests_log)
            n = 0
            for page in conn.read(stream, None):
                n += len(page.records)
                cursors[stream] = page.cursor
                if stream is Stream.INVOICES:
                    versions.update({r.remote_id: r.version or "0" for r in page.records})
            counts[stream] = n
            per_stream_calls[stream] = _api_calls(sandbox, before)[0]
        full_calls, full_auth = _api_calls(sandbox, mark)
        inv_calls = per_stream_calls[Stream.INVOICES]
        minimum = math.ceil(counts[Stream.INVOICES] / 1000)
        rows.append(
            {
                "scenario": "full_pull_invoices",
                "invoices": counts[Stream.INVOICES],
                "api_calls": inv_calls,
                "theoretical_min": minimum,
                "calls_per_1000": round(inv_calls * 1000 / max(1, counts[Stream.INVOICES]), 3),
                "ratio_to_min": round(inv_calls / max(1, minimum), 3),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        all_min = sum(math.ceil(c / 1000) if c else 1 for c in counts.values())
        rows.append(
            {
                "scenario": "full_pull_all_streams",
                "records": {s.value: c for s, c in counts.items()},
                "api_calls": full_calls,
                "auth_calls": full_auth,
                "theoretical_min": all_min,
                "ratio_to_min": round(full_calls / all_min, 3),
            }
        )

        clock.skip(15)  # the next sync cycle
        # Write-back: collection status on `writes` invoices, in batches of batch_max.
        ids = sorted(versions, key=int)[:writes]
        ops = [
            OutboundOp(
                f"bench/collection_status/invoice/{i}",
                CollectionStatusUpdate(
                    target_type=TargetType.INVOICE,
                    target_id=i,
                    base_version=versions[i],
                    collection_status=CollectionStatus.REMINDED,
                    dunning_level=1,
                ),
            )
            for i in ids
        ]
        mark = len(sandbox.requests_log)
        writer = connector()
        results = []
        for i in range(0, len(ops), writer.batch_max):
            results += writer.write(ops[i : i + writer.batch_max])
        write_calls, write_auth = _api_calls(sandbox, mark)
        w_min = math.ceil(len(ops) / writer.batch_max)
        rows.append(
            {
                "scenario": "write_back_collection_status",
                "operations": len(ops),
                "ok": sum(1 for r in results if r.ok),
                "batch_max": writer.batch_max,
                "api_calls": write_calls,
                "auth_calls": write_auth,
                "theoretical_min": w_min,
                "calls_per_1000": round(write_calls * 1000 / max(1, len(ops)), 3),
                "ratio_to_min": round(write_calls / max(1, w_min), 3),
            }
        )

        # Incremental cycle after 1% of the invoices changed (the write-back above also changed
        # invoices, so re-anchor the cursors first with one cycle that is not measured).
        clock.skip(15)
        reader = connector()
        for stream in Stream:
            for page in reader.read(stream, cursors[stream]):
                cursors[stream] = page.cursor
        clock.skip(15)
        changed = max(1, counts[Stream.INVOICES] // 100)
        for ident in sorted(versions, key=int)[-changed:]:
            sandbox.touch("Invoice", ident)
        clock.skip(1)
        mark = len(sandbox.requests_log)
        reader = connector()
        got = 0
        for stream in Stream:
            for page in reader.read(stream, cursors[stream]):
                got += len(page.records)
        inc_calls, inc_auth = _api_calls(sandbox, mark)
        rows.append(
            {
                "scenario": "incremental_1pct_changed",
                "changed": changed,
                "records_read": got,
                "api_calls": inc_calls,
                "auth_calls": inc_auth,
                "full_pull_calls": full_calls,
                "share_of_full_pull": round(inc_calls / full_calls, 4),
            }
        )
    finally:
        sandbox.stop()
    return rows


def main() -> None:
    """Parse arguments, run, print JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--writes", type=int, default=1_000)
    parser.add_argument("--full", action="store_true", help="50,000 invoices, 1,000 write-backs")
    args = parser.parse_args()
    invoices = 50_000 if args.full else args.invoices
    for row in run(invoices, args.writes):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
