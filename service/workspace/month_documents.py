"""The documents behind one month's DSO, Best Possible DSO, ADD and CEI on the overview.

Each figure is worked out again here from lists of documents, with the overview's formulas
(``analytics.dso``, ``analytics.cei``), so a person can follow every number to the invoices,
payments and credit memos that make it:

* AR at the month's end = the invoices open today − the invoices issued since + the payments and
  credit memos applied since (the running month: the invoices open today);
* credit sales of a month = the invoices issued in it;
* AR not yet due at the month's end = the invoices issued by then and due after it (the running
  month: the open amounts of the invoices due today or later), at most that AR;
* collected in the month = the payments and credit memos applied in it, which is the CEI's
  numerator (AR at the start + credit sales − AR at the end).

The lists read the same per-document contributions the overview's sums are made of
(``store.insights``), so their sums are the overview's figures, except where the roll-back fell
below zero and the overview took the AR as zero (payments the ERP never reported): the page says so.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from analytics.cei import collection_effectiveness_index
from analytics.dso import (
    CountBack,
    Period,
    average_days_delinquent,
    best_possible_dso,
    count_back_dso,
    simple_dso,
)
from analytics.trends import add_months, month_start
from service.workspace.overview import DSO_MONTHS, HISTORY_MONTHS
from store import StateStore
from store.insights import DocumentFact, documents

__all__ = ["DocumentList", "MonthDocuments", "month_documents"]

ZERO = Decimal(0)
LIST_LIMIT = 500
INVOICES = ("invoices",)
COLLECTIONS = ("payments", "credit_memos")


@dataclass
class DocumentList:
    """One list on the page: its documents (up to ``LIST_LIMIT`` per connection), count and sum."""

    key: str
    title: str
    rows: list[tuple[str, DocumentFact]] = field(default_factory=list)
    count: int = 0
    amount: Decimal = ZERO
    # Which amount of each document counts: "flow" (total, applied) or "open".
    amount_of: str = "flow"

    def add(self, connection: str, rows: Sequence[DocumentFact], count: int, amount: Decimal) -> None:
        self.rows += [(connection, r) for r in rows]
        self.count += count
        self.amount += amount

    @property
    def complete(self) -> bool:
        """Whether every document is listed (a long list is cut; its sum covers all)."""
        return len(self.rows) == self.count


@dataclass
class MonthDocuments:
    """One month's documents and the figures worked out from their sums."""

    month: date
    end: date
    running: bool
    currency: str
    connections: list[str]
    open_today: DocumentList
    issued_since: DocumentList
    applied_since: DocumentList
    sales: list[tuple[date, int, DocumentList]]  # month, its days, its invoices; newest first
    not_due: DocumentList
    collected: DocumentList

    @property
    def ending_ar(self) -> Decimal:
        return self.open_today.amount - self.issued_since.amount + self.applied_since.amount

    @property
    def not_due_ar(self) -> Decimal:
        return max(min(self.not_due.amount, self.ending_ar), ZERO)

    @property
    def window(self) -> list[tuple[date, int, DocumentList]]:
        """The months simple DSO and Best Possible DSO divide by."""
        return self.sales[:DSO_MONTHS]

    @property
    def window_sales(self) -> Decimal:
        return sum((s.amount for _, _, s in self.window), ZERO)

    @property
    def window_days(self) -> int:
        return sum(days for _, days, _ in self.window)

    @property
    def dso(self) -> Decimal | None:
        return simple_dso(self.ending_ar, self.window_sales, self.window_days)

    @property
    def best_possible_dso(self) -> Decimal | None:
        return best_possible_dso(self.not_due_ar, self.window_sales, self.window_days)

    @property
    def average_days_delinquent(self) -> Decimal | None:
        return average_days_delinquent(self.dso, self.best_possible_dso)

    @property
    def count_back(self) -> CountBack:
        return count_back_dso(
            self.ending_ar, [Period(days, s.amount, m.strftime("%Y-%m")) for m, days, s in self.sales]
        )

    @property
    def beginning_ar(self) -> Decimal:
        """AR at the month's start: its end rolled back over the month's own invoices and collections."""
        return self.ending_ar - self.sales[0][2].amount + self.collected.amount

    @property
    def cei(self) -> Decimal | None:
        return collection_effectiveness_index(
            self.beginning_ar, self.sales[0][2].amount, self.ending_ar, self.not_due_ar
        )


