"""What cash application keeps in the state store besides match results: a clerk's verdicts, the
aliases learned from them, and the bank statements imported with their lines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store import schema as t
from store.state import StateStore, now, ts

FINAL = ("accepted", "rejected")


class CashAppState:
    """The cash-application tables of one store."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    # -- the review queue -----------------------------------------------------------------------

    def match_result(self, connection: str, payment_id: str) -> dict[str, Any] | None:
        """One stored verdict (with its ``result`` JSON decoded), or None."""
        m = t.match_results
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(m).where(m.c.connection == connection, m.c.payment_id == payment_id)
            ).first()
        return None if row is None else {**dict(row._mapping), "result": json.loads(row.result)}

    def close_review(
        self,
        connection: str,
        payment_id: str,
        *,
        status: str,
        result: dict[str, Any],
        by: str,
        conn: Connection | None = None,
    ) -> bool:
        """Record a clerk's verdict on a review item; False when it is no longer waiting for one.

        The update only touches a row still in ``review``, so two clerks deciding the same item at
        once cannot both succeed. With ``conn`` it is part of the caller's transaction.
        """
        if status not in FINAL:
            raise ValueError(f"a clerk's verdict is accepted or rejected, not {status!r}")
        m = t.match_results
        with self.store._tx(conn) as c:
            done = c.execute(
                sa.update(m)
                .where(m.c.connection == connection, m.c.payment_id == payment_id, m.c.status == "review")
                .values(
                    status=status,
                    customer_id=result.get("customer_id"),
                    result=json.dumps(result, default=str),
                    decided_at=ts(now()),
                    reviewed_by=by,
                )
            )
        return bool(done.rowcount)

    def decided_by_clerk(self, connection: str) -> set[str]:
        """Payments a clerk accepted or rejected: the matcher leaves them alone."""
        m = t.match_results
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(m.c.payment_id).where(m.c.connection == connection, m.c.status.in_(FINAL))
            )
            return {str(r[0]) for r in rows}

    # -- learned aliases ------------------------------------------------------------------------

    def learn(
        self,
        connection: str,
        customer_id: str,
        kind: str,
        value: str,
        *,
        payment_id: str,
        by: str | None,
        conn: Connection | None = None,
    ) -> bool:
        """Remember a bank account or payer name as the customer's; False if it was known already.

        With ``conn`` it is part of the caller's transaction.
        """
        row = {
            "connection": connection,
            "customer_id": customer_id,
            "kind": kind,
            "value": value[:300],
            "payment_id": payment_id,
            "learned_by": by,
            "learned_at": ts(now()),
        }
        with self.store._tx(conn) as c:
            # RETURNING tells a new row from a conflict on every backend (psycopg's rowcount does not).
            stmt = (
                self.store._insert(t.learned_aliases)
                .on_conflict_do_nothing(index_elements=["connection", "customer_id", "kind", "value"])
                .returning(t.learned_aliases.c.kind)
            )
            return c.execute(stmt, row).first() is not None

    def learned(self, connection: str) -> dict[str, dict[str, list[str]]]:
        """Learned aliases by customer: ``{"bank_account": [...], "name": [...]}``, oldest first."""
        a = t.learned_aliases
        out: dict[str, dict[str, list[str]]] = {}
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(a.c.customer_id, a.c.kind, a.c.value)
                .where(a.c.connection == connection)
                .order_by(a.c.learned_at, a.c.value)
            )
            for customer_id, kind, value in rows:
                out.setdefault(customer_id, {"bank_account": [], "name": []})[kind].append(value)
        return out

    def learned_aliases(self, connection: str) -> list[dict[str, Any]]:
        """Every learned alias with the payment it came from, who taught it and when.

        Ordered by customer, then kind, then oldest first.
        """
        a = t.learned_aliases
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(a.c.customer_id, a.c.kind, a.c.value, a.c.payment_id, a.c.learned_by)
                .add_columns(a.c.learned_at)
                .where(a.c.connection == connection)
                .order_by(a.c.customer_id, a.c.kind, a.c.learned_at, a.c.value)
            )
            return [dict(r._mapping) for r in rows]

    def forget(
        self,
        connection: str,
        customer_id: str,
        kind: str,
        values: Iterable[str],
        *,
        conn: Connection | None = None,
    ) -> list[str]:
        """Remove learned aliases of a customer; returns the values that were there to remove.

        With ``conn`` it is part of the caller's transaction.
        """
        a = t.learned_aliases
        wanted = list(values)
        if not wanted:
            return []
        where = (
            a.c.connection == connection,
            a.c.customer_id == customer_id,
            a.c.kind == kind,
            a.c.value.in_(wanted),
        )
        with self.store._tx(conn) as c:
            # Read and delete in one transaction so the answer names what this call removed.
            found = [str(r[0]) for r in c.execute(sa.select(a.c.value).where(*where))]
            c.execute(sa.delete(a).where(*where))
        return sorted(found)

    # -- bank statements -------------------------------------------------------------------------

    def statement(self, connection: str, content_hash: str) -> dict[str, Any] | None:
        """The record of a statement file by its content (``status``, ``reason``, ...), or None."""
        f = t.statement_files
        with self.store.engine.connect() as conn:
            found = conn.execute(
                sa.select(f).where(f.c.connection == connection, f.c.content_hash == content_hash)
            ).first()
        return None if found is None else dict(found._mapping)

    def import_statement(
        self,
        connection: str,
        content_hash: str,
        *,
        file_name: str,
        fmt: str | None,
        lines: Iterable[dict[str, Any]],
        reason: str | None = None,
        run_id: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Record a statement file and store its lines in one transaction; returns the lines added.

        ``lines`` is consumed as
        it is stored, so a statement of any size is never held in memory whole. A line already
        stored (the same line id, from an overlapping statement) is not added again. With a
        ``reason`` the file is recorded as quarantined (and listed with the quarantined records,
        so ``arbridge status`` shows it) and no line is stored.
        """
        stamp = ts(now())
        with self.store._tx(conn) as c:
            added = read = 0
            if not reason:
                stmt = (
                    self.store._insert(t.bank_lines)
                    .on_conflict_do_nothing(index_elements=["connection", "line_id"])
                    .returning(t.bank_lines.c.line_id)
                )
                for item in lines:
                    read += 1
                    added += (
                        c.execute(
                            stmt,
                            {
                                "connection": connection,
                                "line_id": str(item["payment_id"]),
                                "content_hash": content_hash,
                                "data": json.dumps(item, default=str),
                                "imported_at": stamp,
                            },
                        ).first()
                        is not None
                    )
            c.execute(
                self.store._insert(t.statement_files).on_conflict_do_nothing(
                    index_elements=["connection", "content_hash"]
                ),
                {
                    "connection": connection,
                    "content_hash": content_hash,
                    "file_name": file_name[:500],
                    "format": fmt,
                    "status": "quarantined" if reason else "imported",
                    "reason": reason,
                    "lines": read,
                    "imported_at": stamp,
                },
            )
            if reason:
                self.store.quarantine_item(
                    connection, "bank_statements", file_name[:200], reason, run_id=run_id, conn=c
                )
        return added

    def statements(self, connection: str) -> list[dict[str, Any]]:
        """Imported and quarantined statement files, newest first."""
        f = t.statement_files
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(f).where(f.c.connection == connection).order_by(f.c.imported_at.desc())
            )
            return [dict(r._mapping) for r in rows]

    def bank_lines(self, connection: str) -> list[dict[str, Any]]:
        """Every stored statement line of the connection, in import order."""
        b = t.bank_lines
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(b.c.data).where(b.c.connection == connection).order_by(b.c.imported_at, b.c.line_id)
            )
            return [json.loads(r[0]) for r in rows]

    def bank_line(self, connection: str, line_id: str) -> dict[str, Any] | None:
        """One stored statement line, or None."""
        b = t.bank_lines
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(b.c.data).where(b.c.connection == connection, b.c.line_id == line_id)
            ).first()
        return None if row is None else dict(json.loads(row[0]))


class CashAppReads:
    """What the matcher reads when it matches only what changed since its last run.

    The open invoices and credit memos live in ``cashapp_open_documents``, kept up to date from the
    records each run finds changed, so a run reads the open documents, not the whole book.
    """

    CHUNK = 500
    # Payments that still wait for a decision, whatever changed: a clerk's queue, the unmatched, and
    # those whose payment application has not reached the ERP (or was given up there).
    WAITING = ("review", "unmatched")
    UNSENT = ("pending", "sending", "parked", "dropped")

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.engine = store.engine

    def changed(self, connection: str, streams: Sequence[str], since: str) -> list[tuple[str, str, str]]:
        """``(stream, remote id, record JSON)`` of the records of ``streams`` changed at or after
        ``since``, deleted ones included."""
        r = t.records
        q = sa.select(r.c.stream, r.c.remote_id, r.c.data).where(
            r.c.connection == connection, r.c.changed_at >= since, r.c.stream.in_(list(streams))
        )
        with self.engine.connect() as conn:
            return [(str(s), str(i), str(d)) for s, i, d in conn.execute(q)]

    def waiting(self, connection: str) -> tuple[dict[str, str | None], set[str], set[str]]:
        """What a complete run would decide again though unchanged: the waiting payments and
        statement lines with the customer their verdict names (None: payer unknown), the payments
        and lines set aside by an error, and those of them whose payment application has not
        reached the ERP."""
        m, o, qt = t.match_results, t.outbox, t.quarantine
        with self.engine.connect() as conn:
            found: dict[str, str | None] = {
                str(p): (None if c is None else str(c))
                for p, c in conn.execute(
                    sa.select(m.c.payment_id, m.c.customer_id).where(
                        m.c.connection == connection, m.c.status.in_(self.WAITING)
                    )
                )
            }
            unsent = sa.select(o.c.target_id).where(
                o.c.connection == connection,
                o.c.op_type == "payment_application",
                o.c.target_type == "payment",
                o.c.status.in_(self.UNSENT),
            )
            unsent_ids: set[str] = set()
            for p, c in conn.execute(
                sa.select(m.c.payment_id, m.c.customer_id).where(
                    m.c.connection == connection, m.c.payment_id.in_(unsent)
                )
            ):
                found[str(p)] = None if c is None else str(c)
                unsent_ids.add(str(p))
            set_aside = {
                str(i)
                for (i,) in conn.execute(
                    sa.select(qt.c.remote_id).where(
                        qt.c.connection == connection,
                        qt.c.stream.in_(["payments", "bank_statements"]),
                        qt.c.remote_id.is_not(None),
                    )
                )
            }
        return found, set_aside, unsent_ids

    def aliases_digest(self, connection: str) -> str:
        """Changes whenever a clerk teaches or a person forgets an alias of the connection."""
        a = t.learned_aliases
        with self.engine.connect() as conn:
            count, latest = conn.execute(
                sa.select(sa.func.count(), sa.func.max(a.c.learned_at)).where(a.c.connection == connection)
            ).one()
        return f"{count}/{latest}"

    def records(self, connection: str, stream: str, ids: Sequence[str]) -> list[str]:
        """The JSON of these records (not deleted), by id in byte order, as a full read sees them."""
        r = t.records
        out: list[tuple[str, str]] = []
        ordered = sorted(set(ids))
        with self.engine.connect() as conn:
            for i in range(0, len(ordered), self.CHUNK):
                rows = conn.execute(
                    sa.select(r.c.remote_id, r.c.data).where(
                        r.c.connection == connection,
                        r.c.stream == stream,
                        r.c.deleted.is_(False),
                        r.c.remote_id.in_(ordered[i : i + self.CHUNK]),
                    )
                )
                out.extend((str(a), str(b)) for a, b in rows)
        return [data for _, data in sorted(out, key=lambda row: row[0].encode())]

    def bank_lines(self, connection: str, since: str, ids: Iterable[str]) -> list[dict[str, Any]]:
        """Statement lines imported at or after ``since`` and those named, in import order."""
        b = t.bank_lines
        named = sorted(set(ids))
        found: dict[str, tuple[str, str]] = {}
        with self.engine.connect() as conn:
            rows = list(
                conn.execute(
                    sa.select(b.c.line_id, b.c.imported_at, b.c.data).where(
                        b.c.connection == connection, b.c.imported_at >= since
                    )
                )
            )
            for i in range(0, len(named), self.CHUNK):
                rows += conn.execute(
                    sa.select(b.c.line_id, b.c.imported_at, b.c.data).where(
                        b.c.connection == connection, b.c.line_id.in_(named[i : i + self.CHUNK])
                    )
                ).all()
        for line_id, imported_at, data in rows:
            found[str(line_id)] = (str(imported_at), str(data))
        ordered = sorted(found.items(), key=lambda kv: (kv[1][0], kv[0]))
        return [json.loads(data) for _, (_, data) in ordered]

    # -- the open documents ---------------------------------------------------------------------

    def open_documents(
        self, connection: str, stream: str, customers: Iterable[str] | None = None
    ) -> list[str]:
        """The JSON of the open documents of ``stream`` (of these customers, or all), in id order as a
        full read sees them."""
        d = t.cashapp_open_documents
        rid: Any = d.c.remote_id.collate("C") if self.store.dialect == "postgresql" else d.c.remote_id
        q = sa.select(d.c.remote_id, d.c.data).where(d.c.connection == connection, d.c.stream == stream)
        with self.engine.connect() as conn:
            if customers is None:
                return [str(data) for _, data in conn.execute(q.order_by(rid))]
            named = sorted(set(customers))
            found: list[tuple[str, str]] = []
            for i in range(0, len(named), self.CHUNK):
                rows = conn.execute(q.where(d.c.customer_remote_id.in_(named[i : i + self.CHUNK])))
                found.extend((str(a), str(b)) for a, b in rows)
        return [data for _, data in sorted(found, key=lambda row: row[0].encode())]

    def keep_open_documents(
        self,
        connection: str,
        opened: Sequence[tuple[str, str, str | None, str]],
        closed: Sequence[tuple[str, str]],
        *,
        replace_all: bool = False,
    ) -> None:
        """Store the documents now open ``(stream, id, customer, JSON)`` and forget the closed
        ``(stream, id)``, in one transaction; ``replace_all`` first forgets all of the connection's."""
        d = t.cashapp_open_documents
        with self.engine.begin() as conn:
            if replace_all:
                conn.execute(sa.delete(d).where(d.c.connection == connection))
            for stream in {s for s, _ in closed}:
                ids = [i for s, i in closed if s == stream]
                for i in range(0, len(ids), self.CHUNK):
                    conn.execute(
                        sa.delete(d).where(
                            d.c.connection == connection,
                            d.c.stream == stream,
                            d.c.remote_id.in_(ids[i : i + self.CHUNK]),
                        )
                    )
            rows = [
                {"connection": connection, "stream": s, "remote_id": i, "customer_remote_id": c, "data": data}
                for s, i, c, data in opened
            ]
            for i in range(0, len(rows), 1000):
                self.store._upsert(
                    conn,
                    d,
                    rows[i : i + 1000],
                    ["connection", "stream", "remote_id"],
                    ["customer_remote_id", "data"],
                )

    def statuses(self, connection: str, ids: Iterable[str]) -> dict[str, str]:
        """The stored verdict's status of each of these payments or statement lines that has one."""
        m = t.match_results
        named = sorted(set(ids))
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(named), self.CHUNK):
                rows = conn.execute(
                    sa.select(m.c.payment_id, m.c.status).where(
                        m.c.connection == connection, m.c.payment_id.in_(named[i : i + self.CHUNK])
                    )
                )
                out.update((str(p), str(s)) for p, s in rows)
        return out

    def verdicts(self, connection: str, ids: Iterable[str]) -> dict[str, tuple[Any, ...]]:
        """The stored verdicts of these payments: ``(status, customer, confidence, rule, result)``."""
        m = t.match_results
        named = sorted(set(ids))
        out: dict[str, tuple[Any, ...]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(named), self.CHUNK):
                rows = conn.execute(
                    sa.select(
                        m.c.payment_id, m.c.status, m.c.customer_id, m.c.confidence, m.c.rule, m.c.result
                    ).where(m.c.connection == connection, m.c.payment_id.in_(named[i : i + self.CHUNK]))
                )
                for pid, status, customer, confidence, rule, result in rows:
                    out[str(pid)] = (status, customer, confidence, rule, json.loads(result))
        return out
