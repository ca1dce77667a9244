"""The sums the workspace's overview is built from, kept up to date as records change.

Summing a million invoices' JSON on every page view takes the database tens of seconds, so the
sums are maintained instead. ``refresh`` reads the records that changed since it last ran (the
``ix_records_changed`` index; the database extracts the few fields needed from the JSON), and in
one transaction per batch replaces each record's contribution in ``insight_facts`` and adds the
difference to ``insight_days``: open invoices, open amounts and flows (invoiced totals, cash and
credits applied) per connection, stream, currency, day and due date. ``ar_aggregates`` then
reads only those daily rows: thousands, not millions.

The watermark is the last record read, in the order ``(changed_at, stream, remote_id)``: a page
view goes on exactly after it (a page's records share one ``changed_at``, so a time alone would
skip the rest of a page cut off by a batch). Re-reading a record changes nothing (its difference is
zero), so the periodic refresh starts a margin before the watermark, which covers pages committed
late with an earlier ``changed_at``. Two
processes refreshing at once are serialised by the transaction's write lock (SQLite) or an
advisory lock (PostgreSQL), and each reads the old contributions inside it. The sums are the
store's, not a process's: of several processes refreshing on their own clocks, ``refresh_turn``
lets one do each periodic round, and the others skip the rounds it has just done.

Amounts are whole ten-thousandths of the currency unit: sums are exact on every database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from store import schema as t
from store.state import StateStore, now, ts

__all__ = [
    "ArAggregates",
    "DocumentFact",
    "Documents",
    "OperationsCounts",
    "ar_aggregates",
    "documents",
    "open_invoice_ids",
    "operations_counts",
    "refresh",
    "refresh_turn",
]

SCALE = 10_000
STREAMS = ("invoices", "payments", "credit_memos")
MARGIN = timedelta(minutes=15)
BATCH = 5_000
_LOCK_ID = 727_275
_ROUND_LOCK_ID = 727_276
_ROUND_KEY = "insights:round"
_FIELDS = ("currency", "issue_date", "date", "due_date", "total", "open_amount", "amount", "unapplied_amount")
_MONEY = {"total", "open_amount", "amount", "unapplied_amount"}


@dataclass
class ArAggregates:
    """One connection's sums.

    Attributes:
        open_by_due: ``(currency, due date) → (open invoices, open amount)``; an invoice without a
            due date is due its issue date plus the default terms.
        invoiced: ``(currency, issue date, due date or None) → total`` of the invoices.
        collected: ``(currency, day) → amount`` of payments applied and credit memos applied.
    """

    open_by_due: dict[tuple[str, date], tuple[int, Decimal]] = field(default_factory=dict)
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


def _extracted(dialect: str) -> list[Any]:
    """The columns that bring ``_FIELDS`` out of ``records.data``: the database parses the JSON.

    SQLite parses a document once for all of them (``json_extract`` with several paths returns
    an array); PostgreSQL is given one expression per field.
    """
    data = t.records.c.data
    if dialect != "postgresql":
        return [sa.func.json_extract(data, *(f"$.{name}" for name in _FIELDS)).label("fields")]
    doc = sa.cast(data, postgresql.JSON)
    return [sa.func.json_extract_path_text(doc, name).label(name) for name in _FIELDS]


def _fields(row: Any) -> dict[str, Any]:
    """One row's fields, amounts as whole ten-thousandths."""
    raw = row._mapping
    values = dict(zip(_FIELDS, json.loads(raw["fields"]), strict=True)) if "fields" in raw else dict(raw)
    for name in _MONEY:
        value = values.get(name)
        values[name] = None if value is None else int((Decimal(str(value)) * SCALE).to_integral_value())
    return values


def _contribution(stream: str, deleted: bool, f: dict[str, Any]) -> tuple[str, str, str, int, int] | None:
    """``(currency, day, due, open units, flow units)`` of one record; None when it adds nothing."""
    if deleted or not f["currency"]:
        return None
    if stream == "invoices":
        if not f["issue_date"]:
            return None
        open_units = max(int(f["open_amount"] or 0), 0)
        return f["currency"], f["issue_date"], f["due_date"] or "", open_units, int(f["total"] or 0)
    if stream == "payments":
        if not f["date"]:
            return None
        applied = int(f["amount"] or 0) - int(f["unapplied_amount"] or 0)
        return f["currency"], f["date"], "", 0, applied
    if not f["issue_date"]:
        return None
    return f["currency"], f["issue_date"], "", 0, int(f["total"] or 0) - int(f["open_amount"] or 0)


