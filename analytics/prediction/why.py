"""Why a prediction says what it says, in words a collector uses.

"predicted 18 days late (80 %: between 6 and 41 days late); usually pays 12 days late (24 invoices
paid); last three invoices later than usual (25 days late on average); this invoice is disputed".
The words name the facts the model was given that set this invoice apart: the customer's usual
lateness, a recent change, disputes, an unusual amount, a slow season, and, when the baseline had
to stand in for the model, why it did.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date
from functools import lru_cache

import numpy as np

__all__ = ["Facts", "days_words", "explain"]

_MONTHS = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_SCALARS = ("book_usual", "has_history")
_NO_PROMISE = int(np.iinfo(np.int32).min)
# A change of fewer days than this is not worth a collector's attention.
_NOTABLE_DAYS = 5
_NOTABLE_SEASON = 4
_LARGE_AMOUNT = 3.0


@dataclass(frozen=True, slots=True)
class Facts:
    """Per invoice, what the words are made of (arrays of one length)."""

    days_late: np.ndarray
    low: np.ndarray
    high: np.ndarray
    already: np.ndarray
    model_used: np.ndarray
    payments: np.ndarray
    usual: np.ndarray
    recent: np.ndarray
    disputed: np.ndarray
    disputed_before: np.ndarray
    amount_ratio: np.ndarray
    due_month_effect: np.ndarray
    due_month: np.ndarray
    known_currency: np.ndarray
    currency: np.ndarray
    promised: np.ndarray
    promises_before: np.ndarray
    broken_before: np.ndarray
    book_usual: float
    has_history: bool = True


@lru_cache(maxsize=4096)
def _day_words(d: int) -> str:
    if d == 0:
        return "on the due date"
    unit = "day" if abs(d) == 1 else "days"
    return f"{d} {unit} late" if d > 0 else f"{-d} {unit} early"


def days_words(days: float) -> str:
    """``12 days late``, ``on the due date``, ``3 days early``."""
    return _day_words(round(days))


@lru_cache(maxsize=65536)
def _range(low: int, high: int) -> str:
    if low > 0 and high > 0:
        return f"between {low} and {high} days late"
    return f"between {_day_words(low)} and {_day_words(high)}"


def explain(f: Facts, note: str | None, which: np.ndarray | slice | None = None) -> Iterator[str]:
    """One sentence of reasons per invoice (of the rows ``which`` only, when given)."""
    if which is not None:
        f = Facts(
            **{
                k.name: (getattr(f, k.name) if k.name in _SCALARS else getattr(f, k.name)[which])
                for k in fields(f)
            }
        )
    columns = zip(
        np.rint(f.days_late).astype(np.int64).tolist(),
        np.rint(f.low).astype(np.int64).tolist(),
        np.rint(f.high).astype(np.int64).tolist(),
        np.rint(f.already).astype(np.int64).tolist(),
        f.model_used.tolist(),
        f.payments.tolist(),
        f.usual.tolist(),
        f.recent.tolist(),
        f.disputed.tolist(),
        f.disputed_before.tolist(),
        f.amount_ratio.tolist(),
        f.due_month_effect.tolist(),
        f.due_month.tolist(),
        f.known_currency.tolist(),
        f.currency.tolist(),
        f.promised.tolist(),
        f.promises_before.tolist(),
        f.broken_before.tolist(),
        strict=True,
    )
    book_usual = days_words(f.book_usual)
    for (
        days,
        low,
        high,
        already,
        model,
        n,
        usual,
        recent,
        disputed,
        before,
        ratio,
        season,
        month,
        cur_ok,
        cur,
        promised,
        promises,
        broken,
    ) in columns:
        if f.has_history:
            parts = [f"predicted {_day_words(days)} (80 %: {_range(low, high)})"]
        else:
            parts = [f"predicted {_day_words(days)} (no range without paid history)"]
        if already > 0:
            # The usual day already passed: the prediction is counted from today, and saying so
            # keeps "predicted 8 days late" beside "usually pays 10 days early" from reading as a
            # contradiction.
            reference = usual if n > 0 else f.book_usual
            passed = not math.isnan(reference) and reference < already
            parts.append(
                f"already {already} days overdue"
                + (", past the usual day: predicted from today on" if passed else "")
            )
        if not model:
            if not f.has_history:
                when = "today, the due date having passed" if already > 0 else "on the due date"
                parts.append(f"{note}: predicted {when}")
            elif n == 0:
                first = f"{note}; " if note else ""
                parts.append(
                    f"{first}no payment history for this customer: the book's usual ({book_usual}) is used"
                )
            elif note:
                parts.append(f"{note}: this customer's usual lateness is used")
            elif not cur_ok:
                parts.append(f"little payment history in {cur}: this customer's usual lateness is used")
        if n > 0:
            plural = "invoice" if n == 1 else "invoices"
            parts.append(f"usually pays {days_words(usual)} ({int(n)} {plural} paid)")
            if n > 3 and not math.isnan(recent):
                if recent - usual >= _NOTABLE_DAYS:
                    parts.append(f"last three invoices later than usual ({days_words(recent)} on average)")
                elif usual - recent >= _NOTABLE_DAYS:
                    parts.append(f"last three invoices earlier than usual ({days_words(recent)} on average)")
        if disputed:
            parts.append("this invoice is disputed")
        if promised != _NO_PROMISE:
            parts.append(f"promised to pay by {date.fromordinal(promised).isoformat()}")
        if promises >= 1:
            kept = round(promises - broken)
            parts.append(f"kept {kept} of {round(promises)} promises to pay before")
        if before >= 1:
            parts.append(f"disputed before ({round(before)} of {int(n)} invoices)")
        if ratio >= _LARGE_AMOUNT:
            parts.append(f"{ratio:.0f} times this customer's usual invoice")
        if abs(season) >= _NOTABLE_SEASON:
            direction = "later" if season > 0 else "earlier"
            parts.append(
                f"falls due in {_MONTHS[month]}, when payments run {abs(season):.0f} days {direction} "
                "than usual"
            )
        yield "; ".join(parts)
