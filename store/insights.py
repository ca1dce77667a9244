"""The sums the workspace's overview is built from, computed by the database.

A page must not load every invoice into Python, so each figure here is one aggregate query over
the stored records' JSON: open amounts by currency and aging bucket (buckets given as ranges of
due dates, which compare as text), invoice totals by issue and due date, and cash and credits
applied by date. The rows returned grow with the number of currencies and days, not invoices.

Amounts are summed exactly: as NUMERIC on PostgreSQL, and on SQLite as whole ten-thousandths in
64-bit integers (its REAL would drift by fractions of a cent over many rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from store import schema as t
from store.state import StateStore

__all__ = ["ArAggregates", "OperationsCounts", "ar_aggregates", "operations_counts"]

_SCALE = 10_000
DueRange = tuple[str, date | None, date | None]


@dataclass
class ArAggregates:
    """One connection's sums, read in one go.

    Attributes:
        aging: ``(currency, bucket label) → (invoice count, open amount)`` of open invoices.
        not_yet_due: ``currency → open amount`` of open invoices due on ``as_of`` or later.
        invoiced: ``(currency, issue date, due date or None) → total`` of invoices issued from
            ``since`` to ``as_of``, or due from ``since`` on.
        collected: ``(currency, day) → amount`` of payments applied and credit memos applied.
    """

    aging: dict[tuple[str, str], tuple[int, Decimal]] = field(default_factory=dict)
    invoiced: dict[tuple[str, date, date | None], Decimal] = field(default_factory=dict)
    collected: dict[tuple[str, date], Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class OperationsCounts:
    """How cash application, dunning and the sync of one connection are doing."""

    match_results: dict[str, int]
    dunning: dict[str, int]
    parked_writes: int
    pending_writes: int
    quarantined: int
    last_run: dict[str, Any] | None


class _Sql:
    """Expressions over ``records.data`` for one database dialect."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"
        self._json: Any = sa.cast(t.records.c.data, postgresql.JSON) if self.pg else t.records.c.data

    def text(self, name: str) -> Any:
        if self.pg:
            return sa.func.json_extract_path_text(self._json, name)
        return sa.func.json_extract(self._json, f"$.{name}")

    def number(self, name: str) -> Any:
        if self.pg:
            return sa.cast(self.text(name), sa.Numeric)
        return sa.cast(sa.func.round(sa.cast(self.text(name), sa.Float) * _SCALE), sa.BigInteger)

    def total(self, expr: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(expr), 0)

    def money(self, value: Any) -> Decimal:
        return Decimal(str(value)) if self.pg else Decimal(int(value)) / _SCALE


def _within(col: Any, earliest: date | None, latest: date | None) -> Any:
    terms = []
    if earliest is not None:
        terms.append(col >= earliest.isoformat())
    if latest is not None:
        terms.append(col <= latest.isoformat())
    return sa.and_(sa.true(), *terms)


def _bucket(due: Any, issue: Any, ranges: Sequence[DueRange], terms_days: int) -> Any:
    """The bucket label of an invoice, by its due date or, without one, its issue date plus terms."""
    shift = timedelta(days=terms_days)
    whens = []
    for label, earliest, latest in ranges:
        whens.append((sa.and_(due.is_not(None), _within(due, earliest, latest)), label))
        whens.append(
            (
                sa.and_(
                    due.is_(None),
                    _within(
                        issue, earliest - shift if earliest else None, latest - shift if latest else None
                    ),
                ),
                label,
            )
        )
    return sa.case(*whens, else_=ranges[-1][0])


def _stream(connection: str, stream: str) -> Any:
    r = t.records.c
    return sa.and_(r.connection == connection, r.stream == stream, r.deleted.is_(False))


