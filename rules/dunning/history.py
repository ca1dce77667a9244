"""What happened before: past dunning actions, payments and promises, summarised per customer.

The planner never keeps the raw history: each entry is folded into a small per-customer summary
(last level per invoice, last contact per currency, recent contacts per channel for the caps,
payment-behaviour counters), so memory grows with customers and their open invoices, not with
the length of the history.

A history file is JSON lines. The ``actions.jsonl`` written by ``arbridge dunning plan`` is a valid
history as it is (planned actions are read as actions, skips are ignored), two more kinds of line
carry payment behaviour for the worklist, and one records what a collector's call achieved::

    {"kind": "payment", "customer_id": "C1", "invoice_id": "INV-1", "due_date": "2026-10-01",
     "paid_date": "2026-10-12", "amount": "120.00", "currency": "EUR"}
    {"kind": "promise", "customer_id": "C1", "invoice_id": "INV-1", "promised_date": "2026-10-20",
     "kept": false}
    {"kind": "call", "customer_id": "C1", "at": "2026-11-20T14:05:00Z", "outcome": "promise",
     "invoice_ids": ["INV-1"], "promised_date": "2026-11-30"}

A call outcome (``reached``, ``no_answer``, ``promise``, ``dispute``) is not a dunning action: it
counts against the call caps, but it neither reaches a level nor restarts a level's gap. A promise
pauses the invoices it names until the day after ``promised_date`` (and, broken, lets the next level
go without waiting); a dispute pauses them until ``until``.
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

__all__ = [
    "CALL_OUTCOMES",
    "CustomerHistory",
    "HistoryEntry",
    "history_from_records",
    "read_history",
    "summarize_history",
]

CALL_OUTCOMES = ("reached", "no_answer", "promise", "dispute")
# Payments whose lateness counts as "recent" for the trend.
RECENT_PAYMENTS = 3
# Keep contact times this far back; longer cap periods than this are not supported.
CONTACT_HORIZON = timedelta(days=90)


def parse_instant(value: str) -> datetime:
    """An ISO 8601 date-time that must carry its zone (``Z`` accepted for UTC).

    Raises:
        ValueError: it is not one; the message says what is expected.
    """
    expected = f"expected a date-time with its zone, e.g. 2026-11-23T10:00:00Z, got {value!r}"
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(expected) from None
    if moment.tzinfo is None:
        raise ValueError(expected)
    return moment


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One past event about a customer.

    Attributes:
        kind: ``action`` (a dunning communication planned and handed to a channel), ``payment``
            (an invoice paid, with its due and paid dates), ``promise`` (a promise to pay, kept or
            not) or ``call`` (what a collector's call attempt achieved).
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
            for that recipient. Absent for actions that went out or may have. Call: one of
            ``CALL_OUTCOMES``.
        until: call with a ``dispute`` outcome: the last day the disputed invoices are paused.
    """

    kind: Literal["action", "payment", "promise", "call"]
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
    until: date | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HistoryEntry | None:
        """Read one JSON line; planned-action lines become actions, skip lines give ``None``.

        Raises:
            ValueError: a key is missing or holds what it cannot; the message names the key and
                what was expected.
        """
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object on each line")
        if "skipped" in data:
            return None
        kind = data.get("kind", "action")
        if kind not in ("action", "payment", "promise", "call"):
            raise ValueError(f"kind: expected action, payment, promise or call, got {kind!r}")
        if data.get("customer_id") in (None, ""):
            raise ValueError("customer_id: a value is required")
        ids = data.get("invoice_ids")
        if ids is None and data.get("invoice_id") is not None:
            ids = [data["invoice_id"]]
        if ids is not None and not isinstance(ids, list):
            raise ValueError(f"invoice_ids: expected a list of invoice ids, got {ids!r}")
        at = data.get("at") or data.get("send_at")
        if kind == "call":
            if data.get("outcome") not in CALL_OUTCOMES:
                raise ValueError(
                    f"outcome: expected one of {', '.join(CALL_OUTCOMES)}, got {data.get('outcome')!r}"
                )
            if not (data.get("at") or data.get("send_at")):
                raise ValueError("at: a call needs the time it was made")
        level = data.get("level")
        if level is not None and (isinstance(level, bool) or not str(level).isdigit()):
            raise ValueError(f"level: expected a whole number of 0 or more, got {level!r}")
        return cls(
            kind=kind,
            customer_id=str(data["customer_id"]),
            at=_key("at" if data.get("at") else "send_at", at, parse_instant) if at else None,
            currency=data.get("currency"),
            level=int(level) if level is not None else None,
            channel=data.get("channel"),
            invoice_ids=tuple(str(i) for i in ids or ()),
            due_date=_day(data, "due_date"),
            paid_date=_day(data, "paid_date"),
            promised_date=_day(data, "promised_date"),
            kept=_flag(data, "kept"),
            amount=_key("amount", data.get("amount"), _decimal) if data.get("amount") is not None else None,
            recipient=data.get("recipient"),
            outcome=data.get("outcome"),
            until=_day(data, "until"),
        )

    def to_json(self) -> dict[str, Any]:
        """The entry as a history line (read back by :meth:`from_json`)."""
        out: dict[str, Any] = {"kind": self.kind, "customer_id": self.customer_id}
        if self.at is not None:
            out["at"] = self.at.isoformat()
        for name in ("currency", "level", "channel", "recipient", "outcome", "kept"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.invoice_ids:
            out["invoice_ids"] = list(self.invoice_ids)
        for name in ("due_date", "paid_date", "promised_date", "until"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name).isoformat()
        if self.amount is not None:
            out["amount"] = str(self.amount)
        return out


def _key(name: str, value: Any, parse: Any) -> Any:
    try:
        return parse(value)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ValueError(f"{name}: {exc}") from None


def _day(data: dict[str, Any], name: str) -> date | None:
    value = data.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name}: expected a date written YYYY-MM-DD, got {value!r}") from None


