"""The dunning planner: which customer gets which level, on which channel, when — and why not.

Pure functions over the canonical model. For a given policy, records, history and ``as_of`` the
output is always the same, and every planned action and every skip carries its reason.

The rules, in the order they are applied per customer and currency:

1. A dunning block on the customer pauses everything for that customer.
2. Per invoice: a dunning block on the invoice, a dispute, a credit memo pending against it, or a
   promise to pay whose date has not passed pause that invoice (it is left out of the letter).
3. The level of a customer/currency is the highest level its open invoices already received; the
   next communication is exactly one level higher (no level is ever skipped). It waits until the
   oldest open invoice is ``days_overdue`` late and ``min_gap_days`` have passed since the previous
   level. A broken promise (date passed, invoice still open, nothing sent since) waives both waits.
4. At most one communication per customer and currency per local day; it lists all overdue,
   unpaused invoices in that currency (grouping) and the customer's credits in that currency
   (unapplied payments, open credit memos) as credit lines. Nothing is sent when the credits cover
   the overdue invoices, nor below the policy's minimum amount for that currency (after credits).
5. The channel is the level's first channel the customer has not opted out of, has an address for
   (e-mail, phone, a postal address for letters), and whose per-channel cap is not reached; the
   level's ``also`` channels go out as well, each where it is allowed. The send time is the next
   moment inside the customer's contact window (for channels that reach a person).
"""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from mapping.models import (
    CollectionStatus,
    CreditMemo,
    Customer,
    DocumentStatus,
    Invoice,
    Payment,
    TargetType,
)
from rules.dunning.contact import next_contact_time, zone_for
from rules.dunning.credits import CreditLine, credit_lines, is_open_memo, total_credit
from rules.dunning.history import CustomerHistory, HistoryEntry, parse_instant, summarize_history
from rules.dunning.money import InterestSpan, interest_for, interest_spans, quantize
from rules.dunning.policy import Channel, DunningPolicy, Level, Policy, amount_for

__all__ = [
    "ActionLine",
    "CreditLine",
    "CustomerGroup",
    "PlannedAction",
    "Skip",
    "SkipCode",
    "action_from_json",
    "memo_pending",
    "plan",
    "plan_customer",
    "plan_groups",
]

_OPEN = (DocumentStatus.OPEN, DocumentStatus.PARTIALLY_PAID)


class SkipCode:
    """The machine-readable ``skipped`` values (the ``reason`` says it in words)."""

    CUSTOMER_DUNNING_BLOCK = "customer_dunning_block"
    INVOICE_DUNNING_BLOCK = "invoice_dunning_block"
    DISPUTED = "disputed"
    PROMISE_TO_PAY = "promise_to_pay"
    CREDIT_MEMO_PENDING = "credit_memo_pending"
    BELOW_MINIMUM = "below_minimum"
    WAITING_FOR_DAYS_OVERDUE = "waiting_for_days_overdue"
    WAITING_FOR_GAP = "waiting_for_gap"
    ALREADY_CONTACTED_TODAY = "already_contacted_today"
    FINAL_LEVEL_REACHED = "final_level_reached"
    NO_ALLOWED_CHANNEL = "no_allowed_channel"
    COURTESY_SUPERSEDED = "courtesy_superseded"
    UNKNOWN_CUSTOMER = "unknown_customer"
    COVERED_BY_CREDIT = "covered_by_credit"
    NOT_LIKELY_LATE = "not_likely_late"
    PLANNING_FAILED = "planning_failed"


