"""A realistic payment history to measure the prediction on (the benchmark and the tests use it).

What real receivables ledgers show, each with a plausible size:

* **segments** of customers: prompt payers (a few days either side of the due date), steady late
  payers (one to three weeks), slow payers (three to seven weeks) and erratic ones (anything);
* **terms** per customer (net 14, 30, 45, 60) and currencies (EUR and USD mostly, some GBP, a
  little CHF);
* **seasonality**: invoices falling due in August or in December are paid about a week later
  (holidays, year-end closing);
* **amounts**: a customer's unusually large invoice waits longer for approval;
* **disputes**: about 4 % of invoices (15 % for a few quarrelsome customers), paid three to ten
  weeks later than otherwise;
* **drift**: every customer's lateness wanders slowly, and some customers get into trouble from
  one month on and pay weeks later from then.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np

from analytics.prediction.book import OPEN, Book

__all__ = ["generate_history", "open_on", "paid_before"]

_SEGMENTS = (
    # share, base days late (low, high), day-to-day noise (days)
    (0.30, (-4.0, 2.0), 2.5),
    (0.35, (5.0, 20.0), 5.0),
    (0.20, (20.0, 45.0), 9.0),
    (0.15, (0.0, 30.0), 18.0),
)
_TERMS = np.array([14, 30, 30, 30, 45, 60])
_CURRENCIES = np.array(["EUR", "USD", "GBP", "CHF"])
_CURRENCY_SHARE = np.array([0.55, 0.33, 0.11, 0.01])
_SEASON = {8: 6.0, 12: 8.0, 1: 3.0}


def generate_history(
    invoices: int = 100_000,
    *,
    customers: int | None = None,
    start: date = date(2023, 1, 1),
    years: float = 3.0,
    seed: int = 0,
) -> Book:
    """Invoices issued over ``years`` from ``start``, each with the day it was (or will be) paid.

    Args:
        invoices: how many invoices.
        customers: how many customers (default: one per 40 invoices).
        start: the first issue day.
        years: the span of issue days.
        seed: the random seed (same seed, same history).
    """
    rng = np.random.default_rng(seed)
    n_cust = customers or max(20, invoices // 40)
    span = int(365 * years)
    first = start.toordinal()

    # Customers.
    share = np.array([s[0] for s in _SEGMENTS])
    segment = rng.choice(len(_SEGMENTS), size=n_cust, p=share / share.sum())
    lows = np.array([s[1][0] for s in _SEGMENTS])[segment]
    highs = np.array([s[1][1] for s in _SEGMENTS])[segment]
    base = rng.uniform(lows, highs)
    noise = np.array([s[2] for s in _SEGMENTS])[segment]
    terms = rng.choice(_TERMS, size=n_cust)
    currency = rng.choice(len(_CURRENCIES), size=n_cust, p=_CURRENCY_SHARE)
    size = rng.lognormal(7.0, 1.2, size=n_cust)
    activity = rng.lognormal(0.0, 1.0, size=n_cust)
    quarrelsome = rng.random(n_cust) < 0.05
    drift_per_year = rng.normal(0.0, 5.0, size=n_cust)
    trouble = rng.random(n_cust) < 0.10
    trouble_day = first + rng.integers(span // 4, span, size=n_cust)
    trouble_days = rng.uniform(10.0, 35.0, size=n_cust)

    # Invoices.
    who = rng.choice(n_cust, size=invoices, p=activity / activity.sum())
    issue = first + rng.integers(0, span, size=invoices)
    due = issue + terms[who]
    relative_size = rng.lognormal(0.0, 0.7, size=invoices)
    amount = np.round(size[who] * relative_size, 2)
    disputed = rng.random(invoices) < np.where(quarrelsome[who], 0.15, 0.04)

    months = _months(due)
    season = np.zeros(invoices)
    for month, days in _SEASON.items():
        season[months == month] = days
    years_in = (issue - first) / 365.0
    late = (
        base[who]
        + drift_per_year[who] * years_in
        + np.where(trouble[who] & (issue >= trouble_day[who]), trouble_days[who], 0.0)
        + season * (base[who] > 0)
        + 4.0 * np.log(relative_size) * (relative_size > 1.5)
        + np.where(disputed, rng.uniform(20.0, 70.0, size=invoices), 0.0)
        + rng.laplace(0.0, noise[who] / np.sqrt(2.0))
    )
    paid = np.maximum(due + np.rint(late).astype(np.int64), issue)
    order = np.argsort(issue, kind="stable")
    return Book(
        invoice_id=np.array([f"INV-{i:07d}" for i in range(invoices)], dtype=object),
        customer_id=np.array([f"C{c:05d}" for c in who[order]], dtype=object),
        currency=_CURRENCIES[currency[who[order]]].astype(object),
        amount=amount[order],
        issue=issue[order].astype(np.int32),
        due=due[order].astype(np.int32),
        paid=paid[order].astype(np.int32),
        disputed=disputed[order],
        promised=np.full(invoices, OPEN, dtype=np.int32),
    )


def paid_before(book: Book, day: date) -> Book:
    """The invoices paid before ``day``: the history a deployment would have on that day."""
    return book.take(book.paid < day.toordinal())


def open_on(book: Book, day: date) -> Book:
    """The invoices issued by ``day`` and not yet paid on it, with their payment day removed."""
    d = day.toordinal()
    found = book.take((book.issue <= d) & (book.paid >= d))
    return replace(found, paid=np.full(len(found), OPEN, dtype=np.int32))


def _months(days: np.ndarray) -> np.ndarray:
    from analytics.prediction.features import months_of

    return months_of(days)
