"""What happened before: past dunning actions, payments and promises, summarised per customer.

The planner never keeps the raw history: each entry is folded into a small per-customer summary
(last level per invoice, last contact per currency, recent contacts per channel for the caps,
payment-behaviour counters), so memory grows with customers and their open invoices, not with
the length of the history.

A history file is JSON lines. The ``actions.jsonl`` written by ``arbridge dunning plan`` is a valid
history as it is (planned actions are read as actions, skips are ignored), and two more kinds of
line carry payment behaviour for the worklist::

    {"kind": "payment", "customer_id": "C1", "invoice_id": "INV-1", "due_date": "2026-10-01",
     "paid_date": "2026-10-12", "amount": "120.00", "currency": "EUR"}
    {"kind": "promise", "customer_id": "C1", "invoice_id": "INV-1", "promised_date": "2026-10-20",
     "kept": false}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from mapping.models import DocumentStatus, Invoice, Payment, TargetType

__all__ = ["CustomerHistory", "HistoryEntry", "history_from_records", "read_history", "summarize_history"]

# Payments whose lateness counts as "recent" for the trend.
RECENT_PAYMENTS = 3
# Keep contact times this far back; longer cap periods than this are not supported.
CONTACT_HORIZON = timedelta(days=90)


def parse_instant(value: str) -> datetime:
    """An ISO 8601 date-time that must carry its zone (``Z`` accepted for UTC)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"history time {value!r} has no time zone")
    return moment


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One past event about a customer.

    Attributes:
        kind: ``action`` (a dunning communication planned and handed to a channel), ``payment``
            (an invoice paid, with its due and paid dates) or ``promise`` (a promise to pay, kept or not).
        customer_id: the customer's ERP id.
        at: when it happened (for actions: the scheduled send time).
        currency: the currency of the action or payment.
        level: the dunning level of an action (0 = courtesy notice).
        channel: the channel of an action.
        invoice_ids: the invoices an action listed, or the one invoice of a payment or promise.
        due_date: payment: the invoice's due date.
        paid_date: payment: the day it was paid.
        promised_date: promise: the day the customer promised to pay by.
        kept: promise: whether it was kept.
        amount: payment: the amount paid.
        recipient: action: the e-mail address or phone number it went to.
        outcome: action: ``failed`` when the channel refused it for good (an e-mail bounced as
            unknown, a call task that could not be filed): it did not reach the customer, so it
            counts neither as a level reached nor as a contact, and the planner avoids that channel
            for that recipient. Absent for actions that went out or may have.
    """

    kind: Literal["action", "payment", "promise"]
    customer_id: str
    at: datetime | None = None
    currency: str | None = None
    level: int | None = None
    channel: str | None = None
    invoice_ids: tuple[str, ...] = ()
    due_date: date | None = None
    paid_date: date | None = None
    promised_date: date | None = None
    kept: bool | None = None
    amount: Decimal | None = None
    recipient: str | None = None
    outcome: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HistoryEntry | None:
        """Read one JSON line; planned-action lines become actions, skip lines give ``None``."""
        if "skipped" in data:
            return None
        kind = data.get("kind", "action")
        ids = data.get("invoice_ids")
        if ids is None and data.get("invoice_id") is not None:
            ids = [data["invoice_id"]]
        at = data.get("at") or data.get("send_at")
        return cls(
            kind=kind,
            customer_id=str(data["customer_id"]),
            at=parse_instant(at) if at else None,
            currency=data.get("currency"),
            level=int(data["level"]) if data.get("level") is not None else None,
            channel=data.get("channel"),
            invoice_ids=tuple(str(i) for i in ids or ()),
            due_date=date.fromisoformat(data["due_date"]) if data.get("due_date") else None,
            paid_date=date.fromisoformat(data["paid_date"]) if data.get("paid_date") else None,
            promised_date=date.fromisoformat(data["promised_date"]) if data.get("promised_date") else None,
            kept=data.get("kept"),
            amount=Decimal(str(data["amount"])) if data.get("amount") is not None else None,
            recipient=data.get("recipient"),
            outcome=data.get("outcome"),
        )


@dataclass(slots=True)
class CustomerHistory:
    """The summary of one customer's history that the planner and the worklist need."""

    # invoice id -> (highest level sent, when it was sent)
    invoice_levels: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    # currency -> time of the last escalation-ladder action (level >= 1)
    last_level_at: dict[str, datetime] = field(default_factory=dict)
    # currency -> time of the last action of any level (courtesy included)
    last_contact_at: dict[str, datetime] = field(default_factory=dict)
    # channel -> contact times inside the horizon (for the per-channel caps)
    contacts: dict[str, list[datetime]] = field(default_factory=dict)
    payments: int = 0
    days_late_total: int = 0
    # the latest RECENT_PAYMENTS payments as (paid_date, days_late), oldest first
    recent: list[tuple[date, int]] = field(default_factory=list)
    broken_promises: int = 0
    kept_promises: int = 0
    # (channel, recipient) pairs that failed for good: channels the planner falls back from
    undeliverable: set[tuple[str, str | None]] = field(default_factory=set)

    def add(self, entry: HistoryEntry, horizon_start: datetime | None) -> None:
        """Fold one entry into the summary."""
        if entry.kind == "action" and entry.outcome == "failed":
            if entry.channel:
                self.undeliverable.add((entry.channel, entry.recipient))
        elif entry.kind == "action" and entry.at is not None and entry.level is not None:
            for inv in entry.invoice_ids:
                prev = self.invoice_levels.get(inv)
                if prev is None or (entry.level, entry.at) > prev:
                    self.invoice_levels[inv] = (entry.level, entry.at)
            cur = entry.currency or ""
            _keep_latest(self.last_contact_at, cur, entry.at)
            if entry.level >= 1:
                _keep_latest(self.last_level_at, cur, entry.at)
            if entry.channel and (horizon_start is None or entry.at >= horizon_start):
                self.contacts.setdefault(entry.channel, []).append(entry.at)
        elif entry.kind == "payment" and entry.due_date is not None and entry.paid_date is not None:
            late = max(0, (entry.paid_date - entry.due_date).days)
            self.payments += 1
            self.days_late_total += late
            self.recent.append((entry.paid_date, late))
            self.recent.sort()
            del self.recent[:-RECENT_PAYMENTS]
        elif entry.kind == "promise" and entry.kept is not None:
            if entry.kept:
                self.kept_promises += 1
            else:
                self.broken_promises += 1

    def contacts_between(self, channel: str, start: datetime, end: datetime) -> int:
        """How many contacts on ``channel`` fall in ``(start, end]``."""
        return sum(1 for t in self.contacts.get(channel, ()) if start < t <= end)

    @property
    def average_days_late(self) -> Decimal | None:
        """Mean days late over all recorded payments, or ``None`` without payments."""
        if not self.payments:
            return None
        return Decimal(self.days_late_total) / self.payments

    @property
    def trend_days(self) -> Decimal | None:
        """Recent mean days late minus the earlier mean: positive means paying later than before."""
        older = self.payments - len(self.recent)
        if older <= 0 or not self.recent:
            return None
        recent_total = sum(late for _, late in self.recent)
        return Decimal(recent_total) / len(self.recent) - Decimal(self.days_late_total - recent_total) / older


