"""Money helpers for dunning: rounding to the currency's minor unit and late-payment interest."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from rules.dunning.policy import RateTable

__all__ = ["interest_for", "quantize"]

# ISO 4217 exponents that differ from 2; anything not listed has cents.
_MINOR_UNITS = {
    "BHD": 3,
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "RWF": 0,
    "TND": 3,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
}
_QUANTA = {0: Decimal(1), 2: Decimal("0.01"), 3: Decimal("0.001")}


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` half-up to the minor unit of ``currency`` (cents for most)."""
    return amount.quantize(_QUANTA[_MINOR_UNITS.get(currency, 2)], rounding=ROUND_HALF_UP)


def interest_for(
    open_amount: Decimal, due_date: date, until: date, table: RateTable, currency: str
) -> Decimal:
    """Late-payment interest accrued on ``open_amount`` from the day after ``due_date`` to ``until``.

    Simple interest per day: each day earns ``open_amount × (reference + margin) / 100 / day_count``
    at the rate of the period the day falls in (the EU Late Payment Directive fixes the reference rate
    per half-year, so a table has one period per half-year). Days before the table's first period earn
    nothing: claiming interest at a rate nobody entered would be worse than claiming too little.
    The result is rounded once, per invoice, to the currency's minor unit.

    Args:
        open_amount: the unpaid amount of the invoice.
        due_date: the invoice's due date; interest starts the day after.
        until: the last day that earns interest (inclusive).
        table: the rate table.
        currency: the invoice currency, for rounding.

    Returns:
        The interest, never negative.
    """
    first = due_date + timedelta(days=1)
    if until < first or open_amount <= 0:
        return quantize(Decimal(0), currency)
    rate_days = Decimal(0)
    periods = table.periods
    for i, period in enumerate(periods):
        start = max(period.start, first)
        end = until if i + 1 == len(periods) else min(until, periods[i + 1].start - timedelta(days=1))
        if end < start:
            continue
        days = (end - start).days + 1
        rate_days += (period.reference_percent + table.margin_percent) * days
    return quantize(open_amount * rate_days / (Decimal(100) * table.day_count), currency)
