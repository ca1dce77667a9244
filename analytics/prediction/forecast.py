"""The cash forecast: expected collections per week for the next weeks, per currency, with a band.

Each open invoice's predicted distribution of its payment day (given it is not paid before today)
says how likely it is to be paid in each week; its open amount times that chance is what it is
expected to bring in that week. What is not expected within the horizon is shown as ``later``, so
the weeks and ``later`` add up to the open amount, currency by currency.

The band is the 80 % range of the week's total, ``expected ± 1.28 × √variance``. Invoices are not
paid independently of each other: a customer pays several invoices in one run, or is late with all
of them at once, and a holiday week delays everyone. So the variance has three parts, each from
``s = amount × √(p × (1 − p))`` (an invoice's own spread in the week):

* every invoice on its own: ``Σ s²``;
* the invoices of one customer moving together: ``ρ_customer × (Σ_customers (Σ s)² − Σ s²)``;
* the invoices falling due in one week moving together: ``ρ_week × (Σ_due weeks (Σ s)² − Σ s²)``;

where the ρ are the intraclass correlations of the model's errors on the newest history it was
not trained on, among a customer's invoices and among the invoices falling due in one week
(``Correlation``, measured when the model is fitted).

With exchange rates into a reporting currency, the currencies are added up at those rates; a
currency without a rate is named and left out, never added at par.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from analytics.prediction.model import Correlation, Predictions

__all__ = ["CashForecast", "CurrencyForecast", "WeekForecast", "cash_forecast"]

WEEKS = 13
_Z80 = 1.2815515655446004


@dataclass(frozen=True, slots=True)
class WeekForecast:
    """One week's expected collections and their band."""

    start: date
    expected: float
    low: float
    high: float

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values (amounts rounded to cents)."""
        return {
            "week_start": self.start.isoformat(),
            "week_end": (self.start + timedelta(days=6)).isoformat(),
            "expected": round(self.expected, 2),
            "low": round(self.low, 2),
            "high": round(self.high, 2),
        }


@dataclass(frozen=True, slots=True)
class CurrencyForecast:
    """The weeks of one currency, what is expected later, and what is open today."""

    currency: str
    weeks: list[WeekForecast]
    later: float
    open_amount: float
    invoices: int

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "currency": self.currency,
            "open_amount": round(self.open_amount, 2),
            "invoices": self.invoices,
            "weeks": [w.to_json() for w in self.weeks],
            "later": round(self.later, 2),
        }


@dataclass(frozen=True, slots=True)
class CashForecast:
    """The forecast per currency, and in the reporting currency when rates were given."""

    as_of: date
    currencies: list[CurrencyForecast]
    reporting: CurrencyForecast | None = None
    rates: Mapping[str, float] | None = None
    without_rate: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "as_of": self.as_of.isoformat(),
            "currencies": [c.to_json() for c in self.currencies],
            "reporting": self.reporting.to_json() if self.reporting else None,
            "rates": dict(self.rates) if self.rates else None,
            "without_rate": list(self.without_rate),
        }


def cash_forecast(
    predictions: Predictions,
    as_of: date,
    *,
    weeks: int = WEEKS,
    rates: Mapping[str, float] | None = None,
    reporting_currency: str | None = None,
) -> CashForecast:
    """Expected collections per week from ``as_of`` on (week 1 starts on ``as_of``).

    Args:
        predictions: the open invoices' predictions, made as of ``as_of``.
        as_of: the first day of the first week.
        weeks: how many weeks.
        rates: reporting-currency units per unit of each currency (the reporting one needs none).
        reporting_currency: the currency to add everything up in (with ``rates``).
    """
    book, spread = predictions.book, predictions.spread
    names, codes = np.unique(book.currency.astype(str), return_inverse=True)
    _, customers = np.unique(book.customer_id.astype(str), return_inverse=True)
    due_weeks = (book.due.astype(np.int64) - book.due.min(initial=0)) // 7
    groups = len(names)
    amount = book.amount
    start = as_of.toordinal()
    f = np.zeros(groups)
    if reporting_currency is not None:
        known = {reporting_currency: 1.0, **(rates or {})}
        factor = np.array([known.get(str(c), np.nan) for c in names])
        usable = ~np.isnan(factor)
        f = np.where(usable, factor, 0.0)
    in_reporting = f[codes]
    expected = np.zeros((weeks, groups))
    variance = np.zeros((weeks, groups))
    reporting_variance = np.zeros(weeks)
    before = np.ones(len(book))  # P(not paid before the week starts | open today)
    for w in range(weeks):
        # Paid on day d means days late in (d - 0.5, d + 0.5]: a week ends half a day before the next.
        after = spread.survival((start + 7 * (w + 1) - book.due).astype(np.float64) - 0.5)
        p = np.clip(before - after, 0.0, 1.0)
        expected[w] = np.bincount(codes, weights=amount * p, minlength=groups)
        own = amount * np.sqrt(p * (1 - p))
        variance[w] = _variance(own, codes, customers, due_weeks, groups, predictions.correlation)
        if reporting_currency is not None:
            one = np.zeros(len(book), dtype=np.int64)
            reporting_variance[w] = _variance(
                own * in_reporting, one, customers, due_weeks, 1, predictions.correlation
            )[0]
        before = after
    later = np.bincount(codes, weights=amount * before, minlength=groups)
    totals = np.bincount(codes, weights=amount, minlength=groups)
    counts = np.bincount(codes, minlength=groups)
    per_currency = [
        _currency(str(names[g]), as_of, expected[:, g], variance[:, g], later[g], totals[g], int(counts[g]))
        for g in range(groups)
    ]
    if reporting_currency is None:
        return CashForecast(as_of, per_currency)
    reporting = _currency(
        reporting_currency,
        as_of,
        expected @ f,
        reporting_variance,
        float(later @ f),
        float(totals @ f),
        int(counts[usable].sum()),
    )
    missing = tuple(str(c) for c in names[~usable])
    return CashForecast(as_of, per_currency, reporting, dict(rates or {}), missing)


def _variance(
    own: np.ndarray,
    groups: np.ndarray,
    customers: np.ndarray,
    due_weeks: np.ndarray,
    n_groups: int,
    rho: Correlation,
) -> np.ndarray:
    """Per group, the variance of the week's total with the errors shared as ``rho`` says."""
    alone = np.bincount(groups, weights=own**2, minlength=n_groups)
    shared = np.zeros(n_groups)
    for share, kinds in ((rho.customer, customers), (rho.week, due_weeks)):
        if share <= 0:
            continue
        key = kinds.astype(np.int64) * n_groups + groups
        per_kind = np.bincount(key, weights=own, minlength=(int(kinds.max(initial=0)) + 1) * n_groups)
        together = np.bincount(np.arange(len(per_kind)) % n_groups, weights=per_kind**2, minlength=n_groups)
        shared += share * (together - alone)
    return np.maximum(alone + shared, 0.0)


def _currency(
    currency: str,
    as_of: date,
    expected: np.ndarray,
    variance: np.ndarray,
    later: float,
    total: float,
    invoices: int,
) -> CurrencyForecast:
    band = _Z80 * np.sqrt(variance)
    weeks = [
        WeekForecast(as_of + timedelta(days=7 * w), float(e), float(max(e - b, 0.0)), float(e + b))
        for w, (e, b) in enumerate(zip(expected.tolist(), band.tolist(), strict=True))
    ]
    return CurrencyForecast(currency, weeks, float(later), float(total), invoices)
