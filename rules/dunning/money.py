"""Money helpers for dunning: rounding to the currency's minor unit and late-payment interest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rules.dunning.currencies import smallest_unit
from rules.dunning.policy import RateTable

__all__ = ["InterestSpan", "interest_for", "interest_spans", "quantize"]


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` half-up to the minor unit of ``currency`` (cents for most)."""
    return amount.quantize(smallest_unit(currency), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class InterestSpan:
    """Days of one invoice's interest at one rate: what a letter states ("10.15 % p.a. on 1,000.00
    from 2026-10-15 to 2026-11-23").

    Attributes:
        start: the first day that earns interest at this rate.
        end: the last day (inclusive).
        rate_percent: the annual rate, reference + margin.
        day_count: the days of the year the rate is divided by (365 or 360).
    """

    start: date
    end: date
    rate_percent: Decimal
    day_count: int

    @property
    def days(self) -> int:
        """How many days the span covers."""
        return (self.end - self.start).days + 1

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "rate_percent": str(self.rate_percent),
            "day_count": self.day_count,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InterestSpan:
        """Read back what :meth:`to_json` wrote."""
        return cls(
            date.fromisoformat(data["from"]),
            date.fromisoformat(data["to"]),
            Decimal(data["rate_percent"]),
            int(data["day_count"]),
        )


def interest_spans(due_date: date, until: date, table: RateTable) -> list[InterestSpan]:
    """The days from the day after ``due_date`` to ``until`` that earn interest, one span per rate.

    Days before the table's first period earn nothing and are in no span: claiming interest at a
    rate nobody entered would be worse than claiming too little.
    """
    first = due_date + timedelta(days=1)
    spans: list[InterestSpan] = []
    periods = table.periods
    for i, period in enumerate(periods):
        start = max(period.start, first)
        end = until if i + 1 == len(periods) else min(until, periods[i + 1].start - timedelta(days=1))
        if end < start:
            continue
        rate = period.reference_percent + table.margin_percent
        if spans and spans[-1].rate_percent == rate and spans[-1].end + timedelta(days=1) == start:
            spans[-1] = InterestSpan(spans[-1].start, end, rate, table.day_count)
        else:
            spans.append(InterestSpan(start, end, rate, table.day_count))
    return spans


def interest_for(
    open_amount: Decimal, due_date: date, until: date, table: RateTable, currency: str
) -> Decimal:
    """Late-payment interest accrued on ``open_amount`` from the day after ``due_date`` to ``until``.

    Simple interest per day: each day earns ``open_amount × (reference + margin) / 100 / day_count``
    at the rate of the period the day falls in (the EU Late Payment Directive fixes the reference rate
    per half-year, so a table has one period per half-year). Days before the table's first period earn
    nothing (see :func:`interest_spans`). The result is rounded once, per invoice, to the currency's
    minor unit.

    Args:
        open_amount: the unpaid amount of the invoice.
        due_date: the invoice's due date; interest starts the day after.
        until: the last day that earns interest (inclusive).
        table: the rate table.
        currency: the invoice currency, for rounding.

    Returns:
        The interest, never negative.
    """
    if open_amount <= 0:
        return quantize(Decimal(0), currency)
    rate_days = sum(
        (span.rate_percent * span.days for span in interest_spans(due_date, until, table)), Decimal(0)
    )
    return quantize(open_amount * rate_days / (Decimal(100) * table.day_count), currency)