def _month_days(month: date, as_of: date) -> int:
    if month == month_start(as_of):
        return as_of.day
    return calendar.monthrange(month.year, month.month)[1]


def month_documents(
    store: StateStore,
    connections: Sequence[str],
    currency: str,
    month: date,
    as_of: date,
    *,
    default_terms_days: int = 30,
) -> MonthDocuments:
    """The documents behind ``month``'s figures in ``currency``, over ``connections`` together.

    Raises:
        ValueError: the month is not one of the overview's (after today's, or beyond its history).
    """
    month = month_start(month)
    first = add_months(month_start(as_of), -(HISTORY_MONTHS - 1))
    if not first <= month <= month_start(as_of):
        raise ValueError(f"expected a month from {first:%Y-%m} to {as_of:%Y-%m}")
    running = month == month_start(as_of)
    end = as_of if running else add_months(month, 1) - timedelta(days=1)
    # The roll-back runs to the end of today's month (documents dated later are not in it).
    last = add_months(month_start(as_of), 1) - timedelta(days=1)
    out = MonthDocuments(
        month=month,
        end=end,
        running=running,
        currency=currency,
        connections=list(connections),
        open_today=DocumentList("open-today", f"Invoices open on {as_of.isoformat()}", amount_of="open"),
        issued_since=DocumentList("issued-since", f"Invoices issued after {end.isoformat()}"),
        applied_since=DocumentList("applied-since", f"Payments and credits applied after {end.isoformat()}"),
        sales=[],
        not_due=DocumentList(
            "not-due",
            f"Invoices due after {as_of - timedelta(days=1)}, open amounts"
            if running
            else f"Invoices issued by {end.isoformat()} and due after it",
            amount_of="open" if running else "flow",
        ),
        collected=DocumentList("collected", f"Payments and credit memos applied in {month:%Y-%m}"),
    )

    def read(into: DocumentList, streams: Sequence[str], **where: Any) -> None:
        for name in connections:
            found = documents(
                store, name, currency, streams=streams, default_terms_days=default_terms_days,
                limit=LIST_LIMIT, **where,
            )  # fmt: skip
            into.add(name, found.listed, found.count, found.open if into.amount_of == "open" else found.flow)

    read(out.open_today, INVOICES, open_only=True)
    if not running:
        read(out.issued_since, INVOICES, day_from=end + timedelta(days=1), day_to=last)
        read(out.applied_since, COLLECTIONS, day_from=end + timedelta(days=1), day_to=last, moving_only=True)
        read(out.not_due, INVOICES, day_to=end, due_after=end)
    else:
        read(out.not_due, INVOICES, open_only=True, due_after=as_of - timedelta(days=1))
    month_end = add_months(month, 1) - timedelta(days=1)
    read(out.collected, COLLECTIONS, day_from=month, day_to=month_end, moving_only=True)

    # Credit sales month by month, newest first: the simple DSO's months, and as far back as the
    # count-back walks before the AR runs out (or the history does).
    ending = out.ending_ar
    walked = ZERO
    m = month
    while m >= first and (len(out.sales) < DSO_MONTHS or walked < ending):
        sales = DocumentList(f"sales-{m:%Y-%m}", f"Invoices issued in {m:%Y-%m}")
        read(sales, INVOICES, day_from=m, day_to=add_months(m, 1) - timedelta(days=1))
        out.sales.append((m, _month_days(m, as_of), sales))
        walked += sales.amount
        m = add_months(m, -1)
    return out