@dataclass(frozen=True, slots=True)
class ActionLine:
    """One invoice listed in a communication."""

    invoice_id: str
    number: str
    issue_date: date
    due_date: date
    days_overdue: int
    open_amount: Decimal
    interest: Decimal
    compensation: Decimal
    # the days that earned the interest, one span per rate (what the letter states)
    interest_spans: tuple[InterestSpan, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The line as JSON-ready values (money as strings)."""
        return {
            "invoice_id": self.invoice_id,
            "number": self.number,
            "issue_date": self.issue_date.isoformat(),
            "due_date": self.due_date.isoformat(),
            "days_overdue": self.days_overdue,
            "open_amount": str(self.open_amount),
            "interest": str(self.interest),
            "compensation": str(self.compensation),
            "interest_spans": [span.to_json() for span in self.interest_spans],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ActionLine:
        """Read back what :meth:`to_json` wrote."""
        return cls(
            invoice_id=data["invoice_id"],
            number=data["number"],
            issue_date=date.fromisoformat(data["issue_date"]),
            due_date=date.fromisoformat(data["due_date"]),
            days_overdue=int(data["days_overdue"]),
            open_amount=Decimal(data["open_amount"]),
            interest=Decimal(data["interest"]),
            compensation=Decimal(data["compensation"]),
            interest_spans=tuple(InterestSpan.from_json(x) for x in data.get("interest_spans") or ()),
        )


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """One communication to send: one customer, one currency, one level, one channel.

    Attributes:
        key: deterministic idempotency key (customer, currency, level, local day); the same decision
            made twice has the same key, so an outbox or sent log recognises it.
        customer_id: the customer's ERP id.
        currency: all listed invoices are in this currency.
        invoice_ids: the listed invoices, oldest due date first.
        level: 0 for the courtesy notice, 1… for the escalation ladder.
        level_name: the level's name in the policy, if any.
        channel: the chosen channel.
        template: the template name to render.
        send_at: when to send (UTC), inside the customer's contact window where that applies.
        fees: fixed fee of the level plus per-invoice compensation charged for the first time.
        interest: late-payment interest accrued up to the planning day, all invoices together.
        total_open: the sum of the listed invoices' open amounts.
        total_due: ``total_open - total_credit + fees + interest``.
        reason: why this action, in words.
        policy: the name of the policy that applied.
        status: the collection status to write back to the ERP.
        next_action_date: when the next level could follow at the earliest (None at the last level).
        recipient: e-mail address, phone number or postal address (its lines joined by " / "),
            where the channel needs one; a change of it before sending cancels the action.
        language: the customer's language (BCP 47), for the template.
        payment_reference: the reference to quote when paying.
        payment_link: a link to pay online, if the policy has one.
        lines: the listed invoices with their amounts.
        as_of: the planning time.
        fee: the level's own fee (part of ``fees``).
        fee_label: what the policy calls that fee, if it names it.
        credits: unapplied payments and open credit memos that reduce the total.
        total_credit: their sum.
        credit_basis: all of the customer's credits in the currency when planned (more than
            ``total_credit`` on a courtesy notice, whose credits went to overdue invoices first):
            a change of it before sending cancels the action.
        address: the postal address a letter goes to, as printed lines.
    """

    key: str
    customer_id: str
    currency: str
    invoice_ids: tuple[str, ...]
    level: int
    level_name: str | None
    channel: Channel
    template: str
    send_at: datetime
    fees: Decimal
    interest: Decimal
    total_open: Decimal
    total_due: Decimal
    reason: str
    policy: str
    status: CollectionStatus
    next_action_date: date | None
    recipient: str | None
    language: str
    payment_reference: str
    payment_link: str | None
    lines: tuple[ActionLine, ...]
    as_of: datetime
    fee: Decimal = Decimal(0)
    fee_label: str | None = None
    credits: tuple[CreditLine, ...] = ()
    total_credit: Decimal = Decimal(0)
    address: tuple[str, ...] = ()
    credit_basis: Decimal = Decimal(0)

    def to_json(self) -> dict[str, Any]:
        """The JSON line written by ``arbridge dunning plan`` (also readable as history)."""
        return {
            "customer_id": self.customer_id,
            "invoice_ids": list(self.invoice_ids),
            "level": self.level,
            "channel": self.channel.value,
            "template": self.template,
            "send_at": _iso(self.send_at),
            "fees": str(self.fees),
            "interest": str(self.interest),
            "currency": self.currency,
            "reason": self.reason,
            "key": self.key,
            "level_name": self.level_name,
            "total_open": str(self.total_open),
            "total_due": str(self.total_due),
            "policy": self.policy,
            "status": self.status.value,
            "next_action_date": self.next_action_date.isoformat() if self.next_action_date else None,
            "recipient": self.recipient,
            "language": self.language,
            "payment_reference": self.payment_reference,
            "payment_link": self.payment_link,
            "lines": [line.to_json() for line in self.lines],
            "as_of": _iso(self.as_of),
            "fee": str(self.fee),
            "fee_label": self.fee_label,
            "credits": [c.to_json() for c in self.credits],
            "total_credit": str(self.total_credit),
            "credit_basis": str(self.credit_basis),
            "address": list(self.address),
        }


def action_from_json(data: dict[str, Any]) -> PlannedAction:
    """Rebuild a planned action from its JSON line (for senders that run in another process)."""

    return PlannedAction(
        key=data["key"],
        customer_id=data["customer_id"],
        currency=data["currency"],
        invoice_ids=tuple(data["invoice_ids"]),
        level=int(data["level"]),
        level_name=data.get("level_name"),
        channel=Channel(data["channel"]),
        template=data["template"],
        send_at=parse_instant(data["send_at"]),
        fees=Decimal(data["fees"]),
        interest=Decimal(data["interest"]),
        total_open=Decimal(data["total_open"]),
        total_due=Decimal(data["total_due"]),
        reason=data["reason"],
        policy=data["policy"],
        status=CollectionStatus(data["status"]),
        next_action_date=date.fromisoformat(data["next_action_date"])
        if data.get("next_action_date")
        else None,
        recipient=data.get("recipient"),
        language=data.get("language") or "en",
        payment_reference=data["payment_reference"],
        payment_link=data.get("payment_link"),
        lines=tuple(ActionLine.from_json(ln) for ln in data["lines"]),
        as_of=parse_instant(data["as_of"]),
        # Actions planned before these fields existed hold their fee in ``fees`` and have no credits.
        fee=Decimal(data.get("fee") or "0"),
        fee_label=data.get("fee_label"),
        credits=tuple(CreditLine.from_json(c) for c in data.get("credits") or ()),
        total_credit=Decimal(data.get("total_credit") or "0"),
        address=tuple(data.get("address") or ()),
        credit_basis=Decimal(data.get("credit_basis") or data.get("total_credit") or "0"),
    )


@dataclass(frozen=True, slots=True)
class Skip:
    """Something the planner decided not to send, and why.

    Attributes:
        customer_id: the customer's ERP id.
        invoice_ids: the invoices concerned.
        skipped: a ``SkipCode`` value.
        reason: why, in words.
        currency: the currency track concerned, if any.
        until: the earliest day this could change by itself (end of a pause or a wait), if known.
    """

    customer_id: str
    invoice_ids: tuple[str, ...]
    skipped: str
    reason: str
    currency: str | None = None
    until: date | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON line written by ``arbridge dunning plan``."""
        return {
            "customer_id": self.customer_id,
            "invoice_ids": list(self.invoice_ids),
            "skipped": self.skipped,
            "reason": self.reason,
            "currency": self.currency,
            "until": self.until.isoformat() if self.until else None,
        }


@dataclass(slots=True)
class CustomerGroup:
    """A customer with its invoices, its open credit memos and its payments with money unapplied."""

    customer: Customer
    invoices: list[Invoice] = field(default_factory=list)
    credit_memos: list[CreditMemo] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _fmt(amount: Decimal, currency: str) -> str:
    return f"{amount} {currency}"


def _is_open(inv: Invoice) -> bool:
    return not inv.deleted and inv.status in _OPEN and inv.open_amount > 0


def memo_pending(memo: CreditMemo) -> bool:
    """Whether an open credit memo was raised against an invoice and is not applied yet."""
    return (
        memo.applies_to_invoice_id is not None
        and not memo.deleted
        and memo.status in _OPEN
        and memo.open_amount > 0
    )


# --------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------