def _keep_latest(target: dict[str, datetime], key: str, moment: datetime) -> None:
    prev = target.get(key)
    if prev is None or moment > prev:
        target[key] = moment


def summarize_history(
    entries: Iterable[HistoryEntry], as_of: datetime | None = None
) -> dict[str, CustomerHistory]:
    """Fold a history stream into one summary per customer.

    Args:
        entries: past events in any order.
        as_of: the planning time; contacts older than the caps' horizon before it are dropped.

    Returns:
        customer id -> summary.
    """
    horizon_start = as_of - CONTACT_HORIZON if as_of is not None else None
    out: dict[str, CustomerHistory] = {}
    for entry in entries:
        summary = out.get(entry.customer_id)
        if summary is None:
            summary = out[entry.customer_id] = CustomerHistory()
        summary.add(entry, horizon_start)
    return out


def read_history(path: str | Path) -> Iterator[HistoryEntry]:
    """Stream the entries of a JSON-lines history file (blank lines and skip lines are ignored)."""
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                entry = HistoryEntry.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: not a history entry: {exc}") from exc
            if entry is not None:
                yield entry


def history_from_records(
    customer_id: str,
    invoices: Sequence[Invoice],
    payments: Iterable[Payment],
    *,
    default_terms_days: int = 30,
) -> Iterator[HistoryEntry]:
    """A customer's payment behaviour read from its ERP records instead of history files.

    Every allocation of a payment to one of ``invoices`` is a payment made on its applied date (or
    the payment's date); a promise to pay on an invoice that has since been paid in full was kept
    when the last payment came by the promised day, and broken otherwise. (Open invoices whose
    promise date has passed are counted by the worklist itself.)

    Args:
        customer_id: the customer's ERP id.
        invoices: its invoices, in any status.
        payments: its payments with their allocations.
        default_terms_days: days after the issue date for invoices without a due date.

    Yields:
        ``payment`` and ``promise`` entries.
    """
    by_id = {inv.remote_id: inv for inv in invoices}
    last_paid: dict[str, date] = {}
    for payment in payments:
        if payment.deleted:
            continue
        for alloc in payment.allocations:
            inv = by_id.get(alloc.target_id)
            if alloc.target_type != TargetType.INVOICE or inv is None or alloc.amount <= 0:
                continue
            paid = alloc.applied_date or payment.date
            due = inv.due_date or inv.issue_date + timedelta(days=default_terms_days)
            last_paid[inv.remote_id] = max(paid, last_paid.get(inv.remote_id, paid))
            yield HistoryEntry(
                kind="payment",
                customer_id=customer_id,
                currency=payment.currency,
                invoice_ids=(inv.remote_id,),
                due_date=due,
                paid_date=paid,
                amount=alloc.amount,
            )
    for inv in invoices:
        promised = inv.promise_to_pay_date
        paid_on = last_paid.get(inv.remote_id)
        if promised is None or paid_on is None or inv.deleted:
            continue
        if inv.status == DocumentStatus.PAID or inv.open_amount <= 0:
            yield HistoryEntry(
                kind="promise",
                customer_id=customer_id,
                invoice_ids=(inv.remote_id,),
                promised_date=promised,
                kept=paid_on <= promised,
            )
