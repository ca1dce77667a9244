"""What each invoice's customer had done before a given day: the features, without looking ahead.

The paid invoices are sorted by customer and payment day once, with running sums beside them, so
the customer's history as it stood on any day (count, mean and spread of days late, the last
payments, disputes) is two binary searches and a subtraction, for a million invoices at once. A
training invoice sees only the payments made before it was issued; an open one, those made before
the day of the prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.prediction.book import OPEN, Book

__all__ = [
    "FEATURES",
    "CustomerIndex",
    "History",
    "PaymentIndex",
    "feature_matrix",
    "group_median",
    "months_of",
]

# Customers with fewer payments than this are pulled toward the whole book (a weight of SHRINK
# invoices at the book's figure): three invoices say little about a customer.
SHRINK = 5.0
RECENT = 3
FEATURES = (
    "terms_days",
    "log_amount",
    "amount_vs_usual",
    "currency",
    "disputed",
    "due_month",
    "payments_before",
    "mean_late",
    "mean_late_undisputed",
    "last_late",
    "recent_late",
    "spread_late",
    "disputed_share",
    "late30_share",
    "broken_promise_share",
)
CATEGORICAL = ("currency",)


class CustomerIndex:
    """Customer ids as small integers (one vocabulary for history and open invoices)."""

    def __init__(self, *ids: np.ndarray) -> None:
        self.ids = np.unique(np.concatenate([i.astype(str) for i in ids])) if ids else np.array([], str)

    @classmethod
    def of_sorted(cls, ids: np.ndarray) -> CustomerIndex:
        """The vocabulary ``ids`` as kept (already unique and sorted, as a stored model holds it)."""
        index = cls()
        index.ids = ids
        return index

    def codes(self, ids: np.ndarray) -> np.ndarray:
        """The code of each id (ids not in the vocabulary get -1)."""
        wanted = ids.astype(str)
        found = np.searchsorted(self.ids, wanted)
        found = np.minimum(found, max(len(self.ids) - 1, 0))
        ok = (self.ids[found] == wanted) if len(self.ids) else np.zeros(len(wanted), bool)
        return np.where(ok, found, -1).astype(np.int64)


@dataclass(frozen=True, slots=True)
class History:
    """A customer's history as it stood on some day, one entry per invoice asked about.

    ``count`` is the number of payments before that day; the other figures are NaN without any.
    ``promises`` counts the paid invoices that carried a promise to pay, ``broken_promises`` those
    paid after the day promised.
    """

    count: np.ndarray
    mean_late: np.ndarray
    mean_undisputed: np.ndarray
    last_late: np.ndarray
    recent_late: np.ndarray
    spread_late: np.ndarray
    disputed: np.ndarray
    late30: np.ndarray
    mean_amount: np.ndarray
    promises: np.ndarray
    broken_promises: np.ndarray


class PaymentIndex:
    """Paid invoices by customer and payment day, with running sums for history on any day."""

    def __init__(self, paid: Book, codes: np.ndarray) -> None:
        late = paid.days_late
        order = np.lexsort((paid.paid, codes))
        self._codes = codes[order]
        self._key = (self._codes << 32) + paid.paid[order].astype(np.int64)
        self._late = late[order]
        undisputed = ~paid.disputed[order]

        def running(values: np.ndarray) -> np.ndarray:
            return np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])

        self._sum = running(self._late)
        self._sum2 = running(self._late**2)
        self._disputed = running(paid.disputed[order])
        self._late30 = running(self._late > 30)
        self._und_sum = running(np.where(undisputed, self._late, 0.0))
        self._und_n = running(undisputed)
        self._amount = running(paid.amount[order])
        promised = paid.promised[order]
        has_promise = promised != OPEN
        self._promises = running(has_promise)
        self._broken = running(has_promise & (paid.paid[order] > promised))

    def before(self, codes: np.ndarray, days: np.ndarray) -> History:
        """Each customer's payments made strictly before the matching day."""
        known = codes >= 0
        safe = np.where(known, codes, 0).astype(np.int64)
        start = np.searchsorted(self._key, safe << 32, side="left")
        end = np.searchsorted(self._key, (safe << 32) + days.astype(np.int64), side="left")
        end = np.where(known, end, start)
        n = (end - start).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            total = self._sum[end] - self._sum[start]
            mean = total / n
            var = (self._sum2[end] - self._sum2[start]) / n - mean**2
            spread = np.where(n >= 2, np.sqrt(np.maximum(var, 0.0)), np.nan)
            und_n = self._und_n[end] - self._und_n[start]
            mean_und = (self._und_sum[end] - self._und_sum[start]) / und_n
            recent_from = np.maximum(end - RECENT, start)
            recent = (self._sum[end] - self._sum[recent_from]) / (end - recent_from)
            last = np.where(n >= 1, self._late[np.maximum(end - 1, 0)] if len(self._late) else np.nan, np.nan)
            disputed = (self._disputed[end] - self._disputed[start]) / n
            late30 = (self._late30[end] - self._late30[start]) / n
            amount = (self._amount[end] - self._amount[start]) / n
        promises = self._promises[end] - self._promises[start]
        broken = self._broken[end] - self._broken[start]
        return History(n, mean, mean_und, last, recent, spread, disputed, late30, amount, promises, broken)


def feature_matrix(
    book: Book,
    history: History,
    currencies: dict[str, int],
    book_mean_late: float,
) -> np.ndarray:
    """The model's inputs, one row per invoice, in the order of ``FEATURES`` (NaN = unknown)."""
    n = history.count
    shrunk = (np.nan_to_num(history.mean_late) * n + SHRINK * book_mean_late) / (n + SHRINK)
    with np.errstate(invalid="ignore", divide="ignore"):
        vs_usual = np.log1p(book.amount) - np.log1p(history.mean_amount)
    currency = np.array([currencies.get(c, np.nan) for c in book.currency.tolist()], dtype=np.float64)
    months = months_of(book.due)
    cols = [
        (book.due - book.issue).astype(np.float64),
        np.log1p(book.amount),
        vs_usual,
        currency,
        book.disputed.astype(np.float64),
        months.astype(np.float64),
        n,
        shrunk,
        history.mean_undisputed,
        history.last_late,
        history.recent_late,
        history.spread_late,
        history.disputed,
        history.late30,
        np.where(history.promises > 0, history.broken_promises / np.maximum(history.promises, 1), np.nan),
    ]
    # Filled column by column in single precision: a float64 stack of a million rows would double it.
    out = np.empty((len(book), len(cols)), dtype=np.float32)
    for i, col in enumerate(cols):
        out[:, i] = col
    return out


def months_of(days: np.ndarray) -> np.ndarray:
    """Calendar month (1-12) of each ordinal day."""
    epoch = np.datetime64("0001-01-01")
    as_dates = epoch + (days.astype(np.int64) - 1).astype("timedelta64[D]")
    return as_dates.astype("datetime64[M]").astype(np.int64) % 12 + 1


def group_median(codes: np.ndarray, values: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The count and the median of ``values`` per group code (NaN for empty groups)."""
    order = np.lexsort((values, codes))
    sorted_values = values[order]
    counts = np.bincount(codes, minlength=groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    median = np.full(groups, np.nan)
    has = counts > 0
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    median[has] = (sorted_values[lo] + sorted_values[hi]) / 2
    return counts, median