def plan(
    policy: DunningPolicy,
    customers: Iterable[Customer],
    invoices: Iterable[Invoice],
    credit_memos: Iterable[CreditMemo],
    history: Iterable[HistoryEntry],
    as_of: datetime,
    *,
    presorted: bool = False,
    payments: Iterable[Payment] = (),
    late_chances: Mapping[str, float] | None = None,
) -> Iterator[PlannedAction | Skip]:
    """Plan the dunning communications due at ``as_of``.

    Args:
        policy: the validated policy file.
        customers: all customers (only those with open invoices produce output).
        invoices: invoices in any status; only open ones with an open amount are considered.
        credit_memos: credit memos; an open one raised against an open invoice
            (``applies_to_invoice_id``) pauses that invoice, the other open ones are credits.
        history: past actions, payments, promises and call outcomes; summarised per customer on
            the way in.
        as_of: the planning time (timezone-aware); the same inputs and ``as_of`` give the same plan.
        presorted: set when ``customers`` come sorted by ``remote_id`` and ``invoices`` sorted by
            ``customer_remote_id`` (a store query ``ORDER BY``): the two streams are then merged
            without holding all invoices in memory. Otherwise open invoices are grouped in memory.
        payments: the customers' payments; money not applied to an invoice is a credit.
        late_chances: per open invoice id, the chance it is paid after its due date as a payment
            model predicts it; the courtesy notice's ``only_likely_late`` then judges those
            invoices by it instead of by the customer's own late share (which stays the judge of
            an invoice not in the mapping).

    Yields:
        Planned actions and skips, customer by customer.

    Raises:
        ValueError: ``as_of`` is naive, or ``presorted`` streams are out of order.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    summaries = summarize_history(history, as_of)
    # Only documents with money left are kept: a few per customer, whatever the ERP's history.
    memos: dict[str, list[CreditMemo]] = defaultdict(list)
    for memo in credit_memos:
        if is_open_memo(memo):
            memos[memo.customer_remote_id].append(memo)
    cash: dict[str, list[Payment]] = defaultdict(list)
    # Only when a courtesy notice asks who is likely to pay late: the day each invoice was paid is
    # then kept for the whole connection, which costs memory the plan otherwise never needs.
    paid = _PaidFromRecords(policy) if _asks_likely_late(policy) else None
    for payment in payments:
        if paid is not None:
            paid.payment(payment)
        if payment.customer_remote_id and not payment.deleted and payment.unapplied_amount > 0:
            cash[payment.customer_remote_id].append(payment)
    closed = paid.closed if paid is not None else None
    groups = _merge_sorted(customers, invoices, closed) if presorted else _group(customers, invoices, closed)
    for group in groups:
        if isinstance(group, Skip):
            yield group
            continue
        cid = group.customer.remote_id
        yield from _isolated(
            group.customer,
            group.invoices,
            functools.partial(
                _plan_one,
                policy,
                group,
                memos.get(cid, []),
                summaries.get(cid),
                paid,
                as_of,
                cash.get(cid, []),
                late_chances,
            ),
        )


def _plan_one(
    policy: DunningPolicy,
    group: CustomerGroup,
    memos: Sequence[CreditMemo],
    summary: CustomerHistory | None,
    paid: _PaidFromRecords | None,
    as_of: datetime,
    payments: Sequence[Payment],
    late_chances: Mapping[str, float] | None = None,
) -> Iterator[PlannedAction | Skip]:
    """One customer's plan, its payment behaviour from the records included (inside its isolation)."""
    cid = group.customer.remote_id
    history = paid.history(cid, summary) if paid is not None else summary
    return plan_customer(
        policy,
        group.customer,
        group.invoices,
        memos,
        history,
        as_of,
        payments=payments,
        late_chances=late_chances,
    )


def reads_payment_behaviour(policy: DunningPolicy) -> bool:
    """Whether planning reads each customer's paid invoices (a courtesy notice only for customers
    likely to pay late), not only its open documents."""
    return _asks_likely_late(policy)


def _asks_likely_late(policy: DunningPolicy) -> bool:
    return any(p.courtesy is not None and p.courtesy.only_likely_late for p in policy.policies.values())


class _PaidFromRecords:
    """Payment behaviour read from the records (invoices and the payments applied to them), for
    the courtesy notice sent only to customers likely to pay late; history files that already
    carry a customer's payments take precedence."""

    def __init__(self, policy: DunningPolicy) -> None:
        self.terms = timedelta(days=policy.policies[policy.default_policy].default_terms_days)
        self.paid_on: dict[str, date] = {}
        self.entries: dict[str, list[HistoryEntry]] = defaultdict(list)

    def payment(self, payment: Payment) -> None:
        if payment.deleted:
            return
        for alloc in payment.allocations:
            if alloc.target_type == TargetType.INVOICE and alloc.amount > 0:
                day = alloc.applied_date or payment.date
                self.paid_on[alloc.target_id] = max(day, self.paid_on.get(alloc.target_id, day))

    def closed(self, inv: Invoice) -> None:
        paid = self.paid_on.get(inv.remote_id)
        if paid is None or inv.deleted or inv.open_amount > 0:
            return
        try:
            due = inv.due_date or inv.issue_date + self.terms
        except OverflowError:  # a date beyond the calendar: this invoice tells nothing of behaviour
            return
        cid = inv.customer_remote_id
        self.entries[cid].append(
            HistoryEntry("payment", cid, invoice_ids=(inv.remote_id,), due_date=due, paid_date=paid)
        )

    def history(self, cid: str, hist: CustomerHistory | None) -> CustomerHistory | None:
        found = self.entries.pop(cid, None)
        if not found or (hist is not None and hist.payments):
            return hist
        hist = hist if hist is not None else CustomerHistory()
        for entry in found:
            hist.add(entry, None)
        return hist


def plan_groups(
    policy: DunningPolicy,
    groups: Iterable[CustomerGroup],
    summaries: dict[str, CustomerHistory],
    as_of: datetime,
) -> Iterator[PlannedAction | Skip]:
    """Plan from customer groups already assembled (the store's streaming path).

    Args:
        policy: the validated policy file.
        groups: each customer with its invoices, credit memos and payments.
        summaries: ``summarize_history`` of the history.
        as_of: the planning time.

    Yields:
        Planned actions and skips.
    """
    for group in groups:
        yield from _isolated(
            group.customer,
            group.invoices,
            functools.partial(
                plan_customer,
                policy,
                group.customer,
                group.invoices,
                group.credit_memos,
                summaries.get(group.customer.remote_id),
                as_of,
                payments=group.payments,
            ),
        )


