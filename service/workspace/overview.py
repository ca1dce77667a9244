"""The overview's figures: the database's sums (``store.insights``) turned into aging, DSO and CEI.

Per connection and all connections together, currency by currency: amounts in different
currencies are never added up.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from analytics.aging import CURRENT, DEFAULT_EDGES, Bucket, bucket_for, buckets_from_edges, days_overdue
from analytics.trends import (
    MonthFigures,
    MonthFlows,
    add_months,
    month_start,
    monthly_figures,
    months_ending,
    roll_back,
)
from rules.dunning.fx import FxRates
from store import StateStore
from store.insights import ArAggregates, OperationsCounts, ar_aggregates, operations_counts, refresh

__all__ = ["CurrencyFigures", "Overview", "build_overview"]

ZERO = Decimal(0)
# Months of history behind the twelve shown: the count-back walk and the 3-month DSO reach into them.
HISTORY_MONTHS = 24
SHOWN_MONTHS = 12
DSO_MONTHS = 3
# Records a page view brings into the sums at most; a background refresh does the rest.
REFRESH_PER_VIEW = 20_000


@dataclass
class CurrencyFigures:
    """Everything the overview shows for one currency."""

    currency: str
    aging: dict[str, tuple[int, Decimal]]
    open_ar: Decimal
    overdue_ar: Decimal
    months: list[MonthFigures]

    @property
    def latest(self) -> MonthFigures | None:
        """The running month's figures."""
        return self.months[-1] if self.months else None


@dataclass
class Overview:
    """The overview of several connections."""

    as_of: date
    buckets: tuple[Bucket, ...]
    connections: dict[str, list[CurrencyFigures]] = field(default_factory=dict)
    together: list[CurrencyFigures] = field(default_factory=list)
    operations: dict[str, OperationsCounts] = field(default_factory=dict)
    catching_up: bool = False
    # All connections together in one reporting currency, at the rates named in ``rates_used``.
    reporting: CurrencyFigures | None = None
    rates_used: list[str] = field(default_factory=list)
    unconverted: list[str] = field(default_factory=list)


def _merge(parts: Sequence[ArAggregates]) -> ArAggregates:
    out = ArAggregates()
    for part in parts:
        for k, (n, amount) in part.open_by_due.items():
            had = out.open_by_due.get(k, (0, ZERO))
            out.open_by_due[k] = (had[0] + n, had[1] + amount)
        for k2, total in part.invoiced.items():
            out.invoiced[k2] = out.invoiced.get(k2, ZERO) + total
        for k3, amount in part.collected.items():
            out.collected[k3] = out.collected.get(k3, ZERO) + amount
    return out


def _converted(agg: ArAggregates, fx: FxRates) -> tuple[ArAggregates, list[str], list[str]]:
    """The sums in the reporting currency; the rates used, in words, and the currencies without one."""
    out = ArAggregates()
    to = fx.reporting_currency
    used: dict[str, str] = {}
    missing: set[str] = set()

    def rate(currency: str) -> Decimal | None:
        found = fx.rate_for(currency)
        if found is None:
            missing.add(currency)
            return None
        if currency != to:
            used[currency] = found.describe(currency, to)
        return found.rate

    for (cur, due), (n, amount) in agg.open_by_due.items():
        r = rate(cur)
        if r is not None:
            had = out.open_by_due.get((to, due), (0, ZERO))
            out.open_by_due[(to, due)] = (had[0] + n, had[1] + amount * r)
    for (cur, issued, due_day), total in agg.invoiced.items():
        r = rate(cur)
        if r is not None:
            out.invoiced[(to, issued, due_day)] = out.invoiced.get((to, issued, due_day), ZERO) + total * r
    for (cur, day), amount in agg.collected.items():
        r = rate(cur)
        if r is not None:
            out.collected[(to, day)] = out.collected.get((to, day), ZERO) + amount * r
    return out, [used[c] for c in sorted(used)], sorted(missing)


