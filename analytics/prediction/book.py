"""Invoices as columns: the shape every part of the prediction works on.

One row per invoice, one numpy array per field, days as proleptic ordinals (``date.toordinal()``),
so that a million invoices take tens of megabytes and every figure is a vectorised operation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

import numpy as np

__all__ = ["OPEN", "Book", "InvoiceRow", "day", "ordinal"]

# ``paid`` of an invoice that is still open.
OPEN = np.iinfo(np.int32).min


def ordinal(value: date) -> int:
    """A date as the day number the arrays hold."""
    return value.toordinal()


def day(value: int) -> date:
    """A day number back as a date."""
    return date.fromordinal(int(value))


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    """One invoice as read from a file or the store (``paid`` is None while it is open)."""

    invoice_id: str
    customer_id: str
    currency: str
    amount: float
    issue: date
    due: date
    paid: date | None = None
    disputed: bool = False
    promised: date | None = None


@dataclass(frozen=True, slots=True)
class Book:
    """Invoices as columns.

    Attributes:
        invoice_id: the invoices' ids (str).
        customer_id: their customers' ids (str).
        currency: ISO 4217 codes (str).
        amount: the amount to be paid (the total of a paid invoice, the open amount of an open one).
        issue: issue days (ordinals).
        due: due days (ordinals).
        paid: payment days (ordinals), ``OPEN`` while open.
        disputed: whether the invoice is (or was) disputed.
        promised: the day the customer promised to pay it by (ordinals), ``OPEN`` without a promise.
    """

    invoice_id: np.ndarray
    customer_id: np.ndarray
    currency: np.ndarray
    amount: np.ndarray
    issue: np.ndarray
    due: np.ndarray
    paid: np.ndarray
    disputed: np.ndarray
    promised: np.ndarray

    def __len__(self) -> int:
        return len(self.invoice_id)

    @property
    def days_late(self) -> np.ndarray:
        """Payment day minus due day (negative: paid early); meaningful for paid invoices only."""
        return (self.paid - self.due).astype(np.float64)

    def take(self, which: Any) -> Book:
        """The rows selected by a boolean mask or an index array."""
        return Book(**{f.name: getattr(self, f.name)[which] for f in fields(self)})

    @classmethod
    def of(cls, rows: Iterable[InvoiceRow]) -> Book:
        """Columns from rows."""
        cols: dict[str, list[Any]] = {f.name: [] for f in fields(cls)}
        for r in rows:
            cols["invoice_id"].append(r.invoice_id)
            cols["customer_id"].append(r.customer_id)
            cols["currency"].append(r.currency)
            cols["amount"].append(r.amount)
            cols["issue"].append(r.issue.toordinal())
            cols["due"].append(r.due.toordinal())
            cols["paid"].append(OPEN if r.paid is None else r.paid.toordinal())
            cols["disputed"].append(r.disputed)
            cols["promised"].append(OPEN if r.promised is None else r.promised.toordinal())
        return cls.from_lists(cols)

    @classmethod
    def from_lists(cls, cols: dict[str, list[Any]]) -> Book:
        """Columns from one list (or typed array) per field, days as ordinals (``promised`` optional)."""
        return cls(
            invoice_id=np.array(cols["invoice_id"], dtype=object),
            customer_id=np.array(cols["customer_id"], dtype=object),
            currency=np.array(cols["currency"], dtype=object),
            amount=np.array(cols["amount"], dtype=np.float64),
            issue=np.array(cols["issue"], dtype=np.int32),
            due=np.array(cols["due"], dtype=np.int32),
            paid=np.array(cols["paid"], dtype=np.int32),
            disputed=np.array(cols["disputed"], dtype=bool),
            promised=np.array(cols["promised"], dtype=np.int32)
            if "promised" in cols
            else np.full(len(cols["invoice_id"]), OPEN, dtype=np.int32),
        )

    @classmethod
    def concat(cls, *books: Book) -> Book:
        """The rows of several books, in order."""
        return cls(**{f.name: np.concatenate([getattr(b, f.name) for b in books]) for f in fields(cls)})

    @classmethod
    def empty(cls) -> Book:
        """No invoices."""
        return cls.from_lists({f.name: [] for f in fields(cls)})