def _isolated(
    customer: Customer,
    invoices: Sequence[Invoice],
    planned: Callable[[], Iterable[PlannedAction | Skip]],
) -> list[PlannedAction | Skip]:
    """One customer's plan, whole, or a ``planning_failed`` skip naming it and the error.

    A record the planner cannot reason with (a date no calendar holds, a value no rule foresaw)
    concerns that customer only: the others are planned all the same, and the customer's invoices
    wait, reported, until the record is corrected. The plan is gathered before it is handed on,
    so a customer never gets half of one.
    """
    try:
        return list(planned())
    except Exception as exc:  # whatever one record provokes must not stop everyone else's plan
        cid = customer.remote_id
        return [
            Skip(
                customer_id=cid,
                invoice_ids=tuple(sorted(i.remote_id for i in invoices if _is_open(i))),
                skipped=SkipCode.PLANNING_FAILED,
                reason=(
                    f"customer {cid} ({customer.name}) could not be planned: {type(exc).__name__}: {exc}; "
                    "its invoices wait until the record is corrected, the other customers are planned"
                ),
            )
        ]


def _unknown(customer_id: str, invoices: Sequence[Invoice]) -> Skip:
    return Skip(
        customer_id=customer_id,
        invoice_ids=tuple(i.remote_id for i in invoices),
        skipped=SkipCode.UNKNOWN_CUSTOMER,
        reason=f"customer {customer_id} is not among the customers; its invoices cannot be dunned",
    )


def _group(
    customers: Iterable[Customer],
    invoices: Iterable[Invoice],
    closed: Callable[[Invoice], None] | None = None,
) -> Iterator[CustomerGroup | Skip]:
    by_customer: dict[str, list[Invoice]] = defaultdict(list)
    for inv in invoices:
        if _is_open(inv):
            by_customer[inv.customer_remote_id].append(inv)
        elif closed is not None:
            closed(inv)
    for customer in customers:
        found = by_customer.pop(customer.remote_id, None)
        if found:
            yield CustomerGroup(customer, found)
    for customer_id in sorted(by_customer):
        yield _unknown(customer_id, by_customer[customer_id])


def _merge_sorted(
    customers: Iterable[Customer],
    invoices: Iterable[Invoice],
    closed: Callable[[Invoice], None] | None = None,
) -> Iterator[CustomerGroup | Skip]:
    inv_iter = iter(invoices)
    last_invoice_customer = ""
    pending: Invoice | None = None

    def advance() -> Invoice | None:
        nonlocal last_invoice_customer
        nxt = next(inv_iter, None)
        if nxt is not None:
            if nxt.customer_remote_id < last_invoice_customer:
                raise ValueError("presorted invoices are not sorted by customer_remote_id")
            last_invoice_customer = nxt.customer_remote_id
        return nxt

    def orphans_before(bound: str | None) -> Iterator[Skip]:
        # Open invoices of customers that sort before ``bound`` (None: all the rest) have no customer.
        nonlocal pending
        found: dict[str, list[Invoice]] = defaultdict(list)
        while pending is not None and (bound is None or pending.customer_remote_id < bound):
            if _is_open(pending):
                found[pending.customer_remote_id].append(pending)
            pending = advance()
        for customer_id, invs in found.items():
            yield _unknown(customer_id, invs)

    pending = advance()
    last_customer = ""
    for customer in customers:
        cid = customer.remote_id
        if cid < last_customer:
            raise ValueError("presorted customers are not sorted by remote_id")
        last_customer = cid
        yield from orphans_before(cid)
        mine: list[Invoice] = []
        while pending is not None and pending.customer_remote_id == cid:
            if _is_open(pending):
                mine.append(pending)
            elif closed is not None:
                closed(pending)
            pending = advance()
        if mine:
            yield CustomerGroup(customer, mine)
    yield from orphans_before(None)


# --------------------------------------------------------------------------------------------------
# One customer
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Open:
    inv: Invoice
    due: date
    days: int
    level: int | None  # highest level this invoice already received (history or ERP)
    level_at: datetime | None


