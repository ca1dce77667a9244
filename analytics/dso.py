"""Days Sales Outstanding, three ways, and Average Days Delinquent.

* **Simple DSO** = ending AR ÷ credit sales of the period × days in the period.
* **Count-back DSO**: walk back month by month from the period's end, taking each month's credit
  sales off the ending AR; the days of every month used up whole, plus the share of the month in
  which the AR runs out (AR 212k, sales 100k / 80k / 70k in 30-day months: 30 + 30 + 32/70 × 30 =
  73.71 days). It is not skewed by a month of unusual sales the way the simple method is.
* **Best Possible DSO** = current (not yet due) AR ÷ credit sales of the period × days: the DSO if
  every customer paid on its due date.
* **Average Days Delinquent** = DSO − Best Possible DSO (both by the simple method, same period).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

__all__ = [
    "CountBack",
    "CountBackStep",
    "Period",
    "average_days_delinquent",
    "best_possible_dso",
    "count_back_dso",
    "simple_dso",
]

_CENT = Decimal("0.01")


def _days(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Period:
    """One month (or part of one) of credit sales: ``days`` long, ``sales`` invoiced in it."""

    days: int
    sales: Decimal
    label: str = ""


def simple_dso(ending_ar: Decimal, credit_sales: Decimal, days: int) -> Decimal | None:
    """Ending AR ÷ credit sales × days, in days (None without sales in the period)."""
    if credit_sales <= 0:
        return None
    return _days(ending_ar / credit_sales * days)


def best_possible_dso(current_ar: Decimal, credit_sales: Decimal, days: int) -> Decimal | None:
    """Current (not yet due) AR ÷ credit sales × days (None without sales in the period)."""
    return simple_dso(current_ar, credit_sales, days)


def average_days_delinquent(dso: Decimal | None, best_possible: Decimal | None) -> Decimal | None:
    """DSO − Best Possible DSO: how many days late, on average, receivables are paid."""
    if dso is None or best_possible is None:
        return None
    return _days(dso - best_possible)


@dataclass(frozen=True, slots=True)
class CountBackStep:
    """One month of the walk: the AR left before it, and the days it adds."""

    label: str
    ar_before: Decimal
    sales: Decimal
    days: Decimal


@dataclass(frozen=True, slots=True)
class CountBack:
    """A count-back DSO with its walk; ``complete`` is False when the months ran out first."""

    days: Decimal
    steps: tuple[CountBackStep, ...]
    complete: bool


def count_back_dso(ending_ar: Decimal, periods: Sequence[Period]) -> CountBack:
    """Count back through ``periods`` (newest first) until their sales account for ``ending_ar``.

    When the AR is larger than every period's sales together, the days of all periods are
    returned with ``complete`` False: the DSO is at least that.
    """
    left = ending_ar
    total = Decimal(0)
    steps: list[CountBackStep] = []
    if left <= 0:
        return CountBack(Decimal("0.00"), (), True)
    for period in periods:
        if period.sales >= left:
            share = left / period.sales * period.days
            steps.append(CountBackStep(period.label, left, period.sales, _days(share)))
            return CountBack(_days(total + share), tuple(steps), True)
        steps.append(CountBackStep(period.label, left, period.sales, Decimal(period.days)))
        total += period.days
        left -= max(period.sales, Decimal(0))
    return CountBack(_days(total), tuple(steps), False)