def _watermark_key(connection: str) -> str:
    return f"insights:{connection}"


def _watermark(conn: Connection, connection: str) -> tuple[str, str, str] | None:
    """The last record read: ``(changed_at, stream, remote_id)``, the order ``refresh`` reads in."""
    w = t.workspace_settings
    value = conn.execute(sa.select(w.c.value).where(w.c.key == _watermark_key(connection))).scalar()
    if value is None:
        return None
    changed_at, stream, remote_id = json.loads(value)
    return str(changed_at), str(stream), str(remote_id)


def refresh(
    store: StateStore,
    connection: str,
    *,
    batch: int = BATCH,
    max_records: int | None = None,
    margin: timedelta = MARGIN,
) -> int:
    """Bring the connection's sums up to date with its records; returns how many records were read.

    Args:
        store: the state store.
        connection: the connection.
        batch: records per transaction.
        max_records: stop after about this many (the rest waits for the next call).
        margin: how far before the watermark to read again, for pages committed late; a page
            view passes zero (only what is newer) and leaves the margin to the periodic refresh.
    """
    r = t.records.c
    with store.engine.connect() as conn:
        mark = _watermark(conn, connection)
    since = None if mark is None or not margin else ts(datetime.fromisoformat(mark[0]) - margin)
    fields = _extracted(store.dialect)
    base = sa.select(r.changed_at, r.stream, r.remote_id, r.deleted, *fields).where(
        r.connection == connection, r.stream.in_(STREAMS)
    )
    # Without a margin, go on exactly after the last record read (a page's records share one time).
    after: tuple[str, str, str] | None = mark if not margin else None
    if since is not None:
        base = base.where(r.changed_at >= since)
    done = 0
    while max_records is None or done < max_records:
        q = base
        if after is not None:
            q = q.where(
                r.changed_at >= after[0],  # lets the database start from the index
                sa.tuple_(r.changed_at, r.stream, r.remote_id) > sa.tuple_(*(sa.literal(v) for v in after)),
            )
        with store.engine.connect() as conn:
            rows = conn.execute(q.order_by(r.changed_at, r.stream, r.remote_id).limit(batch)).all()
        if not rows:
            break
        _apply(store, connection, rows)
        done += len(rows)
        after = (rows[-1].changed_at, rows[-1].stream, rows[-1].remote_id)
    return done


@contextmanager
def refresh_turn(store: StateStore, *, fresh_for: timedelta) -> Iterator[bool]:
    """Whether this process should do a periodic round of ``refresh`` over every connection now.

    False when another process is doing one (PostgreSQL) or finished one less than ``fresh_for``
    ago; when the block given True ends without an error, the round's end is recorded for the
    others. A process that stops doing rounds leaves the sums to age: after ``fresh_for`` the next
    process to look does the round.
    """
    postgres = store.dialect == "postgresql"
    w = t.workspace_settings
    with store.engine.connect() as conn:
        if postgres:
            held = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _ROUND_LOCK_ID}).scalar()
            conn.commit()  # the session keeps the lock; no transaction stays open during the round
            if not held:
                yield False
                return
        try:
            last = conn.execute(sa.select(w.c.value).where(w.c.key == _ROUND_KEY)).scalar()
            conn.commit()
            if last is not None and now() - datetime.fromisoformat(last) < fresh_for:
                yield False
                return
            yield True
            stamp = ts(now())
            stmt = store._insert(w).values(key=_ROUND_KEY, value=stamp, updated_at=stamp)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["key"],
                    set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
                )
            )
            conn.commit()
        finally:
            if postgres:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _ROUND_LOCK_ID})
                conn.commit()