class _CustomerPlan:
    """The state of planning one customer: its zone, today, history, contacts planned so far."""

    def __init__(
        self,
        policy: DunningPolicy,
        customer: Customer,
        hist: CustomerHistory | None,
        as_of: datetime,
        late_chances: Mapping[str, float] | None = None,
    ) -> None:
        self.file = policy
        self.customer = customer
        self.hist = hist or CustomerHistory()
        self.late_chances = late_chances or {}
        self.as_of = as_of
        self.zone = zone_for(customer.time_zone, policy.default_time_zone)
        # An ERP's zone that is not an IANA name is not silently someone else's: the reason says so.
        self.zone_note = (
            f"time zone {customer.time_zone!r} of the customer is unknown: used {self.zone.key}"
            if customer.time_zone and customer.time_zone != self.zone.key
            else None
        )
        self.today = as_of.astimezone(self.zone).date()
        self.policy_name, self.policy = policy.policy_for(customer)
        self.language = customer.language or policy.default_language
        self.opted_out = {c.strip().lower() for c in customer.opt_out_channels}
        self.planned_contacts: list[tuple[str, datetime]] = []

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def choose_channel(
        self, channels: Sequence[Channel]
    ) -> tuple[Channel | None, datetime | None, list[str], bool]:
        """The first allowed channel, its send time, why earlier ones were passed over, and whether
        one of those was passed over because it failed for good before (see ``key``)."""
        notes: list[str] = []
        after_failure = False
        for ch in channels:
            if ch.value in self.opted_out or "all" in self.opted_out:
                notes.append(f"customer opted out of {ch.value}")
                continue
            if (ch.value, self.recipient(ch)) in self.hist.undeliverable:
                to = f" to {self.recipient(ch)}" if self.recipient(ch) else ""
                notes.append(f"an earlier {ch.value}{to} failed")
                after_failure = True
                continue
            if ch == Channel.EMAIL and not self.customer.email:
                notes.append("no e-mail address")
                continue
            if ch == Channel.CALL and not self.customer.phone:
                notes.append("no phone number")
                continue
            if ch == Channel.LETTER:
                address = self.customer.billing_address
                if address is None:
                    notes.append("no postal address")
                    continue
                if not address.is_postable():
                    notes.append("the postal address has no street or no city/postal code")
                    continue
            window = self.file.contact_window
            send_at = (
                next_contact_time(self.as_of, self.zone, window)
                if ch in window.channels
                else self.as_of.astimezone(UTC)
            )
            capped = self._cap_reached(ch, send_at)
            if capped:
                notes.append(capped)
                continue
            self.planned_contacts.append((ch.value, send_at))
            return ch, send_at, notes, after_failure
        return None, None, notes, after_failure

    def _cap_reached(self, ch: Channel, send_at: datetime) -> str | None:
        for cap in self.file.caps_for(ch):
            start = send_at - timedelta(days=cap.period_days)
            count = self.hist.contacts_between(ch.value, start, send_at) + sum(
                1 for c, t in self.planned_contacts if c == ch.value and start < t <= send_at
            )
            if count >= cap.max:
                return f"{ch.value} cap reached ({count} of at most {cap.max} in {cap.period_days} days)"
        return None

    def recipient(self, ch: Channel) -> str | None:
        if ch == Channel.EMAIL:
            return self.customer.email
        if ch == Channel.CALL:
            return self.customer.phone
        if ch == Channel.LETTER and self.customer.billing_address is not None:
            return " / ".join(self.customer.billing_address.printed_lines())
        return None

    def key(
        self, currency: str, level: int, channel: Channel, after_failure: bool = False, also: bool = False
    ) -> str:
        raw = f"{self.customer.remote_id}|{currency}|{level}|{self.today.isoformat()}"
        if after_failure:
            # The failed communication keeps its key and its place in the history; the one that
            # replaces it the same day needs a key of its own.
            raw += f"|after-failure|{channel.value}"
        if also:
            raw += f"|also|{channel.value}"
        return "dun-" + hashlib.sha256(raw.encode()).hexdigest()[:32]

    def payment(self, currency: str, level: int) -> tuple[str, str | None]:
        fields = {"customer_id": self.customer.remote_id, "currency": currency, "level": level}
        reference = self.file.payment.reference.format(**fields)
        link = self.file.payment.link
        return reference, link.format(reference=reference, **fields) if link else None


def plan_customer(
    policy: DunningPolicy,
    customer: Customer,
    invoices: Sequence[Invoice],
    credit_memos: Sequence[CreditMemo],
    history: CustomerHistory | None,
    as_of: datetime,
    *,
    payments: Sequence[Payment] = (),
    late_chances: Mapping[str, float] | None = None,
) -> Iterator[PlannedAction | Skip]:
    """Plan one customer: at most one action per currency (and its ``also`` channels), and the
    skips that explain the rest.

    Args:
        policy: the validated policy file.
        customer: the customer.
        invoices: its invoices (closed ones are ignored).
        credit_memos: its credit memos: an open one raised against an open invoice pauses that
            invoice, the other open ones are credits.
        history: the customer's history summary, if any.
        as_of: the planning time.
        payments: its payments; what is not applied to an invoice is a credit.
        late_chances: per open invoice id, the predicted chance it is paid after its due date
            (see ``plan``).

    Yields:
        Planned actions and skips.
    """
    open_invoices = [i for i in invoices if _is_open(i)]
    if not open_invoices or customer.deleted:
        return
    if customer.dunning_block:
        yield Skip(
            customer_id=customer.remote_id,
            invoice_ids=tuple(sorted(i.remote_id for i in open_invoices)),
            skipped=SkipCode.CUSTOMER_DUNNING_BLOCK,
            reason=f"dunning block set on customer {customer.remote_id} in the ERP; nothing is sent",
        )
        return
    ctx = _CustomerPlan(policy, customer, history, as_of, late_chances)
    open_ids = {i.remote_id for i in open_invoices}
    memos: dict[str, list[CreditMemo]] = defaultdict(list)
    for memo in credit_memos:
        if memo_pending(memo) and memo.applies_to_invoice_id in open_ids:
            memos[memo.applies_to_invoice_id or ""].append(memo)
    by_currency: dict[str, list[Invoice]] = defaultdict(list)
    for inv in open_invoices:
        by_currency[inv.currency].append(inv)
    for currency in sorted(by_currency):
        credits = credit_lines(currency, credit_memos, payments, open_ids)
        yield from _plan_currency(ctx, currency, by_currency[currency], memos, credits)


def _plan_currency(
    ctx: _CustomerPlan,
    currency: str,
    invoices: list[Invoice],
    memos: dict[str, list[CreditMemo]],
    credits: list[CreditLine],
) -> Iterator[PlannedAction | Skip]:
    pol = ctx.policy
    cid = ctx.customer.remote_id
    courtesy_days = pol.courtesy.days_before_due if pol.courtesy else -1
    overdue: list[_Open] = []
    due_soon: list[_Open] = []
    broken: list[_Open] = []
    for inv in sorted(invoices, key=lambda i: (i.due_date or i.issue_date, i.remote_id)):
        due = inv.due_date or inv.issue_date + timedelta(days=pol.default_terms_days)
        days = (ctx.today - due).days
        if days < -courtesy_days and days < 1:
            continue  # not due soon: nothing to send and nothing to explain
        hist_level = ctx.hist.invoice_levels.get(inv.remote_id)
        level, level_at = hist_level if hist_level else (None, None)
        if inv.dunning_level is not None and (level is None or inv.dunning_level > level):
            level, level_at = inv.dunning_level, None
        item = _Open(inv, due, days, level, level_at)
        paused = _pause(ctx, item, memos.get(inv.remote_id, []))
        if paused is not None:
            yield paused
            continue
        promise = ctx.hist.promise_for(inv)
        if promise is not None and promise < ctx.today:
            last = ctx.hist.last_contact_at.get(currency)
            if last is None or ctx.local_day(last) <= promise:
                broken.append(item)
        if days >= 1:
            overdue.append(item)
        elif level is None:
            due_soon.append(item)
    planned = False
    # Credits settle the oldest debts first: what the overdue invoices leave is for the rest.
    overdue_total = sum((o.inv.open_amount for o in overdue), Decimal(0))
    left_for_courtesy = max(Decimal(0), total_credit(credits) - overdue_total)
    if overdue:
        for out in _plan_overdue(ctx, currency, overdue, broken, credits):
            planned = planned or isinstance(out, PlannedAction)
            yield out
    if due_soon and pol.courtesy is not None:
        if planned:
            yield Skip(
                customer_id=cid,
                invoice_ids=tuple(o.inv.remote_id for o in due_soon),
                skipped=SkipCode.COURTESY_SUPERSEDED,
                reason="courtesy notice not sent: this customer gets a reminder in this currency today",
                currency=currency,
            )
        else:
            likely, not_late = _likely_late(ctx, currency, due_soon)
            if not_late is not None:
                yield not_late
            if likely:
                yield from _plan_courtesy(ctx, currency, likely, credits, left_for_courtesy)


