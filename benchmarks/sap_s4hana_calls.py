"""Calls to SAP per 1,000 items read and per 1,000 write-backs, against the least the protocol allows.

The minimum for a read is one call per page (items ÷ page size, rounded up, per stream); for
dunning write-backs one ``$batch`` per ``batch_max`` operations. Fixed costs of a connection
(two ``$metadata`` documents, one CSRF token) are counted too, so small runs show them.

    python -m benchmarks.sap_s4hana_calls --invoices 20000 --writes 1000
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import date

from connectors.base import ConnectorContext, MemoryKeyValueStore, OutboundOp
from connectors.sap_s4hana import SapS4HanaConnector
from mapping.models import CollectionStatus, CollectionStatusUpdate, Invoice, Stream, TargetType
from sandboxes.sap_s4hana.server import S4Sandbox


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=4000)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--full", action="store_true", help="20,000 invoices")
    args = parser.parse_args()
    invoices = 20000 if args.full else args.invoices
    with S4Sandbox(seed="large", invoices=invoices) as sap:
        user, password = next(iter(sap.users.items()))
        conn = SapS4HanaConnector.create(
            {
                "base_url": sap.base_url,
                "username": user,
                "password": password,
                "company_codes": sorted(sap.book.company_codes),
                "page_size": args.page_size,
            },
            ConnectorContext("bench", state=MemoryKeyValueStore()),
        )
        assert isinstance(conn, SapS4HanaConnector)
        started = time.monotonic()
        before = sap.calls()
        read = 0
        minimum = 0
        open_invoices: list[Invoice] = []
        for stream in Stream:
            n = 0
            for page in conn.read(stream, None):
                n += len(page.records)
                open_invoices += [r for r in page.records if isinstance(r, Invoice) and r.open_amount > 0]
            read += n
            minimum += max(1, math.ceil(n / args.page_size))
        minimum += 1  # the open partial payments an invoice read needs for open amounts
        fixed = 2  # $metadata of the two services
        calls = sap.calls() - before
        print(
            json.dumps(
                {
                    "name": "sap_s4hana_read",
                    "n": read,
                    "seconds": round(time.monotonic() - started, 2),
                    "api_calls": calls,
                    "minimum": minimum + fixed,
                    "ratio": round(calls / (minimum + fixed), 3),
                    "calls_per_1000": round(calls * 1000 / read, 2),
                }
            ),
            flush=True,
        )

        ops = [
            OutboundOp(
                f"bench-{n}",
                CollectionStatusUpdate(
                    target_type=TargetType.INVOICE,
                    target_id=inv.remote_id,
                    collection_status=CollectionStatus.REMINDED,
                    dunning_level=1 + n % 3,
                    decided_on=date(2026, 12, 1),
                ),
            )
            for n, inv in enumerate(open_invoices[: args.writes])
        ]
        records = {(o.op.target_id.split("/")[4], o.op.target_id.split("/")[0]) for o in ops}
        started = time.monotonic()
        before = sap.calls()
        batch = conn.capabilities.batch_max
        done = 0
        for i in range(0, len(ops), batch):
            done += sum(1 for r in conn.write(ops[i : i + batch]) if r.ok)
        calls = sap.calls() - before
        minimum = math.ceil(len(ops) / batch) + 1  # + the CSRF token before the first change
        print(
            json.dumps(
                {
                    "name": "sap_s4hana_write_back",
                    "n": len(ops),
                    "ok": done,
                    "dunning_records": len(records),
                    "seconds": round(time.monotonic() - started, 2),
                    "api_calls": calls,
                    "minimum": minimum,
                    "ratio": round(calls / minimum, 3),
                    "calls_per_1000": round(calls * 1000 / max(1, len(ops)), 2),
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
