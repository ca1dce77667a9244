"""API calls the Business Central connector spends, against the sandbox, versus the minimum.

Run: ``python -m benchmarks.business_central_calls [--full | --invoices N --writes N]``; prints
JSON lines. ``--full`` is the size the targets are stated for: 50,000 invoices, 1,000 write-backs.

* full pull: every stream at BC's largest page (``Prefer: odata.maxpagesize=20000``); the minimum
  is one call per page per stream (records ÷ 20,000, rounded up, at least one) plus the one look-up
  of the company's id (every URL names it; it is remembered afterwards). Target: ≤ 1.1×.
* status write-back: collection status, level and next action date on invoices' ledger entries;
  the minimum is one ``$batch`` per 100 PATCHes (BC's ``$batch`` maximum). Target: ≤ 1.1×.
* payment write-back: one payment applied to one invoice each; the minimum per 100 payments is a
  look-up of their markers (a payment is only safe to send after its key was looked up), one
  ``$batch`` of 100 journal lines, and one post of the journal (a bound action on the extension's
  route, which is a service of its own and cannot share the lines' ``$batch``). Target: ≤ 1.1×.
* applications of existing payments: an unapplied payment applied to an open invoice of its
  customer; the minimum per 100 is a look-up of their keys and entries and one ``$batch`` of
  ``paymentApplications`` rows. Target: ≤ 1.1×.
* incremental: one cycle over all four streams after 1 % of the invoices changed, as a share of
  the full pull's calls (the issue's target: ≤ 3 %), and against its own floor of one call per
  stream.

Token calls are not counted (the on-premises layout signs every call with its access key). The
sandbox's throttling is off: the figures count calls; the connector's pacing would only add waiting.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from benchmarks.common import payment_write_backs, status_write_backs, write_in_batches
from connectors.base import ConnectorContext, Cursor, MemoryKeyValueStore, OutboundOp
from connectors.business_central import BusinessCentralConnector
from mapping.models import Allocation, Invoice, PaymentApplication, Stream, TargetType
from sandboxes.business_central import BusinessCentralSandbox

PAGE_MAX = 20_000
BATCH_MAX = 100


class _Clock:
    """The sandbox's clock: real time plus the minutes a scenario skips between sync cycles."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def skip(self, minutes: float) -> None:
        self.offset += timedelta(minutes=minutes)


def _ratio(calls: int, minimum: int) -> float:
    return round(calls / max(1, minimum), 3)