def _likely_late_words(hist: CustomerHistory) -> str:
    chance = hist.late_probability or 0.0
    late = f"{hist.late_payments} of {hist.payments} payments after the due date"
    return f"{late} ({chance:.0%} likely to pay late)"


def _late_chance(ctx: _CustomerPlan, item: _Open) -> tuple[float | None, bool]:
    """The chance ``item`` is paid after its due date, and whether a payment model gave it (else
    the customer's own late share did)."""
    predicted = ctx.late_chances.get(item.inv.remote_id)
    if predicted is not None:
        return predicted, True
    return ctx.hist.late_probability, False


def _predicted_words(ctx: _CustomerPlan, items: Sequence[_Open]) -> str:
    chances = ", ".join(
        f"{o.inv.number or o.inv.remote_id} {ctx.late_chances[o.inv.remote_id]:.0%}" for o in items
    )
    return f"the payment model's chance of payment after the due date: {chances}"


def _likely_late(ctx: _CustomerPlan, currency: str, due_soon: list[_Open]) -> tuple[list[_Open], Skip | None]:
    """The invoices falling due that a courtesy notice kept for late payers is for, and why not the others.

    Each invoice is judged by the payment model's chance when the caller passed one for it, else
    by the customer's own late share.
    """
    assert ctx.policy.courtesy is not None
    threshold = ctx.policy.courtesy.only_likely_late
    if threshold is None:
        return due_soon, None
    likely: list[_Open] = []
    by_model: list[_Open] = []
    by_records: list[_Open] = []
    for item in due_soon:
        chance, predicted = _late_chance(ctx, item)
        if chance is not None and chance >= threshold:
            likely.append(item)
        else:
            (by_model if predicted else by_records).append(item)
    if not by_model and not by_records:
        return likely, None
    chance = ctx.hist.late_probability
    if not by_model:  # judged from the records alone: the words of a customer's own payments
        if chance is None:
            reason = "courtesy notice only for customers likely to pay late: no payment history yet"
        else:
            reason = (
                f"courtesy notice only for customers at least {threshold:.0%} likely to pay late: "
                f"{_likely_late_words(ctx.hist)}"
            )
    else:
        reasons = [_predicted_words(ctx, by_model)]
        if by_records:
            reasons.append("no payment history yet" if chance is None else _likely_late_words(ctx.hist))
        reason = f"courtesy notice only for invoices at least {threshold:.0%} likely to be paid late: " + (
            "; ".join(reasons)
        )
    ids = tuple(o.inv.remote_id for o in (*by_model, *by_records))
    return likely, Skip(ctx.customer.remote_id, ids, SkipCode.NOT_LIKELY_LATE, reason, currency)


def _pause(ctx: _CustomerPlan, item: _Open, memos: list[CreditMemo]) -> Skip | None:
    inv = item.inv
    label = inv.number or inv.remote_id

    def paused(code: str, reason: str, until: date | None = None) -> Skip:
        return Skip(ctx.customer.remote_id, (inv.remote_id,), code, reason, inv.currency, until)

    if inv.dunning_block:
        return paused(
            SkipCode.INVOICE_DUNNING_BLOCK,
            f"invoice {label}: dunning block set in the ERP; left out of reminders",
        )
    if inv.disputed:
        return paused(
            SkipCode.DISPUTED,
            f"invoice {label} is disputed; left out of reminders until the dispute is resolved",
        )
    disputed_until = ctx.hist.dispute_until(inv.remote_id)
    if disputed_until is not None and disputed_until >= ctx.today:
        return paused(
            SkipCode.DISPUTED,
            f"invoice {label} was disputed on a call; left out of reminders until "
            f"{disputed_until.isoformat()}",
            disputed_until + timedelta(days=1),
        )
    if memos:
        memo = memos[0]
        return paused(
            SkipCode.CREDIT_MEMO_PENDING,
            f"invoice {label}: credit memo {memo.number or memo.remote_id} "
            f"({_fmt(memo.open_amount, memo.currency)}) is pending against it; paused until applied",
        )
    promise = ctx.hist.promise_for(inv)
    if promise is not None and promise >= ctx.today:
        on_call = "" if promise == inv.promise_to_pay_date else " on a call"
        return paused(
            SkipCode.PROMISE_TO_PAY,
            f"invoice {label}: customer promised{on_call} to pay by {promise.isoformat()}; paused until then",
            promise + timedelta(days=1),
        )
    return None


