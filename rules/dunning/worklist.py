"""The collectors' worklist: customers ranked by what is at risk and how they pay, each rank explained.

Score (higher = call first), the sum of five parts, each shown in the explanation:

* amount at risk: ``10 × log10(1 + amount at risk)`` — 1,000 gives 30, 100,000 gives 50; the log
  keeps one huge account from burying every other. The amount at risk is the customer's net
  position: its overdue invoices, less those a promise to pay or a dispute covers (the line names
  them: they are what stops the call), less its unapplied payments and open credits. Amounts in
  several currencies are ranked in one reporting currency at the configured rates, and the line
  names the rate used; an amount in a currency without a rate is left out of the ranking (and the
  line says so), never added at par;
* age: ``min(days overdue of the oldest invoice, 180) / 6`` — up to 30;
* payment behaviour: ``min(average days late, 90) / 3`` — up to 30; or, when the payment-date
  prediction is given (``LateRisk``), ``30 × the chance that the overdue amount is paid more than
  60 days late``, with the prediction's reasons on the line;
* trend: recent payments later than before add up to 10, earlier ones subtract up to 10;
* broken promises: 10 per broken promise, at most 30.

Only the first ``limit`` entries are kept while ranking (a bounded heap), so with a limit the
memory grows with the limit and the number of customers, never with the number of invoices;
:func:`rank_customers` takes customers one at a time with their documents (as a store query
ordered by customer gives them) and then keeps nothing per customer at all.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from mapping.models import CreditMemo, Customer, DocumentStatus, Invoice, Payment
from rules.dunning.contact import zone_for
from rules.dunning.credits import credit_lines
from rules.dunning.fx import FxRates
from rules.dunning.history import CustomerHistory, HistoryEntry, summarize_history

__all__ = ["CustomerDocuments", "LateRisk", "Ranking", "WorklistEntry", "rank_customers", "worklist"]

_Q = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class WorklistEntry:
    """One customer on the worklist.

    Attributes:
        rank: 1 = call first.
        customer_id: the customer's ERP id.
        customer_name: its name.
        score: the ranking score (see the module docstring).
        amount_at_risk: per currency, the overdue open amount less what is promised, disputed, paid
            on account or credited.
        oldest_days_overdue: days overdue of the oldest open invoice.
        overdue_invoices: how many invoices are overdue.
        average_days_late: mean days late of past payments (None without history).
        trend_days: recent minus earlier mean days late (None without enough history).
        broken_promises: promises broken (history and open invoices whose promise date passed).
        components: the score's parts by name.
        explanation: the parts in words.
        promised: per currency, overdue amounts under a promise to pay not yet due.
        disputed: per currency, overdue amounts in dispute.
        credits: per currency, unapplied payments and open credits set against the overdue amount.
        ranked_amount: the amount at risk the rank uses, in ``reporting_currency`` when rates are
            configured.
        reporting_currency: the currency of ``ranked_amount``, if rates are configured.
        held: why the rest is not at risk, in words (each promise and dispute).
    """

    rank: int
    customer_id: str
    customer_name: str
    score: Decimal
    amount_at_risk: dict[str, Decimal]
    oldest_days_overdue: int
    overdue_invoices: int
    average_days_late: Decimal | None
    trend_days: Decimal | None
    broken_promises: int
    components: dict[str, Decimal]
    explanation: str
    promised: dict[str, Decimal] = field(default_factory=dict)
    disputed: dict[str, Decimal] = field(default_factory=dict)
    credits: dict[str, Decimal] = field(default_factory=dict)
    ranked_amount: Decimal = Decimal(0)
    reporting_currency: str | None = None
    held: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values (decimals as strings)."""
        return {
            "rank": self.rank,
            "customer_id": self.customer_id,
            "customer_name": self.customer_name,
            "score": str(self.score),
            "amount_at_risk": {k: str(v) for k, v in self.amount_at_risk.items()},
            "oldest_days_overdue": self.oldest_days_overdue,
            "overdue_invoices": self.overdue_invoices,
            "average_days_late": None if self.average_days_late is None else str(self.average_days_late),
            "trend_days": None if self.trend_days is None else str(self.trend_days),
            "broken_promises": self.broken_promises,
            "components": {k: str(v) for k, v in self.components.items()},
            "explanation": self.explanation,
            "promised": {k: str(v) for k, v in self.promised.items()},
            "disputed": {k: str(v) for k, v in self.disputed.items()},
            "credits": {k: str(v) for k, v in self.credits.items()},
            "ranked_amount": str(self.ranked_amount),
            "reporting_currency": self.reporting_currency,
            "held": list(self.held),
        }


