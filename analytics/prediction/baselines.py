"""The honest baselines every prediction is measured against, and falls back to.

* **due date**: the invoice is paid on its due date (0 days late);
* **customer mean**: the customer's mean days late;
* **customer median**: the customer's median days late (a dispute paid 90 days late moves it less).

A customer's figure is pulled toward the whole book's with the weight of ``SHRINK`` invoices:
``(n × customer + SHRINK × book) / (n + SHRINK)``, so two invoices say a little and fifty say
nearly everything. Each baseline's 80 % range is its own prediction plus the 10 % and 90 %
quantiles of its errors on the history it was fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.prediction.book import Book
from analytics.prediction.features import SHRINK, CustomerIndex, group_median

__all__ = ["BASELINES", "Baselines"]

BASELINES = ("due date", "customer mean", "customer median")


@dataclass(frozen=True, slots=True)
class Baselines:
    """The baselines fitted on a paid history.

    Attributes:
        customers: the vocabulary of customer ids the per-customer arrays are indexed by.
        count: paid invoices per customer.
        mean: the customer's own mean days late (NaN without history).
        median: the customer's own median days late (NaN without history).
        book_mean: the whole book's mean days late.
        book_median: the whole book's median days late.
        ranges: per baseline, the 10 % and 90 % quantiles of its errors (actual minus predicted).
    """

    customers: CustomerIndex
    count: np.ndarray
    mean: np.ndarray
    median: np.ndarray
    book_mean: float
    book_median: float
    ranges: dict[str, tuple[float, float]]

    @classmethod
    def fit(cls, paid: Book, customers: CustomerIndex | None = None) -> Baselines:
        """Fit on paid invoices (none at all: every baseline is the due date)."""
        customers = customers or CustomerIndex(paid.customer_id)
        late = paid.days_late
        groups = len(customers.ids)
        codes = customers.codes(paid.customer_id)
        if len(late) == 0:
            zeros = np.zeros(groups)
            return cls(customers, zeros, zeros + np.nan, zeros + np.nan, 0.0, 0.0, {})
        count, median = group_median(codes, late, groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(codes, weights=late, minlength=groups) / count
        fitted = cls(customers, count, mean, median, float(late.mean()), float(np.median(late)), {})
        own = fitted.predict(codes)
        ranges = {
            name: (float(np.quantile(late - own[name], 0.1)), float(np.quantile(late - own[name], 0.9)))
            for name in BASELINES
        }
        return cls(customers, count, mean, median, fitted.book_mean, fitted.book_median, ranges)

    def shrunk(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per invoice: the customer's count, shrunk mean and shrunk median of days late."""
        known = codes >= 0
        safe = np.where(known, codes, 0)
        n = np.where(known, self.count[safe] if len(self.count) else 0, 0).astype(np.float64)
        mean = np.where(n > 0, self.mean[safe] if len(self.mean) else 0, 0.0)
        median = np.where(n > 0, self.median[safe] if len(self.median) else 0, 0.0)
        weight = n + SHRINK
        return (
            n,
            (n * mean + SHRINK * self.book_mean) / weight,
            (n * median + SHRINK * self.book_median) / weight,
        )

    def predict(self, codes: np.ndarray) -> dict[str, np.ndarray]:
        """Each baseline's days late for invoices of the customers ``codes`` (-1: unknown customer)."""
        _, mean, median = self.shrunk(codes)
        return {"due date": np.zeros(len(codes)), "customer mean": mean, "customer median": median}

    def range_of(self, name: str) -> tuple[float, float]:
        """The 80 % range of a baseline's errors (none fitted: the prediction alone)."""
        return self.ranges.get(name, (0.0, 0.0))