def _plan_overdue(
    ctx: _CustomerPlan, currency: str, overdue: list[_Open], broken: list[_Open], credits: list[CreditLine]
) -> Iterator[PlannedAction | Skip]:
    pol = ctx.policy
    cid = ctx.customer.remote_id
    ids = tuple(o.inv.remote_id for o in overdue)

    def skip(code: str, reason: str, until: date | None = None) -> Skip:
        return Skip(cid, ids, code, reason, currency, until)

    last_contact = ctx.hist.last_contact_at.get(currency)
    if last_contact is not None and ctx.local_day(last_contact) >= ctx.today:
        yield skip(
            SkipCode.ALREADY_CONTACTED_TODAY,
            f"already contacted about {currency} invoices for {ctx.local_day(last_contact).isoformat()} "
            "(at most one communication per customer and currency per day)",
            ctx.local_day(last_contact) + timedelta(days=1),
        )
        return
    current = max((o.level or 0 for o in overdue), default=0)
    if current >= len(pol.levels):
        yield skip(
            SkipCode.FINAL_LEVEL_REACHED,
            f"final level {current} already sent; the account is for a collector now",
        )
        return
    level_no = current + 1
    level = pol.levels[current]
    oldest = max(overdue, key=lambda o: o.days)
    last_level_day = _last_level_day(ctx, currency, overdue, current)
    why: list[str] = []
    if broken:
        names = ", ".join(
            f"{o.inv.number or o.inv.remote_id} (by {ctx.hist.promise_for(o.inv)})" for o in broken
        )
        why.append(f"promise to pay broken for {names}: escalating without waiting")
    else:
        if oldest.days < level.days_overdue:
            yield skip(
                SkipCode.WAITING_FOR_DAYS_OVERDUE,
                f"level {level_no} starts at {level.days_overdue} days overdue; the oldest invoice "
                f"{oldest.inv.number or oldest.inv.remote_id} is {oldest.days} days overdue",
                oldest.due + timedelta(days=level.days_overdue),
            )
            return
        why.append(
            f"oldest invoice {oldest.inv.number or oldest.inv.remote_id} is {oldest.days} days overdue "
            f"(level {level_no} from {level.days_overdue})"
        )
        if last_level_day is not None and current >= 1:
            gap = (ctx.today - last_level_day).days
            if gap < level.min_gap_days:
                yield skip(
                    SkipCode.WAITING_FOR_GAP,
                    f"level {current} was sent on {last_level_day.isoformat()}, {gap} days ago; level "
                    f"{level_no} waits at least {level.min_gap_days} days",
                    last_level_day + timedelta(days=level.min_gap_days),
                )
                return
            why.append(f"{gap} days since level {current} (minimum {level.min_gap_days})")
    total_open = sum((o.inv.open_amount for o in overdue), Decimal(0))
    credit = total_credit(credits)
    if credit >= total_open:
        yield skip(
            SkipCode.COVERED_BY_CREDIT,
            f"the overdue total {_fmt(total_open, currency)} is covered by "
            f"{_fmt(credit, currency)} of unapplied payments and open credits "
            f"({_credit_names(credits)}); nothing is due",
        )
        return
    minimum = amount_for(pol.minimum_amount, currency)
    net = total_open - credit
    if net < minimum:
        less = f" ({_fmt(total_open, currency)} less {_fmt(credit, currency)} of credits)" if credit else ""
        yield skip(
            SkipCode.BELOW_MINIMUM,
            f"overdue total {_fmt(net, currency)}{less} is below the minimum {_fmt(minimum, currency)}",
        )
        return
    yield from _emit(ctx, currency, overdue, level_no, level, total_open, why, credits, credit)


def _last_level_day(ctx: _CustomerPlan, currency: str, overdue: list[_Open], current: int) -> date | None:
    """The local day the current level was reached, from history or, lacking it, estimated."""
    at = ctx.hist.last_level_at.get(currency)
    if at is not None:
        return ctx.local_day(at)
    if current >= 1:
        # The ERP knows the level but not when it was sent: assume it went out when it first became
        # due, so that a restart without history never fires the next level early by accident
        # more than the policy allows.
        oldest_due = min(o.due for o in overdue)
        return oldest_due + timedelta(days=ctx.policy.levels[current - 1].days_overdue)
    return None


def _plan_courtesy(
    ctx: _CustomerPlan, currency: str, due_soon: list[_Open], credits: list[CreditLine], credit: Decimal
) -> Iterator[PlannedAction | Skip]:
    """The courtesy notice, with ``credit``: what the overdue invoices left of ``credits``."""
    pol = ctx.policy
    assert pol.courtesy is not None
    cid = ctx.customer.remote_id
    ids = tuple(o.inv.remote_id for o in due_soon)
    last_contact = ctx.hist.last_contact_at.get(currency)
    if last_contact is not None and ctx.local_day(last_contact) >= ctx.today:
        yield Skip(
            cid,
            ids,
            SkipCode.ALREADY_CONTACTED_TODAY,
            f"already contacted about {currency} invoices for {ctx.local_day(last_contact).isoformat()} "
            "(at most one communication per customer and currency per day)",
            currency,
            ctx.local_day(last_contact) + timedelta(days=1),
        )
        return
    total_open = sum((o.inv.open_amount for o in due_soon), Decimal(0))
    if credit >= total_open:
        yield Skip(
            cid,
            ids,
            SkipCode.COVERED_BY_CREDIT,
            f"the amount falling due, {_fmt(total_open, currency)}, is covered by {_fmt(credit, currency)} "
            f"of unapplied payments and open credits ({_credit_names(credits)})",
            currency,
        )
        return
    minimum = amount_for(pol.minimum_amount, currency)
    if total_open - credit < minimum:
        yield Skip(
            cid,
            ids,
            SkipCode.BELOW_MINIMUM,
            f"amount falling due {_fmt(total_open - credit, currency)} is below the minimum "
            f"{_fmt(minimum, currency)}",
            currency,
        )
        return
    first_due = min(o.due for o in due_soon)
    why = [f"{len(due_soon)} invoice(s) fall due on or after {first_due.isoformat()}"]
    if pol.courtesy.only_likely_late is not None:
        predicted = [o for o in due_soon if o.inv.remote_id in ctx.late_chances]
        if predicted:
            why.append(_predicted_words(ctx, predicted))
        if len(predicted) < len(due_soon):
            why.append(_likely_late_words(ctx.hist))
    # Only what the overdue invoices left of the credits is shown against the invoices falling due.
    shown = _credits_up_to(credits, credit)
    yield from _emit(ctx, currency, due_soon, 0, None, total_open, why, shown, total_credit(credits))