def _apply(store: StateStore, connection: str, rows: Sequence[Any]) -> None:
    facts, days = t.insight_facts, t.insight_days
    with store.transaction() as conn:
        if store.dialect == "postgresql":
            conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_LOCK_ID})"))
        old: dict[tuple[str, str], Any] = {}
        for stream in STREAMS:
            ids = [row.remote_id for row in rows if row.stream == stream]
            for i in range(0, len(ids), 900):
                found = conn.execute(
                    sa.select(facts).where(
                        facts.c.connection == connection,
                        facts.c.stream == stream,
                        facts.c.remote_id.in_(ids[i : i + 900]),
                    )
                )
                old.update({(f.stream, f.remote_id): f for f in found})
        delta: dict[tuple[str, str, str, str], list[int]] = {}
        new_facts = []
        for row in rows:
            before = old.get((row.stream, row.remote_id))
            if before is not None:
                d = delta.setdefault((row.stream, before.currency, before.day, before.due), [0, 0, 0])
                d[0] -= 1 if before.open_units > 0 else 0
                d[1] -= before.open_units
                d[2] -= before.flow_units
            now_ = _contribution(row.stream, bool(row.deleted), _fields(row))
            if now_ is None:
                continue
            currency, day, due, open_units, flow_units = now_
            d = delta.setdefault((row.stream, currency, day, due), [0, 0, 0])
            d[0] += 1 if open_units > 0 else 0
            d[1] += open_units
            d[2] += flow_units
            new_facts.append(
                {
                    "connection": connection,
                    "stream": row.stream,
                    "remote_id": row.remote_id,
                    "currency": currency,
                    "day": day,
                    "due": due,
                    "open_units": open_units,
                    "flow_units": flow_units,
                }
            )
        for stream in STREAMS:
            ids = [k[1] for k in old if k[0] == stream]
            for i in range(0, len(ids), 900):
                conn.execute(
                    sa.delete(facts).where(
                        facts.c.connection == connection,
                        facts.c.stream == stream,
                        facts.c.remote_id.in_(ids[i : i + 900]),
                    )
                )
        if new_facts:
            conn.execute(sa.insert(facts), new_facts)
        changes = [
            {
                "connection": connection,
                "stream": stream,
                "currency": currency,
                "day": day,
                "due": due,
                "open_count": d[0],
                "open_units": d[1],
                "flow_units": d[2],
            }
            for (stream, currency, day, due), d in delta.items()
            if any(d)
        ]
        if changes:
            stmt = store._insert(days)
            stmt = stmt.on_conflict_do_update(
                index_elements=["connection", "stream", "currency", "day", "due"],
                set_={
                    "open_count": days.c.open_count + stmt.excluded.open_count,
                    "open_units": days.c.open_units + stmt.excluded.open_units,
                    "flow_units": days.c.flow_units + stmt.excluded.flow_units,
                },
            )
            conn.execute(stmt, changes)
        newest = max((str(row.changed_at), str(row.stream), str(row.remote_id)) for row in rows)
        mark = _watermark(conn, connection)
        if mark is None or newest > mark:
            w = t.workspace_settings
            stmt2 = store._insert(w).values(
                key=_watermark_key(connection), value=json.dumps(list(newest)), updated_at=ts(now())
            )
            conn.execute(
                stmt2.on_conflict_do_update(
                    index_elements=["key"],
                    set_={"value": stmt2.excluded.value, "updated_at": stmt2.excluded.updated_at},
                )
            )


def ar_aggregates(store: StateStore, connection: str, *, default_terms_days: int = 30) -> ArAggregates:
    """The connection's sums as last refreshed (see :class:`ArAggregates`)."""
    d = t.insight_days
    out = ArAggregates()
    terms = timedelta(days=default_terms_days)
    q = sa.select(
        d.c.stream, d.c.currency, d.c.day, d.c.due, d.c.open_count, d.c.open_units, d.c.flow_units
    ).where(d.c.connection == connection)
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
    for stream, currency, day_text, due_text, count, open_units, flow_units in rows:
        day = date.fromisoformat(day_text)
        if stream == "invoices":
            due = date.fromisoformat(due_text) if due_text else None
            if count or open_units:
                key = (currency, due or day + terms)
                had = out.open_by_due.get(key, (0, Decimal(0)))
                out.open_by_due[key] = (had[0] + int(count), had[1] + Decimal(int(open_units)) / SCALE)
            if flow_units:
                k2 = (currency, day, due)
                out.invoiced[k2] = out.invoiced.get(k2, Decimal(0)) + Decimal(int(flow_units)) / SCALE
        elif flow_units:
            k3 = (currency, day)
            out.collected[k3] = out.collected.get(k3, Decimal(0)) + Decimal(int(flow_units)) / SCALE
    return out