def _flag(data: dict[str, Any], name: str) -> bool | None:
    value = data.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"{name}: expected true or false, got {value!r}")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f'expected a decimal amount such as "120.50", got {value!r}')
    amount = Decimal(str(value))
    if not amount.is_finite():
        raise ValueError(f'expected a decimal amount such as "120.50", got {value!r}')
    return amount


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
    # payments made after the due date
    late_payments: int = 0
    # the latest RECENT_PAYMENTS payments as (paid_date, days_late), oldest first
    recent: list[tuple[date, int]] = field(default_factory=list)
    broken_promises: int = 0
    kept_promises: int = 0
    # (channel, recipient) pairs that failed for good: channels the planner falls back from
    undeliverable: set[tuple[str, str | None]] = field(default_factory=set)
    # invoice id -> (day promised on a call, when the call was made); the latest call wins
    call_promises: dict[str, tuple[date, datetime]] = field(default_factory=dict)
    # invoice id -> (last day of the pause, when the call was made); the latest call wins
    call_disputes: dict[str, tuple[date, datetime]] = field(default_factory=dict)
    # the latest call attempt and its outcome
    last_call: tuple[datetime, str] | None = None

    def add(self, entry: HistoryEntry, horizon_start: datetime | None) -> None:
        """Fold one entry into the summary."""
        if entry.kind == "call" and entry.at is not None:
            self._add_call(entry, entry.at, horizon_start)
        elif entry.kind == "action" and entry.outcome == "failed":
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
            self.late_payments += late > 0
            self.recent.append((entry.paid_date, late))
            self.recent.sort()
            del self.recent[:-RECENT_PAYMENTS]
        elif entry.kind == "promise" and entry.kept is not None:
            if entry.kept:
                self.kept_promises += 1
            else:
                self.broken_promises += 1

    def _add_call(self, entry: HistoryEntry, at: datetime, horizon_start: datetime | None) -> None:
        # A call attempt counts against the call caps, and only there: no level, no gap, no day.
        if horizon_start is None or at >= horizon_start:
            self.contacts.setdefault("call", []).append(at)
        if self.last_call is None or at >= self.last_call[0]:
            self.last_call = (at, entry.outcome or "")
        if entry.outcome == "promise" and entry.promised_date is not None:
            for inv in entry.invoice_ids:
                prev = self.call_promises.get(inv)
                if prev is None or at >= prev[1]:
                    self.call_promises[inv] = (entry.promised_date, at)
        elif entry.outcome == "dispute" and entry.until is not None:
            for inv in entry.invoice_ids:
                prev = self.call_disputes.get(inv)
                if prev is None or at >= prev[1]:
                    self.call_disputes[inv] = (entry.until, at)

    def promise_for(self, invoice: Invoice) -> date | None:
        """The day the customer promised to pay ``invoice`` by: the ERP's or a call's, the later one."""
        dates = [invoice.promise_to_pay_date, self.call_promises.get(invoice.remote_id, (None,))[0]]
        known = [d for d in dates if d is not None]
        return max(known) if known else None

    def dispute_until(self, invoice_id: str) -> date | None:
        """The last day a dispute recorded on a call pauses ``invoice_id``, if one does."""
        found = self.call_disputes.get(invoice_id)
        return found[0] if found else None

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
    def late_probability(self) -> float | None:
        """The chance the next invoice is paid after its due date: late payments out of all, with one
        late and one on time added (Laplace's rule), so that two payments do not make a certainty;
        ``None`` without payments."""
        if not self.payments:
            return None
        return (self.late_payments + 1) / (self.payments + 2)

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
    """Stream the entries of a JSON-lines history file (blank lines and skip lines are ignored).

    Raises:
        ValueError: a line is not a history entry; the message starts ``file:line[:column]:``.
    """
    lineno = 0
    try:
        with Path(path).open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    entry = _entry(path, lineno, line)
                    if entry is not None:
                        yield entry
    except UnicodeDecodeError:
        raise ValueError(f"{path}:{lineno + 1}: expected UTF-8 text") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read: {exc.strerror or exc}") from None


def _entry(path: str | Path, lineno: int, line: str) -> HistoryEntry | None:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        where = f"{path}:{lineno}:{exc.colno}"
        raise ValueError(f"{where}: expected one JSON object per line ({exc.msg})") from None
    try:
        return HistoryEntry.from_json(data)
    except ValueError as exc:
        raise ValueError(f"{path}:{lineno}: {exc}") from None


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
