"""Calls to SAP per 1,000 items read and per 1,000 write-backs, against the least the protocol allows.

The minimum for a read is one call per page (items ÷ page size, rounded up, per stream); for
dunning write-backs one ``$batch`` per ``batch_max`` operations. Fixed costs of a connection
(two ``$metadata`` documents, one CSRF token, the journal-entry WSDL) are counted too, so small
runs show them.

Payment applications: one SOAP call per ``batch_max`` payments, and one read of the invoices they
pay. That read is part of the minimum: SAP's automatic clearing matches a payment to an invoice by
the invoice's assignment (and payment reference), which the journal-entry service must be given
and only the item cube holds; the cube takes no ``$batch`` (its metadata says
``Capabilities.BatchSupported`` false), so the invoices of one SOAP call cost one GET at best. The
same read refuses a payment to an invoice already cleared, of another customer or currency,
before anything is posted.

The sandbox runs without its spike arrest, so the calls counted are the connector's own.

    python -m benchmarks.sap_s4hana_calls --invoices 20000 --writes 1000
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import date
from decimal import Decimal

from benchmarks.common import payment_write_backs, status_write_backs, write_in_batches
from connectors.base import ConnectorContext, MemoryKeyValueStore
from connectors.sap_s4hana import SapS4HanaConnector
from mapping.models import Invoice, Stream
from sandboxes.sap_s4hana.server import S4Sandbox

PAYMENT = Decimal("10.00")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=4000)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--full", action="store_true", help="20,000 invoices")
    args = parser.parse_args()
    invoices = 20000 if args.full else args.invoices
    with S4Sandbox(seed="large", invoices=invoices, spike_arrest=None) as sap:
        user, password = next(iter(sap.users.items()))
        conn = SapS4HanaConnector.create(
            {
                "base_url": sap.base_url,
                "username": user,
                "password": password,
                "company_codes": sorted(sap.book.company_codes),
                "page_size": args.page_size,
                "bank_gl_account": "11001020",
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
            pages = max(1, math.ceil(n / args.page_size))
            # A customer's address is on its business partner: one more read per page of customers.
            minimum += 2 * pages if stream is Stream.CUSTOMERS else pages
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

        ops = status_write_backs(
            open_invoices[: args.writes],
            lambda n, inv: f"bench-{n}",
            versioned=False,
            decided_on=date(2026, 12, 1),
        )
        records = {(o.op.target_id.split("/")[4], o.op.target_id.split("/")[0]) for o in ops}
        batch = conn.capabilities.batch_max
        sent = write_in_batches(conn, ops, batch, calls=sap.calls)
        minimum = math.ceil(len(ops) / batch) + 1  # + the CSRF token before the first change
        print(
            json.dumps(
                {
                    "name": "sap_s4hana_write_back",
                    "n": len(ops),
                    "ok": sent.ok,
                    "dunning_records": len(records),
                    "seconds": round(sent.seconds, 2),
                    "api_calls": sent.calls,
                    "minimum": minimum,
                    "ratio": round(sent.calls / minimum, 3),
                    "calls_per_1000": round(sent.calls * 1000 / max(1, len(ops)), 2),
                }
            ),
            flush=True,
        )

        paid = [i for i in open_invoices if i.open_amount >= PAYMENT][: args.writes]
        payments = payment_write_backs(
            paid,
            lambda n, inv: f"bench-pay-{n}",
            PAYMENT,
            date(2026, 12, 2),
            reference=lambda n: f"bank line {n}",
        )
        posted_before = len(sap.book.journal)
        log_from = len(sap.requests_log)
        sent = write_in_batches(conn, payments, batch, calls=sap.calls)
        # One SOAP call and one read of the invoices per batch, + the WSDL before the first post.
        minimum = 2 * math.ceil(len(payments) / batch) + 1
        print(
            json.dumps(
                {
                    "name": "sap_s4hana_payment_applications",
                    "n": len(payments),
                    "ok": sent.ok,
                    "posted": len(sap.book.journal) - posted_before,
                    "seconds": round(sent.seconds, 2),
                    "api_calls": sent.calls,
                    "soap_posts": sum(
                        1 for r in sap.requests_log[log_from:] if r.kind == "soap" and r.method == "POST"
                    ),
                    "minimum": minimum,
                    "ratio": round(sent.calls / minimum, 3),
                    "calls_per_1000": round(sent.calls * 1000 / max(1, len(payments)), 2),
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