def open_invoice_ids(
    store: StateStore,
    connection: str,
    currency: str,
    *,
    due_from: date | None,
    due_to: date | None,
    default_terms_days: int = 30,
    limit: int = 200,
) -> tuple[list[str], int]:
    """The open invoices due between two days (both included; None: unbounded), oldest due first.

    An invoice without a due date is due its issue date plus ``default_terms_days``.

    Returns:
        Up to ``limit`` invoice ids and how many there are in all.
    """
    f = t.insight_facts
    terms = timedelta(days=default_terms_days)

    def between(col: Any, shift: timedelta) -> list[Any]:
        out = []
        if due_from is not None:
            out.append(col >= (due_from - shift).isoformat())
        if due_to is not None:
            out.append(col <= (due_to - shift).isoformat())
        return out

    cond = [
        f.c.connection == connection,
        f.c.stream == "invoices",
        f.c.currency == currency,
        f.c.open_units > 0,
        sa.or_(
            sa.and_(f.c.due != "", *between(f.c.due, timedelta(0))),
            sa.and_(f.c.due == "", *between(f.c.day, terms)),
        ),
    ]
    with store.engine.connect() as conn:
        ids = conn.execute(
            sa.select(f.c.remote_id).where(*cond).order_by(f.c.due, f.c.day, f.c.remote_id).limit(limit)
        )
        found = [str(i) for i in ids.scalars().all()]
        total = conn.execute(sa.select(sa.func.count()).select_from(f).where(*cond)).scalar_one()
    return found, int(total)


@dataclass(frozen=True, slots=True)
class DocumentFact:
    """What one invoice, payment or credit memo adds to the overview's sums.

    ``flow`` is an invoice's total, a payment's applied amount, or a credit memo's applied part;
    ``open`` an invoice's open amount. ``due`` is None for a document without a due date.
    """

    stream: str
    remote_id: str
    day: date
    due: date | None
    open: Decimal
    flow: Decimal


@dataclass
class Documents:
    """Documents behind a figure: up to a limit listed, the count and sums over all of them."""

    listed: list[DocumentFact]
    count: int
    open: Decimal
    flow: Decimal


def documents(
    store: StateStore,
    connection: str,
    currency: str,
    *,
    streams: Sequence[str],
    day_from: date | None = None,
    day_to: date | None = None,
    due_after: date | None = None,
    open_only: bool = False,
    moving_only: bool = False,
    default_terms_days: int = 30,
    limit: int = 500,
) -> Documents:
    """The documents whose contributions the overview's figures add up, as ``refresh`` last left them.

    Args:
        streams: which of invoices, payments, credit_memos.
        day_from, day_to: issued (or paid) between these days, both included; None: unbounded.
        due_after: only invoices due after this day (without a due date: issue date plus
            ``default_terms_days``).
        open_only: only documents with an open amount.
        moving_only: only documents that move the AR (a payment left unapplied does not).
        limit: how many to list, by day; the count and sums cover all.
    """
    f = t.insight_facts
    cond = [f.c.connection == connection, f.c.currency == currency, f.c.stream.in_(list(streams))]
    if day_from is not None:
        cond.append(f.c.day >= day_from.isoformat())
    if day_to is not None:
        cond.append(f.c.day <= day_to.isoformat())
    if due_after is not None:
        terms = timedelta(days=default_terms_days)
        cond.append(
            sa.or_(
                sa.and_(f.c.due != "", f.c.due > due_after.isoformat()),
                sa.and_(f.c.due == "", f.c.day > (due_after - terms).isoformat()),
            )
        )
    if open_only:
        cond.append(f.c.open_units > 0)
    if moving_only:
        cond.append(f.c.flow_units != 0)
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(f.c.stream, f.c.remote_id, f.c.day, f.c.due, f.c.open_units, f.c.flow_units)
            .where(*cond)
            .order_by(f.c.day, f.c.stream, f.c.remote_id)
            .limit(limit)
        ).all()
        count, open_units, flow_units = conn.execute(
            sa.select(sa.func.count(), sa.func.sum(f.c.open_units), sa.func.sum(f.c.flow_units)).where(*cond)
        ).one()
    listed = [
        DocumentFact(
            stream=str(r.stream),
            remote_id=str(r.remote_id),
            day=date.fromisoformat(r.day),
            due=date.fromisoformat(r.due) if r.due else None,
            open=Decimal(int(r.open_units)) / SCALE,
            flow=Decimal(int(r.flow_units)) / SCALE,
        )
        for r in rows
    ]
    return Documents(
        listed, int(count), Decimal(int(open_units or 0)) / SCALE, Decimal(int(flow_units or 0)) / SCALE
    )


def operations_counts(store: StateStore, connection: str) -> OperationsCounts:
    """Counts for the overview's operations panel (each one indexed query)."""
    m, o, r = t.match_results, t.outbox, t.runs
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
        # Read directly: ``StateStore.runs`` also closes abandoned runs, a write a page must not do.
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
