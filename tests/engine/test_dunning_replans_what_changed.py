"""A cycle's dunning re-plans only the customers whose records, history or pauses changed, plus the
customers whose next step falls due that day, and decides exactly what a plan of the whole book
decides: the same reminders, the same pauses written to the ERP, day after day."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.errors import BadRecordError
from engine.dunning_decider import DunningDecider
from mapping import CreditMemo, Customer, Invoice, Payment, Stream
from mapping.models import DocumentStatus
from store import StateStore
from store import schema as t
from store.dunning import DunningActions, DunningCalls
from tests.engine.fakes import RecordingERP
from tests.engine.incremental_fixtures import cycle

POLICY = """
version: 1
default_time_zone: Europe/Berlin
default_policy: std
contact_window: {channels: []}
payment: {reference: "{customer_id}-{currency}"}
sender: {name: Example GmbH, address: [Hafenstrasse 1, 20457 Hamburg], email: ar@example.de}
caps: [{channel: email, max: 2, period_days: 10}]
policies:
  std:
    minimum_amount: {"*": "5.00"}
    courtesy: {days_before_due: 3, channels: [email]}
    levels:
      - {name: reminder, days_overdue: 5, channels: [email, letter], fee: {EUR: "5.00"}}
      - {name: second, days_overdue: 15, min_gap_days: 7, channels: [email, letter]}
      - {name: final, days_overdue: 30, min_gap_days: 7, channels: [letter, email]}