def ar_aggregates(
    store: StateStore,
    connection: str,
    *,
    as_of: date,
    since: date,
    due_ranges: Sequence[DueRange],
    default_terms_days: int = 30,
) -> ArAggregates:
    """The sums behind one connection's overview (see :class:`ArAggregates`).

    Args:
        store: the state store.
        connection: the connection.
        as_of: today.
        since: the first day of the oldest month the trends need.
        due_ranges: the aging buckets as ``(label, earliest due date, latest due date)``
            (``analytics.aging.due_date_ranges``), the last one also taking what none holds.
        default_terms_days: days after issue when an invoice has no due date.
    """
    sql = _Sql(store.dialect)
    out = ArAggregates()
    currency, due, issue = sql.text("currency"), sql.text("due_date"), sql.text("issue_date")
    open_amount = sql.number("open_amount")
    bucket = _bucket(due, issue, due_ranges, default_terms_days).label("bucket")
    aging = (
        sa.select(currency.label("currency"), bucket, sa.func.count(), sql.total(open_amount))
        .select_from(t.records)
        .where(_stream(connection, "invoices"), open_amount > 0)
        .group_by(currency, bucket)
    )
    first, last = since.isoformat(), as_of.isoformat()
    invoiced = (
        sa.select(currency, issue, due, sql.total(sql.number("total")))
        .select_from(t.records)
        .where(
            _stream(connection, "invoices"),
            issue <= last,
            sa.or_(issue >= first, due >= first),
        )
        .group_by(currency, issue, due)
    )
    pay_day = sql.text("date")
    paid = (
        sa.select(
            currency, pay_day, sql.total(sql.number("amount")) - sql.total(sql.number("unapplied_amount"))
        )
        .select_from(t.records)
        .where(_stream(connection, "payments"), pay_day >= first, pay_day <= last)
        .group_by(currency, pay_day)
    )
    credited = (
        sa.select(currency, issue, sql.total(sql.number("total")) - sql.total(sql.number("open_amount")))
        .select_from(t.records)
        .where(_stream(connection, "credit_memos"), issue >= first, issue <= last)
        .group_by(currency, issue)
    )
    with store.engine.connect() as conn:
        for cur, label, count, amount in conn.execute(aging):
            out.aging[(str(cur), str(label))] = (int(count), sql.money(amount))
        for cur, issued, due_day, amount in conn.execute(invoiced):
            key = (str(cur), date.fromisoformat(issued), date.fromisoformat(due_day) if due_day else None)
            out.invoiced[key] = out.invoiced.get(key, Decimal(0)) + sql.money(amount)
        for query in (paid, credited):
            for cur, day, amount in conn.execute(query):
                key2 = (str(cur), date.fromisoformat(day))
                out.collected[key2] = out.collected.get(key2, Decimal(0)) + sql.money(amount)
    return out


def operations_counts(store: StateStore, connection: str) -> OperationsCounts:
    """Counts for the overview's operations panel (each one indexed query)."""
    m, o = t.match_results, t.outbox
    with store.engine.connect() as conn:
        matches: dict[Any, Any] = dict(
            conn.execute(
                sa.select(m.c.status, sa.func.count())
                .where(m.c.connection == connection)
                .group_by(m.c.status)
            ).all()
        )
        writes: dict[Any, Any] = dict(
            conn.execute(
                sa.select(o.c.status, sa.func.count())
                .where(o.c.connection == connection, o.c.status.in_(("parked", "pending", "sending")))
                .group_by(o.c.status)
            ).all()
        )
    r = t.runs
    # Read directly: ``StateStore.runs`` also closes abandoned runs, a write a page must not do.
    with store.engine.connect() as conn:
        run = conn.execute(
            sa.select(r.c.status, r.c.started_at, r.c.finished_at)
            .where(r.c.connection == connection)
            .order_by(r.c.started_at.desc())
            .limit(1)
        ).first()
    last = None if run is None else {"status": run[0], "started_at": run[1], "finished_at": run[2]}
    return OperationsCounts(
        match_results={str(k): int(v) for k, v in matches.items()},
        dunning=store.dunning_counts(connection),
        parked_writes=int(writes.get("parked", 0)),
        pending_writes=int(writes.get("pending", 0)) + int(writes.get("sending", 0)),
        quarantined=store.quarantine_count(connection),
        last_run=last,
    )
