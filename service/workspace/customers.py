"""A customer's account as the workspace shows it: the statement, the dunning timeline, payment behaviour.

Read from the store one customer at a time (the records are indexed by customer), never the book.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from mapping.models import CreditMemo, Customer, Invoice, Payment, Stream
from rules.dunning import history_from_records, summarize_history
from store import StateStore
from store import schema as t
from store.dunning import DunningCalls

__all__ = ["Statement", "find_customers", "statement"]

ZERO = Decimal(0)
PAGE = 50


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find_customers(store: StateStore, connection: str, search: str = "", limit: int = PAGE) -> list[Customer]:
    """Customers whose id, name, e-mail or any other stored field holds ``search`` (any case)."""
    r = t.records.c
    q = sa.select(r.data).where(r.connection == connection, r.stream == "customers", r.deleted.is_(False))
    if search.strip():
        q = q.where(sa.func.lower(r.data).like(f"%{_escape_like(search.strip().lower())}%", escape="\\"))
    with store.engine.connect() as conn:
        rows = conn.execute(q.order_by(r.remote_id).limit(limit)).scalars().all()
    return [Customer.model_validate(json.loads(data)) for data in rows]


@dataclass
class Statement:
    """What a customer owes and has paid, per currency, and what happened in collections."""

    customer: Customer
    as_of: date
    open_invoices: list[Invoice] = field(default_factory=list)
    open_credits: list[CreditMemo] = field(default_factory=list)
    unapplied: list[Payment] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    average_days_late: Decimal | None = None
    trend_days: Decimal | None = None
    payments_counted: int = 0

    def balances(self) -> dict[str, dict[str, Decimal]]:
        """Per currency: open invoices, open credits, unapplied cash and the net balance."""
        out: dict[str, dict[str, Decimal]] = {}

        def row(currency: str) -> dict[str, Decimal]:
            return out.setdefault(
                currency, {"invoices": ZERO, "credits": ZERO, "unapplied": ZERO, "net": ZERO}
            )

        for inv in self.open_invoices:
            row(inv.currency)["invoices"] += inv.open_amount
        for memo in self.open_credits:
            row(memo.currency)["credits"] += abs(memo.open_amount)
        for pay in self.unapplied:
            row(pay.currency)["unapplied"] += pay.unapplied_amount
        for values in out.values():
            values["net"] = values["invoices"] - values["credits"] - values["unapplied"]
        return out


def statement(store: StateStore, connection: str, customer_id: str, as_of: date) -> Statement | None:
    """The customer's statement of account on ``as_of``; None when the store has no such customer."""
    customer = store.get_record(connection, Stream.CUSTOMERS, customer_id)
    if not isinstance(customer, Customer):
        return None
    invoices = [
        i for i in store.customer_records(connection, Stream.INVOICES, customer_id) if isinstance(i, Invoice)
    ]
    memos = [
        m
        for m in store.customer_records(connection, Stream.CREDIT_MEMOS, customer_id)
        if isinstance(m, CreditMemo)
    ]
    payments = [
        p for p in store.customer_records(connection, Stream.PAYMENTS, customer_id) if isinstance(p, Payment)
    ]
    out = Statement(customer, as_of)
    out.open_invoices = sorted(
        (i for i in invoices if not i.deleted and i.open_amount > 0),
        key=lambda i: (i.due_date or i.issue_date, i.remote_id),
    )
    out.open_credits = [m for m in memos if not m.deleted and m.open_amount != 0]
    out.unapplied = [p for p in payments if not p.deleted and p.unapplied_amount > 0]
    summary = summarize_history(history_from_records(customer_id, invoices, payments)).get(customer_id)
    if summary is not None:
        out.average_days_late = summary.average_days_late
        out.trend_days = summary.trend_days
        out.payments_counted = summary.payments
    d = t.dunning_actions
    with store.engine.connect() as conn:
        actions = conn.execute(
            sa.select(d.c.key, d.c.send_at, d.c.sent_at, d.c.channel, d.c.level, d.c.status, d.c.last_error)
            .where(d.c.connection == connection, d.c.customer_id == customer_id)
            .order_by(d.c.send_at)
        ).all()
    for a in actions:
        out.timeline.append(
            {
                "at": str(a.sent_at or a.send_at),
                "kind": "reminder",
                "what": f"level {a.level} by {a.channel}: {a.status.replace('_', ' ')}",
                "detail": a.last_error or "",
                "key": a.key,
            }
        )
    for call in DunningCalls(store).history(connection, customer_id):
        named = ", ".join(call["invoice_ids"])
        what = {
            "reached": "call: reached",
            "no_answer": "call: no answer",
            "promise": f"call: promise to pay {named} by {call.get('promised_date')}",
            "dispute": f"call: dispute of {named} until {call.get('until')}",
        }.get(call["outcome"], f"call: {call['outcome']}")
        out.timeline.append(
            {"at": str(call["at"]), "kind": "call", "what": what, "detail": call.get("note", "")}
        )
    out.timeline.sort(key=lambda e: e["at"], reverse=True)
    return out