@dataclass(frozen=True, slots=True)
class LateRisk:
    """The payment-date prediction for a customer's overdue invoices.

    Attributes:
        probability: the chance (0 to 1) that the overdue amount is paid more than ``days`` days
            late, weighted by amount.
        why: the prediction's reasons, in words (those of its largest overdue invoice).
        days: the lateness the probability is about.
    """

    probability: float
    why: str
    days: int = 60


@dataclass(frozen=True, slots=True)
class _Who:
    name: str
    zone: ZoneInfo
    dunning_block: bool


@dataclass(slots=True)
class _Exposure:
    amounts: dict[str, Decimal] = field(default_factory=dict)
    oldest: int = 0
    count: int = 0
    broken_now: int = 0
    promised: dict[str, Decimal] = field(default_factory=dict)
    disputed: dict[str, Decimal] = field(default_factory=dict)
    credits: dict[str, Decimal] = field(default_factory=dict)
    held: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CustomerDocuments:
    """One customer with its invoices and the summary of its history, for :func:`rank_customers`.

    Attributes:
        customer_id: the customer's ERP id.
        customer: the customer record (``None`` when the invoices name an unknown customer).
        invoices: its invoices in any status (open, overdue ones count).
        history: the summary of its payments, promises and call outcomes, if any.
        credit_memos: its credit memos (open ones not raised against an open invoice are credits).
        payments: its payments (what is unapplied is a credit).
        late_risk: the predicted chance of paying late, when the prediction is used.
    """

    customer_id: str
    customer: Customer | None
    invoices: Sequence[Invoice]
    history: CustomerHistory | None = None
    credit_memos: Sequence[CreditMemo] = ()
    payments: Sequence[Payment] = ()
    late_risk: LateRisk | None = None


@dataclass(frozen=True, slots=True)
class Ranking:
    """The first entries of a worklist and how many customers had something overdue."""

    entries: list[WorklistEntry]
    customers: int


def _sort_key(entry: WorklistEntry) -> tuple[Decimal, Decimal, str]:
    return (-entry.score, -entry.ranked_amount, entry.customer_id)


def _ranked(entries: Iterable[WorklistEntry], limit: int | None) -> list[WorklistEntry]:
    # nsmallest keeps a heap of ``limit`` entries: the others are dropped as soon as they are beaten.
    chosen = (
        heapq.nsmallest(limit, entries, key=_sort_key)
        if limit is not None
        else sorted(entries, key=_sort_key)
    )
    return [replace(e, rank=i) for i, e in enumerate(chosen, 1)]


def worklist(
    customers: Iterable[Customer],
    invoices: Iterable[Invoice],
    history: Iterable[HistoryEntry] | Mapping[str, CustomerHistory],
    as_of: datetime,
    *,
    fx_rates: FxRates | None = None,
    default_time_zone: str = "UTC",
    default_terms_days: int = 30,
    limit: int | None = None,
    credit_memos: Iterable[CreditMemo] = (),
    payments: Iterable[Payment] = (),
) -> list[WorklistEntry]:
    """Rank customers with overdue invoices for collectors.

    Args:
        customers: all customers.
        invoices: invoices in any status (open, overdue ones count).
        history: history entries, or their summary from ``summarize_history``.
        as_of: the ranking time.
        fx_rates: rates into one reporting currency, to rank amounts in several currencies; an
            amount in a currency without a rate is left out of the ranking and the line says so.
        default_time_zone: zone for customers without one (their "today").
        default_terms_days: days after the issue date for invoices without a due date.
        limit: keep only the first ``limit`` entries.
        credit_memos: the customers' credit memos; open ones reduce the amount at risk.
        payments: the customers' payments; unapplied money reduces the amount at risk.

    Returns:
        Entries sorted by score (highest first), then amount, then customer id.
    """
    summaries = history if isinstance(history, Mapping) else summarize_history(history, as_of)
    # Keep only what the ranking needs, not whole records: memory per customer stays small.
    known: dict[str, _Who] = {
        c.remote_id: _Who(c.name, zone_for(c.time_zone, default_time_zone), c.dunning_block)
        for c in customers
    }
    fallback_zone = zone_for(None, default_time_zone)
    exposure: dict[str, _Exposure] = {}
    for inv in invoices:
        cid = inv.customer_remote_id
        who = known.get(cid)
        exp = exposure.get(cid) or _Exposure()
        today = as_of.astimezone(who.zone if who else fallback_zone).date()
        if _add(exp, inv, today, default_terms_days, summaries.get(cid)):
            exposure[cid] = exp
    memos: dict[str, list[CreditMemo]] = {}
    for memo in credit_memos:
        if memo.customer_remote_id in exposure:
            memos.setdefault(memo.customer_remote_id, []).append(memo)
    cash: dict[str, list[Payment]] = {}
    for payment in payments:
        if payment.customer_remote_id in exposure and payment.unapplied_amount > 0:
            cash.setdefault(payment.customer_remote_id or "", []).append(payment)
    for cid, exp in exposure.items():
        _credit(exp, memos.get(cid, ()), cash.get(cid, ()))
    entries = (
        _entry(cid, known.get(cid), exp, summaries.get(cid) or CustomerHistory(), fx_rates)
        for cid, exp in exposure.items()
    )
    return _ranked(entries, limit)