def run(invoices: int, writes: int) -> list[dict[str, Any]]:
    """Run the five scenarios and return one result row per scenario."""
    rows: list[dict[str, Any]] = []
    clock = _Clock()
    with BusinessCentralSandbox(
        seed="large", invoices=invoices, throttle=False, clock=clock, notification_delay=0
    ) as bc:
        settings = {
            "deployment": "on_premises",
            "server_url": bc.onprem_api_url,
            "username": bc.web_service_user,
            "web_service_key": bc.web_service_key,
            "company": bc.company.name,
        }
        state = MemoryKeyValueStore()

        def connector() -> BusinessCentralConnector:
            made = BusinessCentralConnector.create(settings, ConnectorContext("bench", state=state))
            assert isinstance(made, BusinessCentralConnector)
            return made

        log = bc.requests_log
        mark, started = len(log), time.perf_counter()
        conn = connector()
        cursors: dict[Stream, Cursor | None] = {}
        counts: dict[Stream, int] = {}
        open_invoices: list[Invoice] = []
        for stream in Stream:
            n = 0
            for page in conn.read(stream, None):
                n += len(page.records)
                cursors[stream] = page.cursor
                open_invoices += [r for r in page.records if isinstance(r, Invoice) and r.open_amount > 1]
            counts[stream] = n
        full_calls = len(log) - mark
        minimum = 1 + sum(max(1, math.ceil(c / PAGE_MAX)) for c in counts.values())
        records = sum(counts.values())
        rows.append(
            {
                "scenario": "full_pull_all_streams",
                "records": {s.value: c for s, c in counts.items()},
                "api_calls": full_calls,
                "theoretical_min": minimum,
                "ratio_to_min": _ratio(full_calls, minimum),
                "calls_per_1000": round(full_calls * 1000 / max(1, records), 3),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )

        clock.skip(15)
        chosen = open_invoices[:writes]
        statuses = status_write_backs(
            chosen,
            lambda n, inv: f"bench/collection_status/invoice/{inv.remote_id}",
            versioned=True,
            next_action_date=date(2026, 12, 15),
        )
        sent = write_in_batches(connector(), statuses, BATCH_MAX, calls=lambda: len(log))
        minimum = math.ceil(len(statuses) / BATCH_MAX)
        rows.append(
            {
                "scenario": "write_back_collection_status",
                "operations": len(statuses),
                "ok": sent.ok,
                "api_calls": sent.calls,
                "theoretical_min": minimum,
                "calls_per_1000": round(sent.calls * 1000 / max(1, len(statuses)), 3),
                "ratio_to_min": _ratio(sent.calls, minimum),
                "seconds": round(sent.seconds, 2),
            }
        )

        payments = payment_write_backs(
            chosen,
            lambda n, inv: f"bench/payment_application/customer/{inv.remote_id}",
            Decimal("1.00"),
            date(2026, 12, 1),
        )
        sent = write_in_batches(connector(), payments, BATCH_MAX, calls=lambda: len(log))
        minimum = 3 * math.ceil(len(payments) / BATCH_MAX)
        rows.append(
            {
                "scenario": "write_back_payments",
                "operations": len(payments),
                "ok": sent.ok,
                "posted": sum(
                    1 for e in bc.company.entries.values() if e["externalDocumentNumber"].startswith("ARB-")
                ),
                "api_calls": sent.calls,
                "theoretical_min": minimum,
                "calls_per_1000": round(sent.calls * 1000 / max(1, len(payments)), 3),
                "ratio_to_min": _ratio(sent.calls, minimum),
                "seconds": round(sent.seconds, 2),
            }
        )

        # Existing unapplied payments applied to an open invoice of their customer (cash application).
        unapplied = [
            e
            for e in bc.company.entries.values()
            if e["documentType"] == "Payment" and e["open"] and e["remainingAmount"] <= -1
        ]
        open_by_customer: dict[str, list[Invoice]] = {}
        for inv in open_invoices[writes:]:
            open_by_customer.setdefault(inv.customer_remote_id, []).append(inv)
        applications: list[OutboundOp] = []
        for entry in unapplied:
            pool = open_by_customer.get(entry["customerId"])
            if not pool or len(applications) >= writes:
                continue
            inv = pool.pop()
            applications.append(
                OutboundOp(
                    f"bench/payment_application/payment/{entry['id']}",
                    PaymentApplication(
                        target_type=TargetType.PAYMENT,
                        target_id=entry["id"],
                        payment_id=entry["id"],
                        customer_remote_id=inv.customer_remote_id,
                        amount=Decimal("1.00"),
                        currency=inv.currency,
                        date=date(2026, 12, 1),
                        allocations=[
                            Allocation(
                                target_type=TargetType.INVOICE,
                                target_id=inv.remote_id,
                                amount=Decimal("1.00"),
                            )
                        ],
                    ),
                )
            )
        sent = write_in_batches(connector(), applications, BATCH_MAX, calls=lambda: len(log))
        minimum = 2 * math.ceil(len(applications) / BATCH_MAX)
        rows.append(
            {
                "scenario": "write_back_applications_of_existing_payments",
                "operations": len(applications),
                "ok": sent.ok,
                "api_calls": sent.calls,
                "theoretical_min": minimum,
                "calls_per_1000": round(sent.calls * 1000 / max(1, len(applications)), 3),
                "ratio_to_min": _ratio(sent.calls, minimum),
                "seconds": round(sent.seconds, 2),
            }
        )

        # Incremental cycle after 1 % of the invoices changed (the write-backs above changed
        # entries too, so one cycle that is not measured re-anchors the cursors first).
        clock.skip(15)
        reader = connector()
        for stream in Stream:
            for page in reader.read(stream, cursors[stream]):
                cursors[stream] = page.cursor
        clock.skip(15)
        invoice_ids = sorted(e["id"] for e in bc.company.entries.values() if e["documentType"] == "Invoice")
        changed = max(1, len(invoice_ids) // 100)
        for ident in invoice_ids[:changed]:
            bc.touch("customerLedgerEntries", ident)
        clock.skip(1)
        mark = len(log)
        reader = connector()
        got = 0
        for stream in Stream:
            for page in reader.read(stream, cursors[stream]):
                got += len(page.records)
        calls = len(log) - mark
        rows.append(
            {
                "scenario": "incremental_1pct_changed",
                "changed": changed,
                "records_read": got,
                "api_calls": calls,
                "floor": len(Stream),
                "full_pull_calls": full_calls,
                "share_of_full_pull": round(calls / max(1, full_calls), 4),
            }
        )
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
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
