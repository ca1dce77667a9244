"""SOAP calls and pull throughput of the NetSuite connector against the sandbox on loopback.

    python -m benchmarks.netsuite_calls [--full | --invoices N --writes N]

Prints one JSON line per scenario: ``{name, n, seconds, per_second, api_calls, min_calls, ratio,
peak_rss_mb}``. ``min_calls`` is the floor SuiteTalk allows: one call per 1,000 search results
(the largest page), one per 100 records of ``updateList``/``upsertList``, and for incremental pulls
the one ``getDeleted`` call that deletions cannot be learned without. ``--full`` is the size the
target is stated for (10,000 invoices, 1,000 write-backs). The sandbox's concurrency limit is off:
the figures count calls, and the connector keeps its own limit anyway.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.base import ConnectorContext, OutboundOp
from connectors.netsuite import NetSuiteConnector
from mapping.models import (
    Allocation,
    CollectionStatus,
    CollectionStatusUpdate,
    PaymentApplication,
    Stream,
    TargetType,
)
from sandboxes.netsuite import NetSuiteSandbox

PAGE = 1000
LIST = 100


def _connector(sb: NetSuiteSandbox) -> NetSuiteConnector:
    settings = {
        "account": sb.account,
        "consumer_key": sb.consumer_key,
        "consumer_secret": sb.consumer_secret,
        "token_id": sb.token_id,
        "token_secret": sb.token_secret,
        "wsdl_url": sb.wsdl_url,
        "endpoint": sb.url,
        "page_size": PAGE,
        "list_batch_max": LIST,
        "max_concurrency": 2,
    }
    conn = NetSuiteConnector.create(settings, ConnectorContext("benchmark"))
    assert isinstance(conn, NetSuiteConnector)
    conn.client.zeep  # noqa: B018 - the WSDL is loaded once, outside the timings
    return conn


def _emit(name: str, n: int, seconds: float, calls: int, min_calls: int, **extra: Any) -> None:
    print(
        json.dumps(
            {
                "name": name,
                "n": n,
                "seconds": round(seconds, 3),
                "per_second": round(n / seconds, 1) if seconds else None,
                "api_calls": calls,
                "min_calls": min_calls,
                "ratio": round(calls / min_calls, 3) if min_calls else None,
                "calls_per_1000": round(calls * 1000 / n, 2) if n else None,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                **extra,
            }
        ),
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios and print their JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=5_000)
    parser.add_argument("--writes", type=int, default=1_000)
    parser.add_argument("--full", action="store_true", help="10,000 invoices, 1,000 write-backs")
    args = parser.parse_args(argv)
    invoices = 10_000 if args.full else args.invoices

    with NetSuiteSandbox(seed="large", invoices=invoices, throttle=False) as sb:
        conn = _connector(sb)

        start, calls = time.perf_counter(), conn.client.calls
        pages = list(conn.read(Stream.INVOICES, None))
        n = sum(len(p.records) for p in pages)
        _emit(
            "pull_invoices_initial",
            n,
            time.perf_counter() - start,
            conn.client.calls - calls,
            math.ceil(n / PAGE),
            calls_by_operation=dict(conn.client.calls_by_operation),
        )
        cursor = pages[-1].cursor

        changed = sb.ids("invoice")[: args.writes]
        for rid in changed:
            sb.touch("invoice", rid, memo="changed")
        conn.client.calls_by_operation.clear()
        start, calls = time.perf_counter(), conn.client.calls
        n = sum(len(p.records) for p in conn.read(Stream.INVOICES, cursor))
        _emit(
            "pull_invoices_incremental",
            n,
            time.perf_counter() - start,
            conn.client.calls - calls,
            math.ceil(n / PAGE) + 1,
            calls_by_operation=dict(conn.client.calls_by_operation),
        )

        targets = sb.ids("invoice")[: args.writes]
        ops = [
            OutboundOp(
                f"bench-status-{rid}",
                CollectionStatusUpdate(
                    target_type=TargetType.INVOICE,
                    target_id=rid,
                    collection_status=CollectionStatus.REMINDED,
                    dunning_level=1,
                    next_action_date=date(2024, 9, 2),
                ),
            )
            for rid in targets
        ]
        start, calls = time.perf_counter(), conn.client.calls
        results = [r for i in range(0, len(ops), LIST) for r in conn.write(ops[i : i + LIST])]
        assert all(r.ok for r in results)
        _emit(
            "write_collection_status",
            len(ops),
            time.perf_counter() - start,
            conn.client.calls - calls,
            math.ceil(len(ops) / LIST),
        )

        payments: list[OutboundOp] = []
        for rid in sb.ids("invoice"):
            rec = sb.record("invoice", rid)
            if Decimal(rec.findtext("{*}amountRemaining") or "0") >= 1:
                customer = rec.find("{*}entity").get("internalId", "")
                payments.append(
                    OutboundOp(
                        f"bench-pay-{rid}",
                        PaymentApplication(
                            target_type=TargetType.CUSTOMER,
                            target_id=customer,
                            customer_remote_id=customer,
                            amount=Decimal("1.00"),
                            currency="USD",
                            date=date(2024, 9, 2),
                            allocations=[
                                Allocation(
                                    target_type=TargetType.INVOICE, target_id=rid, amount=Decimal("1.00")
                                )
                            ],
                        ),
                    )
                )
            if len(payments) == args.writes:
                break
        start, calls = time.perf_counter(), conn.client.calls
        results = [r for i in range(0, len(payments), LIST) for r in conn.write(payments[i : i + LIST])]
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
        _emit(
            "write_payment_applications",
            len(payments),
            time.perf_counter() - start,
            conn.client.calls - calls,
            math.ceil(len(payments) / LIST),
        )
        conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
