"""What cash application keeps in the state store besides match results: a clerk's verdicts, the
aliases learned from them, and the bank statements imported with their lines."""

from __future__ import annotations

import json
from collections.abc import Iterable
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