def rank_customers(
    groups: Iterable[CustomerDocuments],
    as_of: datetime,
    *,
    fx_rates: FxRates | None = None,
    default_time_zone: str = "UTC",
    default_terms_days: int = 30,
    limit: int | None = None,
) -> Ranking:
    """Rank customers given one at a time with their documents (the store's streaming path).

    Args:
        groups: each customer with its invoices, credits and history summary, in any order.
        as_of: the ranking time.
        fx_rates: as for :func:`worklist`.
        default_time_zone: as for :func:`worklist`.
        default_terms_days: as for :func:`worklist`.
        limit: keep only the first ``limit`` entries (memory then grows with it, not with the input).

    Returns:
        The first entries, ranked, and how many customers had overdue invoices.
    """
    counted = 0

    def entries() -> Iterator[WorklistEntry]:
        nonlocal counted
        for group in groups:
            customer = group.customer
            zone = zone_for(customer.time_zone if customer else None, default_time_zone)
            today = as_of.astimezone(zone).date()
            exp = _Exposure()
            overdue = [_add(exp, inv, today, default_terms_days, group.history) for inv in group.invoices]
            if not any(overdue):
                continue
            counted += 1
            _credit(exp, group.credit_memos, group.payments)
            who = _Who(customer.name, zone, customer.dunning_block) if customer else None
            hist = group.history or CustomerHistory()
            yield _entry(group.customer_id, who, exp, hist, fx_rates, group.late_risk)

    ranked = _ranked(entries(), limit)
    return Ranking(ranked, counted)


def _plus(target: dict[str, Decimal], currency: str, amount: Decimal) -> None:
    target[currency] = target.get(currency, Decimal(0)) + amount


def _add(
    exp: _Exposure, inv: Invoice, today: date, default_terms_days: int, hist: CustomerHistory | None
) -> bool:
    """Count an invoice into the exposure if it is open and overdue on ``today``.

    A dispute (in the ERP or recorded on a call) and a promise to pay whose day has not come hold
    the invoice: it is shown, not counted as at risk.
    """
    if inv.deleted or inv.status not in (DocumentStatus.OPEN, DocumentStatus.PARTIALLY_PAID):
        return False
    if inv.open_amount <= 0:
        return False
    label = inv.number or inv.remote_id
    try:
        due = inv.due_date or inv.issue_date + timedelta(days=default_terms_days)
    except OverflowError:
        # A date beyond the calendar (a typing slip in the ERP): shown for a person to correct,
        # never a reason for the whole worklist to fail.
        exp.held.append(
            f"{label}: issued {inv.issue_date}, its due date is beyond the calendar; correct it in the ERP"
        )
        return True
    days = (today - due).days
    if days < 1:
        return False
    amount = f"{inv.open_amount} {inv.currency}"
    disputed_until = hist.dispute_until(inv.remote_id) if hist else None
    promise = hist.promise_for(inv) if hist else inv.promise_to_pay_date
    if inv.disputed or (disputed_until is not None and disputed_until >= today):
        _plus(exp.disputed, inv.currency, inv.open_amount)
        exp.held.append(f"{label} ({amount}) is disputed")
        return True
    if promise is not None and promise >= today:
        _plus(exp.promised, inv.currency, inv.open_amount)
        exp.held.append(f"{label} ({amount}) is promised by {promise.isoformat()}")
        return True
    _plus(exp.amounts, inv.currency, inv.open_amount)
    exp.oldest = max(exp.oldest, days)
    exp.count += 1
    if promise is not None and promise < today:
        exp.broken_now += 1
    return True


def _credit(exp: _Exposure, memos: Iterable[CreditMemo], payments: Iterable[Payment]) -> None:
    """Set the customer's unapplied payments and open credits against what is at risk, per currency."""
    memos, payments = list(memos), list(payments)
    for currency in list(exp.amounts):
        # Every open credit counts here, also one raised against an invoice: that invoice owes less.
        credit = sum((c.amount for c in credit_lines(currency, memos, payments, set())), Decimal(0))
        if credit:
            taken = min(credit, exp.amounts[currency])
            exp.credits[currency] = taken
            exp.amounts[currency] -= taken


