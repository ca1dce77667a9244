"""Month by month: the AR at each month's end, rolled back from today's, and the figures of each month.

The store knows today's open amounts exactly, and when each invoice was issued, each payment
received and each credit memo issued. The AR at the end of an earlier month is today's AR rolled
back: minus what was invoiced since, plus what was collected since (payments applied and credits
applied, on their own dates). The part of it not yet due then is the invoices issued by that month's
end and due after it, at most that month's AR (an invoice paid before its due date counts as open
until due: the store does not know when an invoice was paid).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from analytics.cei import collection_effectiveness_index
from analytics.dso import (
    CountBack,
    Period,
    average_days_delinquent,
    best_possible_dso,
    count_back_dso,
    simple_dso,
)

__all__ = [
    "MonthFigures",
    "MonthFlows",
    "MonthTotals",
    "add_months",
    "month_start",
    "monthly_figures",
    "months_ending",
    "roll_back",
]

ZERO = Decimal(0)


def month_start(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def add_months(month: date, n: int) -> date:
    """The first day of the month ``n`` months after ``month`` (before, when negative)."""
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def months_ending(as_of: date, count: int) -> list[date]:
    """The first days of the ``count`` months up to and including ``as_of``'s, oldest first."""
    last = month_start(as_of)
    return [add_months(last, -k) for k in range(count - 1, -1, -1)]


@dataclass(frozen=True, slots=True)
class MonthFlows:
    """What moved the AR in one month: invoices issued, and cash and credits applied."""

    invoiced: Decimal = ZERO
    collected: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class MonthTotals:
    """One month's credit sales and its AR at the month's end (``as_of`` for the running month)."""

    month: date
    days: int
    credit_sales: Decimal
    ending_ar: Decimal
    ending_current_ar: Decimal


def roll_back(
    as_of: date,
    open_now: Decimal,
    current_now: Decimal,
    flows: Mapping[date, MonthFlows],
    not_due_at_end: Mapping[date, Decimal],
    months: int,
) -> list[MonthTotals]:
    """The last ``months`` months' totals, oldest first, rolled back from today's open AR.

    Args:
        as_of: today; its month is the last one, counted up to this day.
        open_now: the open AR today.
        current_now: the part of it not yet due today.
        flows: per month (its first day), invoices issued and cash and credits applied in it.
        not_due_at_end: per month, the totals of invoices issued by its end and due after it.
        months: how many months.
    """
    out: list[MonthTotals] = []
    ending = open_now
    for i, month in enumerate(reversed(months_ending(as_of, months))):
        flow = flows.get(month, MonthFlows())
        if i == 0:
            days, current = as_of.day, min(current_now, ending)
        else:
            days = calendar.monthrange(month.year, month.month)[1]
            current = min(not_due_at_end.get(month, ZERO), ending)
        out.append(MonthTotals(month, days, flow.invoiced, ending, max(current, ZERO)))
        ending = max(ending - flow.invoiced + flow.collected, ZERO)
    out.reverse()
    return out


@dataclass(frozen=True, slots=True)
class MonthFigures:
    """The figures of one month, as the overview's trend shows them."""

    month: date
    ending_ar: Decimal
    overdue_ar: Decimal
    credit_sales: Decimal
    dso: Decimal | None
    count_back: CountBack
    best_possible_dso: Decimal | None
    average_days_delinquent: Decimal | None
    cei: Decimal | None


def monthly_figures(
    totals: Sequence[MonthTotals], *, shown: int = 12, dso_months: int = 3
) -> list[MonthFigures]:
    """Figures for the last ``shown`` of ``totals`` (oldest first); the earlier ones feed them.

    Simple DSO and Best Possible DSO use the sales of the ``dso_months`` months ending with each
    month; the count-back walks back as far as ``totals`` go; the CEI's beginning AR is the month
    before's ending AR.
    """
    out: list[MonthFigures] = []
    start = max(len(totals) - shown, 0)
    for i in range(start, len(totals)):
        t = totals[i]
        window = totals[max(i - dso_months + 1, 0) : i + 1]
        sales = sum((w.credit_sales for w in window), ZERO)
        days = sum(w.days for w in window)
        dso = simple_dso(t.ending_ar, sales, days)
        best = best_possible_dso(t.ending_current_ar, sales, days)
        walk = [Period(w.days, w.credit_sales, w.month.strftime("%Y-%m")) for w in reversed(totals[: i + 1])]
        beginning = totals[i - 1].ending_ar if i > 0 else None
        cei = (
            None
            if beginning is None
            else collection_effectiveness_index(beginning, t.credit_sales, t.ending_ar, t.ending_current_ar)
        )
        out.append(
            MonthFigures(
                month=t.month,
                ending_ar=t.ending_ar,
                overdue_ar=t.ending_ar - t.ending_current_ar,
                credit_sales=t.credit_sales,
                dso=dso,
                count_back=count_back_dso(t.ending_ar, walk),
                best_possible_dso=best,
                average_days_delinquent=average_days_delinquent(dso, best),
                cei=cei,
            )
        )
    return out