def _credit_names(credits: list[CreditLine]) -> str:
    return ", ".join(
        f"{'payment' if c.kind == 'payment' else 'credit memo'} {c.label}" for c in credits[:5]
    ) + (f" and {len(credits) - 5} more" if len(credits) > 5 else "")


def _credits_up_to(credits: list[CreditLine], amount: Decimal) -> list[CreditLine]:
    """The newest credits summing to ``amount`` (the oldest went to the overdue invoices)."""
    out: list[CreditLine] = []
    left = amount
    for line in reversed(credits):
        if left <= 0:
            break
        take = min(line.amount, left)
        out.append(CreditLine(line.kind, line.document_id, line.label, line.date, take))
        left -= take
    return list(reversed(out))


def _emit(
    ctx: _CustomerPlan,
    currency: str,
    items: list[_Open],
    level_no: int,
    level: Level | None,
    total_open: Decimal,
    why: list[str],
    credits: list[CreditLine],
    basis: Decimal,
) -> Iterator[PlannedAction | Skip]:
    pol: Policy = ctx.policy
    channels = level.channels if level is not None else (pol.courtesy.channels if pol.courtesy else [])
    template = level.template if level is not None else (pol.courtesy.template if pol.courtesy else "")
    ids = tuple(o.inv.remote_id for o in items)
    channel, send_at, notes, after_failure = ctx.choose_channel(channels)
    if channel is None or send_at is None:
        yield Skip(
            ctx.customer.remote_id,
            ids,
            SkipCode.NO_ALLOWED_CHANNEL,
            f"level {level_no}: no allowed channel among {', '.join(c.value for c in channels)} "
            f"({'; '.join(notes)})",
            currency,
        )
        return
    if notes:
        why.append(f"{'; '.join(notes)}: fell back to {channel.value}")
    if ctx.zone_note:
        why.append(ctx.zone_note)
    lines: list[ActionLine] = []
    interest_total = Decimal(0)
    compensation_total = Decimal(0)
    rule = pol.interest
    table = ctx.file.rate_tables[rule.rate_table] if rule is not None else None
    per_invoice = amount_for(pol.compensation_per_invoice, currency) if level_no >= 1 else Decimal(0)
    for o in items:
        interest = Decimal(0)
        spans: tuple[InterestSpan, ...] = ()
        if table is not None and rule is not None and level_no >= rule.from_level:
            interest = interest_for(o.inv.open_amount, o.due, ctx.today, table, currency)
            spans = tuple(interest_spans(o.due, ctx.today, table)) if interest else ()
        # Compensation is owed once per invoice: only on its first ladder communication.
        compensation = per_invoice if (o.level or 0) < 1 else Decimal(0)
        interest_total += interest
        compensation_total += compensation
        lines.append(
            ActionLine(
                invoice_id=o.inv.remote_id,
                number=o.inv.number or o.inv.remote_id,
                issue_date=o.inv.issue_date,
                due_date=o.due,
                days_overdue=max(o.days, 0),
                open_amount=o.inv.open_amount,
                interest=interest,
                compensation=compensation,
                interest_spans=spans,
            )
        )
    fee = quantize(amount_for(level.fee, currency), currency) if level is not None else Decimal(0)
    fees = quantize(fee + compensation_total, currency)
    interest_total = quantize(interest_total, currency)
    credit = total_credit(credits)
    if fee:
        why.append(f"fee {_fmt(fee, currency)}")
    if compensation_total:
        why.append(f"compensation {_fmt(compensation_total, currency)}")
    if interest_total:
        why.append(f"interest {_fmt(interest_total, currency)} to {ctx.today.isoformat()}")
    if credit:
        why.append(f"less {_fmt(credit, currency)} of unapplied payments and open credits")
    extra: list[tuple[Channel, str, datetime]] = []
    for also in level.also if level is not None else ():
        if also.channel == channel:
            continue
        ch, at, passed, _failed = ctx.choose_channel([also.channel])
        if ch is None or at is None:
            why.append(f"no {also.channel.value} as well: {'; '.join(passed)}")
            continue
        extra.append((ch, also.template or ("call" if ch == Channel.CALL else template), at))
        why.append(f"also by {ch.value}")
    next_action = _next_action_date(ctx, items, level_no)
    reference, link = ctx.payment(currency, level_no)
    name = level.name if level is not None else "courtesy"
    header = f"level {level_no}" + (f" ({name})" if name else "")
    summary = f"{len(items)} invoice(s), {_fmt(total_open, currency)} open"
    address = ctx.customer.billing_address
    action = PlannedAction(
        key=ctx.key(currency, level_no, channel, after_failure),
        customer_id=ctx.customer.remote_id,
        currency=currency,
        invoice_ids=ids,
        level=level_no,
        level_name=name,
        channel=channel,
        template=template,
        send_at=send_at,
        fees=fees,
        interest=interest_total,
        total_open=total_open,
        total_due=total_open - credit + fees + interest_total,
        reason=f"{header}: " + "; ".join([*why, summary]),
        policy=ctx.policy_name,
        status=level.status if level is not None else CollectionStatus.CURRENT,
        next_action_date=next_action,
        recipient=ctx.recipient(channel),
        language=ctx.language,
        payment_reference=reference,
        payment_link=link,
        lines=tuple(lines),
        as_of=ctx.as_of,
        fee=fee,
        fee_label=level.fee_label if level is not None else None,
        credits=tuple(credits),
        total_credit=credit,
        address=tuple(address.printed_lines(ctx.file.sender.country)) if address is not None else (),
        credit_basis=basis,
    )
    yield action
    for ch, also_template, at in extra:
        yield replace(
            action,
            key=ctx.key(currency, level_no, ch, also=True),
            channel=ch,
            template=also_template,
            send_at=at,
            recipient=ctx.recipient(ch),
        )


def _next_action_date(ctx: _CustomerPlan, items: list[_Open], level_no: int) -> date | None:
    levels = ctx.policy.levels
    if level_no >= len(levels):
        return None
    nxt = levels[level_no]
    oldest_due = min(o.due for o in items)
    earliest = ctx.today + timedelta(days=max(nxt.min_gap_days, 1))
    return max(earliest, oldest_due + timedelta(days=nxt.days_overdue))