"""

START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
CUSTOMERS = 24


def book() -> RecordingERP:
    """Customers with invoices falling due over the coming weeks, a few already overdue."""
    erp = RecordingERP(customers=0, invoices=0)
    for c in range(CUSTOMERS):
        erp.put(
            Customer(
                remote_id=f"C{c:02d}",
                name=f"Customer {c}",
                email=f"ap{c}@example.com",
                dunning_block=c == 3,
                remote_modified_at=erp.now(),
                version="0",
            )
        )
        for n in range(2):
            erp.put(
                invoice(
                    erp,
                    f"I{c:02d}-{n}",
                    f"C{c:02d}",
                    START.date() + timedelta(days=(c * 3 + n * 17) % 40 - 12),
                )
            )
    erp.touch(Stream.INVOICES, "I05-0", disputed=True)
    return erp


def invoice(erp: RecordingERP, rid: str, customer: str, due: date, amount: str = "120.00") -> Invoice:
    return Invoice(
        remote_id=rid,
        number=f"INV-{rid}",
        customer_remote_id=customer,
        currency="EUR",
        issue_date=due - timedelta(days=30),
        due_date=due,
        total=Decimal(amount),
        open_amount=Decimal(amount),
        remote_modified_at=erp.now(),
        version="0",
    )


def decided(store: StateStore) -> dict[str, Any]:
    """Everything the dunning rule decided: planned reminders and the statuses queued for the ERP."""
    d, o = t.dunning_actions, t.outbox
    with store.engine.connect() as conn:
        actions = conn.execute(
            sa.select(d.c.key, d.c.customer_id, d.c.level, d.c.channel, d.c.status, d.c.send_at, d.c.payload)
        ).all()
        ops = conn.execute(sa.select(o.c.key, o.c.target_id, o.c.payload, o.c.status)).all()
    return {
        "actions": sorted(
            (k, c, lv, ch, st, at, json.loads(p)["reason"]) for k, c, lv, ch, st, at, p in actions
        ),
        "ops": sorted((k, target, payload, status) for k, target, payload, status in ops),
    }


def test_day_by_day_the_incremental_plan_decides_exactly_what_the_whole_book_plan_decides(
    store_url: str, other_store_url: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    inc_store, full_store = StateStore.open(store_url), StateStore.open(other_store_url)
    two_stores = (inc_store, full_store)
    incremental = DunningDecider(str(policy))
    incremental.settle = timedelta(0)  # cycles follow each other within a second here
    whole = DunningDecider(str(policy), full=True)
    erps = {"inc": book(), "full": book()}
    replanned: dict[int, int | None] = {}

    def on_both(change: Any) -> None:
        for erp in erps.values():
            change(erp)

    def run(store: StateStore, erp: RecordingERP, decider: DunningDecider, as_of: datetime) -> None:
        cycle(store, erp, [decider], as_of, write_back=True)

    for day in range(0, 48):
        as_of = START + timedelta(days=day)
        if day == 1:  # a new invoice, and a payment with money left: a credit for the customer
            on_both(lambda e: e.put(invoice(e, "I07-9", "C07", START.date() - timedelta(days=9), "60.00")))
            on_both(
                lambda e: e.put(
                    Payment(
                        remote_id="P1",
                        customer_remote_id="C08",
                        date=START.date(),
                        currency="EUR",
                        amount=Decimal("500.00"),
                        unapplied_amount=Decimal("500.00"),
                        remote_modified_at=e.now(),
                        version="0",
                    )
                )
            )
        if day == 3:  # a credit memo against an invoice pauses it; the ERP records a promise
            on_both(
                lambda e: e.put(
                    CreditMemo(
                        remote_id="M1",
                        customer_remote_id="C10",
                        currency="EUR",
                        issue_date=START.date(),
                        total=Decimal("20.00"),
                        open_amount=Decimal("20.00"),
                        applies_to_invoice_id="I10-0",
                        status=DocumentStatus.OPEN,
                        remote_modified_at=e.now(),
                        version="0",
                    )
                )
            )
            on_both(
                lambda e: e.touch(
                    Stream.INVOICES, "I11-0", promise_to_pay_date=START.date() + timedelta(days=6)
                )
            )
        if day == 9:  # the invoice is paid; its customer's other invoice's due date moves
            on_both(
                lambda e: e.touch(
                    Stream.INVOICES, "I02-0", open_amount=Decimal(0), status=DocumentStatus.PAID
                )
            )
            on_both(lambda e: e.touch(Stream.INVOICES, "I02-1", due_date=START.date() + timedelta(days=12)))
        if day == 14:  # an invoice booked to the wrong customer is moved to the right one
            on_both(lambda e: e.touch(Stream.INVOICES, "I16-0", customer_remote_id="C17"))
        if day == 12:  # a collector's call: the customer promises to pay in five days
            for store in two_stores:
                DunningCalls(store).record(
                    "acme",
                    "C13",
                    at=as_of,
                    outcome="promise",
                    invoice_ids=["I13-0", "I13-1"],
                    promised_date=as_of.date() + timedelta(days=5),
                )
        if day == 0:  # the ERP refuses the pause of the disputed invoice for good: it is parked
            on_both(
                lambda e: e.op_results.__setitem__("I05-0", BadRecordError("Period closed", erp_code="6150"))
            )
        if day == 20:  # an e-mail fails for good: the planner falls back to the letter
            for store in two_stores:
                failed = [
                    a for a in DunningActions(store).with_status("acme", ["planned"]) if a.channel == "email"
                ]
                DunningActions(store).fail(failed[0].key, "550 no such user", expected=("planned",))
        run(inc_store, erps["inc"], incremental, as_of)
        run(full_store, erps["full"], whole, as_of)
        replanned[day] = incremental.replanned
        assert decided(inc_store) == decided(full_store), f"day {day}: the two plans differ"

    everything = decided(full_store)
    inc_store.close()
    full_store.close()
    assert {a[2] for a in everything["actions"]} >= {0, 1, 2, 3}, "the days ran through every level"
    assert any(op for op in everything["ops"]), "pauses reached the outbox"
    statuses = {(target, status) for _k, target, _p, status in everything["ops"] if target == "I05-0"}
    assert {s for _t, s in statuses} >= {"parked", "done"}, "the refused pause was parked, then decided again"
    # The first cycle plans the book; later ones only what changed or fell due.
    assert replanned[0] is None
    quiet = [n for day, n in replanned.items() if day > 0 and n is not None]
    # Here every customer's invoices run through the whole ladder within the weeks tested, so
    # most days wake many of them; still, no later day needed the whole book.
    assert len(quiet) == 47 and max(quiet) < CUSTOMERS and min(quiet) <= CUSTOMERS // 2, quiet
