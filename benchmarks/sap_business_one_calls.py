"""Calls to SAP Business One's Service Layer per 1,000 records read and per 1,000 write-backs vs the minimum.

The minimum for a read is one call per page per stream (records ÷ page size, rounded up), plus
the one call that lists cancelled payments (payments carry no update stamp), plus the login.
For collection-status write-backs it is one multipart ``$batch`` per ``batch_max`` operations;
for payments one ``$batch`` and one look-up of the outbox keys per ``batch_max`` (B1 has no
idempotency key, so a payment is only safe to send after its key was looked up); for notes
(activities) the same, plus one ``$batch`` of GETs per ``batch_max`` notes about invoices (the
activity needs the invoice's business partner).

    python -m benchmarks.sap_business_one_calls --invoices 20000 --writes 1000
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import date
from decimal import Decimal

from benchmarks.common import payment_write_backs, status_write_backs, write_in_batches
from connectors.base import ConnectorContext, MemoryKeyValueStore, OutboundOp
from connectors.sap_business_one import SapBusinessOneConnector
from connectors.sap_business_one.fields import user_fields
from mapping.models import Invoice, Note, Stream, TargetType
from sandboxes.sap_business_one import ServiceLayerSandbox


def _report(name: str, n: int, seconds: float, calls: int, minimum: int) -> None:
    print(
        json.dumps(
            {
                "name": name,
                "n": n,
                "seconds": round(seconds, 2),
                "api_calls": calls,
                "minimum": minimum,
                "ratio": round(calls / minimum, 3),
                "calls_per_1000": round(calls * 1000 / max(1, n), 2),
            }
        ),
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=4000)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--full", action="store_true", help="20,000 invoices")
    args = parser.parse_args()
    invoices = 20000 if args.full else args.invoices
    with ServiceLayerSandbox(seed="large", invoices=invoices, throttle=False) as b1:
        settings = {
            "service_url": b1.service_root,
            "company_db": b1.company_db,
            "username": b1.user,
            "password": b1.password,
            "page_size": args.page_size,
            "transfer_account": "_SYS00000000103",
        }
        conn = SapBusinessOneConnector.create(
            settings, ConnectorContext("bench", state=MemoryKeyValueStore())
        )
        assert isinstance(conn, SapBusinessOneConnector)
        for field in user_fields(conn.b1):
            b1.company.add_udf(field.body())
        started, before = time.monotonic(), b1.calls()
        read, minimum = 0, 2  # the login, and the list of cancelled payments
        open_invoices: list[Invoice] = []
        for stream in Stream:
            n = 0
            for page in conn.read(stream, None):
                n += len(page.records)
                open_invoices += [r for r in page.records if isinstance(r, Invoice) and r.open_amount > 1]
            read += n
            minimum += max(1, math.ceil(n / args.page_size))
        _report(
            "sap_business_one_read",
            read,
            time.monotonic() - started,
            b1.calls() - before,
            minimum,
        )

        batch = conn.capabilities.batch_max
        chosen = open_invoices[: args.writes]
        statuses = status_write_backs(
            chosen, lambda n, inv: f"status-{n:059d}", versioned=True, decided_on=date(2026, 12, 1)
        )
        sent = write_in_batches(conn, statuses, batch, calls=b1.calls)
        assert sent.ok == len(statuses), f"{len(statuses) - sent.ok} status write-backs failed"
        _report(
            "sap_business_one_status_write_back",
            len(statuses),
            sent.seconds,
            sent.calls,
            math.ceil(len(statuses) / batch),
        )

        payments = payment_write_backs(
            chosen, lambda n, inv: f"payment-{n:058d}", Decimal("1.00"), date(2026, 12, 1)
        )
        sent = write_in_batches(conn, payments, batch, calls=b1.calls)
        assert sent.ok == len(payments), f"{len(payments) - sent.ok} payments failed"
        _report(
            "sap_business_one_payment_write_back",
            len(payments),
            sent.seconds,
            sent.calls,
            2 * math.ceil(len(payments) / batch),
        )

        for kind, per_batch in (("customer", 2), ("invoice", 3)):
            notes = [
                OutboundOp(
                    f"{kind}-note-{n:052d}",
                    Note(
                        target_type=TargetType.CUSTOMER if kind == "customer" else TargetType.INVOICE,
                        target_id=inv.customer_remote_id if kind == "customer" else inv.remote_id,
                        text=f"Call 2026-12-01 by ben: promised to pay {inv.remote_id} by 2026-12-08.",
                        decided_on=date(2026, 12, 1),
                    ),
                )
                for n, inv in enumerate(chosen)
            ]
            sent = write_in_batches(conn, notes, batch, calls=b1.calls)
            assert sent.ok == len(notes), f"{len(notes) - sent.ok} {kind} notes failed"
            _report(
                f"sap_business_one_{kind}_note_write_back",
                len(notes),
                sent.seconds,
                sent.calls,
                per_batch * math.ceil(len(notes) / batch),
            )
        conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