def _entry(
    cid: str,
    customer: _Who | None,
    exp: _Exposure,
    hist: CustomerHistory,
    fx_rates: FxRates | None,
    risk: LateRisk | None = None,
) -> WorklistEntry:
    notes: list[str] = []
    total, reporting, money = _ranked_amount(exp, fx_rates)
    amount_pts = (Decimal(10) * (1 + total).log10()).quantize(_Q)
    age_pts = (Decimal(min(exp.oldest, 180)) / 6).quantize(_Q)
    avg = hist.average_days_late
    behaviour_pts = (min(avg, Decimal(90)) / 3).quantize(_Q) if avg is not None else Decimal(0)
    if risk is not None:
        behaviour_pts = (Decimal(30) * Decimal(str(risk.probability))).quantize(_Q)
    trend = hist.trend_days
    trend_pts = (
        (max(min(trend, Decimal(30)), Decimal(-30)) / 3).quantize(_Q) if trend is not None else Decimal(0)
    )
    broken = hist.broken_promises + exp.broken_now
    promise_pts = Decimal(10 * min(broken, 3))
    components = {
        "amount": amount_pts,
        "age": age_pts,
        "behaviour": behaviour_pts,
        "trend": trend_pts,
        "broken_promises": promise_pts,
    }
    notes.append(f"{money} (+{amount_pts})")
    if exp.held:
        notes.append("not at risk: " + ", ".join(exp.held))
    notes.append(f"oldest {exp.oldest} days overdue (+{age_pts})")
    if risk is not None:
        notes.append(
            f"{risk.probability:.0%} likely to be paid more than {risk.days} days late ({risk.why}) "
            f"(+{behaviour_pts})"
        )
    elif avg is not None:
        notes.append(f"pays {avg.quantize(_Q)} days late on average (+{behaviour_pts})")
    else:
        notes.append("no payment history (+0)")
    if trend is not None:
        direction = "later" if trend > 0 else "earlier" if trend < 0 else "as"
        notes.append(
            f"recent payments {abs(trend).quantize(_Q)} days {direction} than before ({trend_pts:+})"
        )
    if broken:
        notes.append(f"{broken} broken promise(s) to pay (+{promise_pts})")
    if customer is not None and customer.dunning_block:
        notes.append("dunning block set in the ERP")
    score = sum(components.values(), Decimal(0)).quantize(_Q)
    return WorklistEntry(
        rank=0,
        customer_id=cid,
        customer_name=customer.name if customer else cid,
        score=score,
        amount_at_risk={
            k: v for k, v in sorted(exp.amounts.items()) if v > 0 or not (exp.held or exp.credits)
        },
        oldest_days_overdue=exp.oldest,
        overdue_invoices=exp.count,
        average_days_late=avg.quantize(_Q) if avg is not None else None,
        trend_days=trend.quantize(_Q) if trend is not None else None,
        broken_promises=broken,
        components=components,
        explanation=f"score {score}: " + "; ".join(notes),
        promised=dict(sorted(exp.promised.items())),
        disputed=dict(sorted(exp.disputed.items())),
        credits=dict(sorted(exp.credits.items())),
        ranked_amount=total,
        reporting_currency=reporting,
        held=tuple(exp.held),
    )


def _ranked_amount(exp: _Exposure, fx: FxRates | None) -> tuple[Decimal, str | None, str]:
    """The amount the rank uses, its currency, and the words that say how it was reached."""
    at_risk = {c: a for c, a in sorted(exp.amounts.items()) if a > 0}
    invoices = f"in {exp.count} invoice(s)"
    credited = ""
    if exp.credits:
        credited = ", after " + ", ".join(f"{a} {c}" for c, a in sorted(exp.credits.items()))
        credited += " of unapplied payments and credits"
    if not at_risk:
        return Decimal(0), fx.reporting_currency if fx else None, f"nothing at risk{credited}"
    listed = ", ".join(f"{a} {c}" for c, a in at_risk.items())
    if fx is None:
        if len(at_risk) == 1:
            [(currency, amount)] = at_risk.items()
            return amount, None, f"{listed} at risk {invoices}{credited}"
        # Without rates, currencies are never added at par: the largest amount ranks, the rest is named.
        currency, amount = max(at_risk.items(), key=lambda item: item[1])
        others = ", ".join(c for c in at_risk if c != currency)
        return (
            amount,
            None,
            (
                f"{listed} at risk {invoices}{credited}; no FX rates configured: ranked on the "
                f"{amount} {currency} only, {others} not added"
            ),
        )
    total = Decimal(0)
    used: list[str] = []
    missing: list[str] = []
    for currency, amount in at_risk.items():
        rate = fx.rate_for(currency)
        if rate is None:
            missing.append(currency)
            continue
        total += amount * rate.rate
        if currency != fx.reporting_currency:
            used.append(rate.describe(currency, fx.reporting_currency))
    total = total.quantize(_Q)
    words = f"{listed} at risk {invoices}{credited} = {total} {fx.reporting_currency}"
    if used:
        words += f" at {'; '.join(used)}"
    if missing:
        words += f"; no FX rate for {', '.join(missing)}: not counted"
    return total, fx.reporting_currency, words
