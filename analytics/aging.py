"""Aging: open receivables by how many days past their due date they are.

An invoice ages on its due date (an invoice without one on its issue date plus the default
terms), as ERPNext's AR report does by default. Buckets are given by their upper edges in days
overdue: the default ``(30, 60, 90, 120)`` gives *current* (not yet due, or due today), 1–30,
31–60, 61–90, 91–120 and 121+.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from mapping.models import Invoice

__all__ = [
    "DEFAULT_EDGES",
    "AgingReport",
    "Bucket",
    "age_invoices",
    "bucket_for",
    "buckets_from_edges",
    "days_overdue",
    "due_date_of",
    "due_date_ranges",
]

DEFAULT_EDGES = (30, 60, 90, 120)
CURRENT = "current"


@dataclass(frozen=True, slots=True)
class Bucket:
    """Invoices between ``low`` and ``high`` days overdue, both included (None: unbounded)."""

    label: str
    low: int | None
    high: int | None

    def holds(self, days: int) -> bool:
        """Whether an invoice ``days`` overdue belongs here."""
        return (self.low is None or days >= self.low) and (self.high is None or days <= self.high)


def buckets_from_edges(edges: Sequence[int] = DEFAULT_EDGES) -> tuple[Bucket, ...]:
    """The buckets whose upper edges are ``edges`` (days overdue), after *current* and before the last.

    Raises:
        ValueError: the edges are not positive and strictly increasing.
    """
    if not edges or any(e <= 0 for e in edges) or any(b <= a for a, b in itertools.pairwise(edges)):
        raise ValueError(
            f"aging edges must be positive days in increasing order, e.g. 30, 60, 90; got {edges}"
        )
    out = [Bucket(CURRENT, None, 0)]
    low = 1
    for edge in edges:
        out.append(Bucket(f"{low}–{edge}", low, edge))
        low = edge + 1
    out.append(Bucket(f"{low}+", low, None))
    return tuple(out)


DEFAULT_BUCKETS = buckets_from_edges()


def due_date_of(invoice: Invoice, default_terms_days: int = 30) -> date:
    """The day the invoice is due (its issue date plus the default terms when the ERP gave none)."""
    return invoice.due_date or invoice.issue_date + timedelta(days=default_terms_days)


def days_overdue(due: date, as_of: date) -> int:
    """Days past the due date on ``as_of`` (0 on the due date, negative before it)."""
    return (as_of - due).days


def bucket_for(days: int, buckets: Sequence[Bucket] = DEFAULT_BUCKETS) -> Bucket:
    """The bucket of an invoice ``days`` overdue."""
    for bucket in buckets:
        if bucket.holds(days):
            return bucket
    return buckets[0] if days <= 0 else buckets[-1]


def due_date_ranges(
    as_of: date, buckets: Sequence[Bucket] = DEFAULT_BUCKETS
) -> list[tuple[str, date | None, date | None]]:
    """Each bucket as the due dates it holds on ``as_of``: ``(label, earliest, latest)``, None unbounded.

    A database can then age invoices by comparing due dates alone.
    """
    out = []
    for b in buckets:
        latest = None if b.low is None else as_of - timedelta(days=b.low)
        earliest = None if b.high is None else as_of - timedelta(days=b.high)
        out.append((b.label, earliest, latest))
    return out


@dataclass
class AgingReport:
    """Open amounts and invoice counts per currency and bucket."""

    as_of: date
    buckets: tuple[Bucket, ...]
    amounts: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, currency: str, label: str, amount: Decimal, count: int = 1) -> None:
        """Count ``amount`` (``count`` invoices) into a bucket."""
        row = self.amounts.setdefault(currency, {b.label: Decimal(0) for b in self.buckets})
        row[label] = row.get(label, Decimal(0)) + amount
        counted = self.counts.setdefault(currency, {b.label: 0 for b in self.buckets})
        counted[label] = counted.get(label, 0) + count

    def open_total(self, currency: str) -> Decimal:
        """All open receivables in ``currency``."""
        return sum(self.amounts.get(currency, {}).values(), Decimal(0))

    def overdue_total(self, currency: str) -> Decimal:
        """Open receivables in ``currency`` past their due date."""
        row = self.amounts.get(currency, {})
        return sum((v for k, v in row.items() if k != CURRENT), Decimal(0))


def age_invoices(
    invoices: Iterable[Invoice],
    as_of: date,
    buckets: Sequence[Bucket] = DEFAULT_BUCKETS,
    *,
    default_terms_days: int = 30,
) -> AgingReport:
    """Age the open invoices: deleted ones and those with nothing open are left out."""
    report = AgingReport(as_of, tuple(buckets))
    for inv in invoices:
        if inv.deleted or inv.open_amount <= 0:
            continue
        days = days_overdue(due_date_of(inv, default_terms_days), as_of)
        report.add(inv.currency, bucket_for(days, buckets).label, inv.open_amount)
    return report