def _figures(
    agg: ArAggregates, as_of: date, buckets: Sequence[Bucket], terms_days: int
) -> list[CurrencyFigures]:
    currencies = sorted(
        {c for c, _ in agg.open_by_due} | {c for c, *_ in agg.invoiced} | {c for c, _ in agg.collected}
    )
    first = add_months(month_start(as_of), -(HISTORY_MONTHS - 1))
    months = months_ending(as_of, HISTORY_MONTHS)
    # The last day of every month but the running one, in order: an invoice is "not yet due" at
    # the ends from its issue date up to (not including) its due date — a run found by bisection.
    ends = [add_months(m, 1) - timedelta(days=1) for m in months[:-1]]
    out = []
    for cur in currencies:
        aging = {b.label: (0, ZERO) for b in buckets}
        for (c, due_day), (n, amount) in agg.open_by_due.items():
            if c == cur:
                label = bucket_for(days_overdue(due_day, as_of), buckets).label
                had = aging[label]
                aging[label] = (had[0] + n, had[1] + amount)
        open_ar = sum((a for _, a in aging.values()), ZERO)
        current = aging[CURRENT][1]
        invoiced: dict[date, Decimal] = {}
        collected: dict[date, Decimal] = {}
        spans = [ZERO] * (len(ends) + 1)
        for (c, issued, due), total in agg.invoiced.items():
            if c != cur:
                continue
            if issued >= first:
                invoiced[month_start(issued)] = invoiced.get(month_start(issued), ZERO) + total
            due_day = due or issued + timedelta(days=terms_days)
            lo, hi = bisect_left(ends, issued), bisect_left(ends, due_day)
            if lo < hi:
                spans[lo] += total
                spans[hi] -= total
        for (c, day), amount in agg.collected.items():
            if c == cur:
                collected[month_start(day)] = collected.get(month_start(day), ZERO) + amount
        not_due: dict[date, Decimal] = {}
        running = ZERO
        for m, step in zip(months[:-1], spans, strict=False):
            running += step
            if running:
                not_due[m] = running
        flows = {
            m: MonthFlows(invoiced.get(m, ZERO), collected.get(m, ZERO))
            for m in set(invoiced) | set(collected)
        }
        totals = roll_back(as_of, open_ar, current, flows, not_due, HISTORY_MONTHS)
        out.append(
            CurrencyFigures(
                currency=cur,
                aging=aging,
                open_ar=open_ar,
                overdue_ar=open_ar - current,
                months=monthly_figures(totals, shown=SHOWN_MONTHS, dso_months=DSO_MONTHS),
            )
        )
    return out


def build_overview(
    store: StateStore,
    connections: Sequence[str],
    as_of: date,
    *,
    edges: Sequence[int] = DEFAULT_EDGES,
    default_terms_days: int = 30,
    refresh_limit: int | None = REFRESH_PER_VIEW,
    fx: FxRates | None = None,
) -> Overview:
    """Aging, DSO, CEI and the operations counts of ``connections``, each and together.

    The sums are first brought up to date with up to ``refresh_limit`` changed records per
    connection (None: all; 0: none); ``catching_up`` tells when more were left for later. With
    ``fx``, all connections together are also shown in its reporting currency.
    """
    buckets = buckets_from_edges(edges)
    overview = Overview(as_of, buckets)
    parts = []
    for name in connections:
        if refresh_limit != 0:
            read = refresh(store, name, max_records=refresh_limit, margin=timedelta(0))
            overview.catching_up |= refresh_limit is not None and read >= refresh_limit
        agg = ar_aggregates(store, name, default_terms_days=default_terms_days)
        parts.append(agg)
        overview.connections[name] = _figures(agg, as_of, buckets, default_terms_days)
        overview.operations[name] = operations_counts(store, name)
    merged = _merge(parts)
    overview.together = _figures(merged, as_of, buckets, default_terms_days)
    if fx is not None and len(overview.together) > 1:
        converted, overview.rates_used, overview.unconverted = _converted(merged, fx)
        figures = _figures(converted, as_of, buckets, default_terms_days)
        overview.reporting = figures[0] if figures else None
    return overview
