"""The fast read: B1's tables over ODBC (pyodbc), for admins who grant a read-only SQL login.

The same streams as the Service Layer read, asked the same way: customers and documents in
(UpdateDate, UpdateTS, key) order after a keyset position, from a watermark with an overlap;
incoming payments by DocEntry, then the cancelled ones. Every row becomes the entity the Service
Layer would have answered (``tables.as_entity``), so the connector translates both reads with the
same code into the same canonical records. Nothing is ever written here: SAP forbids writing
B1's database (SAP Note 1320484), and the connector writes through the Service Layer only.

Statements are built through ``connectors.odbc``'s dialect (SQL Server in production, PostgreSQL in
the tests). A time of day left empty (rows of old releases) sorts first in its day, as in the
Service Layer's order (``Dialect.nulls_first``: SQL Server does so by itself, PostgreSQL is told).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from connectors.errors import PermanentError
from connectors.odbc import Database, Dialect
from connectors.sap_business_one.tables import LINES, TABLES, Table, as_entity, time_code
from connectors.sap_business_one.watermark import Mark
from mapping.models import Stream

__all__ = ["SqlSource"]

#: Payments whose invoice lines one query reads (SQL Server takes at most 2,100 parameters).
LINES_PER_QUERY = 1000


def _day(text: str) -> datetime:
    return datetime.combine(date.fromisoformat(text[:10]), datetime.min.time())


class SqlSource:
    """Reads B1's tables through one ODBC connection.

    Args:
        db: the company database (a read-only login is enough).
        schema: the schema of B1's tables (``dbo`` on SQL Server).
        user_fields: per table, the user-defined fields (``U_…``) the connector reads when present.
    """

    def __init__(self, db: Database, schema: str, user_fields: Mapping[str, Sequence[str]]) -> None:
        self.db = db
        self.schema = schema
        self.user_fields = user_fields
        self._present: dict[str, list[str]] = {}

    def close(self) -> None:
        self.db.close()

    @property
    def dialect(self) -> Dialect:
        """The server's dialect; a server the fast read does not speak (HANA) is a clear refusal."""
        try:
            return self.db.dialect
        except ValueError as exc:
            raise PermanentError(
                f"the fast read over ODBC speaks SQL Server only: {exc}; "
                "use read_via: service_layer for this company"
            ) from None

    def _q(self, name: str) -> str:
        return self.dialect.quote(name)

    def _table(self, name: str) -> str:
        return self.dialect.table(self.schema, name)

    def present_user_fields(self, table: str) -> list[str]:
        """The connector's user-defined fields that exist on ``table`` (created by the setup or not)."""
        if table not in self._present:
            wanted = list(self.user_fields.get(table, ()))
            have: set[str] = set()
            if wanted:
                rows = self.db.query(
                    "SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS "
                    "WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                    [self.schema, table],
                    what=f"reading the columns of {table}",
                )
                have = {str(r[0]) for r in rows}
            self._present[table] = [f for f in wanted if f in have]
        return self._present[table]

    def _columns(self, table: Table) -> list[str]:
        return [*table.columns, *self.present_user_fields(table.name)]

    def _run(self, table: Table, columns: list[str], sql: str, params: list[Any]) -> list[dict[str, Any]]:
        rows = self.db.query(sql, params, what=f"reading {table.name}")
        return [as_entity(table, columns, row) for row in rows]

    def probe(self) -> None:
        """Read one row of every table the fast read uses (raises the classified driver error)."""
        dialect = self.dialect
        for table in [*TABLES.values(), LINES]:
            sql = dialect.select([table.key], self._table(table.name), limit=True)
            self.db.query(sql, dialect.limit_params(1, []), what=f"reading {table.name}")

    # -- customers and documents ------------------------------------------------------------------

    def changed(
        self, stream: Stream, start: tuple[str, str] | None, position: Mark | None, page_size: int
    ) -> list[dict[str, Any]]:
        """One page of ``stream`` in (UpdateDate, UpdateTS, key) order, changed at or after
        ``start`` (day, time) and after ``position``."""
        table = TABLES[stream]
        dialect = self.dialect
        q, when = self._q, dialect.param("datetime")
        day, clock, key = q("UpdateDate"), q("UpdateTS"), q(table.key)
        where: list[str] = []
        params: list[Any] = []
        if stream is Stream.CUSTOMERS:
            where.append(f"{q('CardType')} = ?")
            params.append("C")

        def bound(same_day: str) -> str:
            # A plain range on the day leads, so an index on the order can seek.
            return f"{day} >= {when} AND ({day} > {when} OR ({day} = {when} AND ({same_day})))"

        if start is not None:
            where.append(bound(f"{clock} >= ? OR {clock} IS NULL"))
            params += [_day(start[0])] * 3 + [time_code(start[1])]
        if position is not None and not position.day:
            # Rows without an update day (rejected by the connector) sort first, by key.
            where.append(f"{day} IS NOT NULL OR {key} > ?")
            params.append(position.key)
        elif position is not None:
            if position.time is None:
                where.append(bound(f"{clock} IS NOT NULL OR {key} > ?"))
                params += [_day(position.day)] * 3 + [position.key]
            else:
                where.append(bound(f"{clock} > ? OR ({clock} = ? AND {key} > ?)"))
                t = time_code(position.time)
                params += [_day(position.day)] * 3 + [t, t, position.key]
        columns = self._columns(table)
        sql = dialect.select(
            columns,
            self._table(table.name),
            where=where,
            limit=True,
            order_sql=f"{dialect.nulls_first('UpdateDate')}, {dialect.nulls_first('UpdateTS')}, {key}",
        )
        return self._run(table, columns, sql, dialect.limit_params(page_size, params))

    # -- incoming payments ------------------------------------------------------------------------

    def payments(self, after: int, upto: int | None, page_size: int) -> list[dict[str, Any]]:
        """Payments with DocEntry after ``after`` in DocEntry order; with ``upto``, only the
        cancelled ones at or below it. Each carries its invoice lines (PaymentInvoices)."""
        table = TABLES[Stream.PAYMENTS]
        dialect = self.dialect
        entry = self._q("DocEntry")
        where: list[str] = [f"{entry} > ?"]
        params: list[Any] = [after]
        if upto is not None:
            where += [f"{self._q('Canceled')} = ?", f"{entry} <= ?"]
            params += ["Y", upto]
        columns = self._columns(table)
        sql = dialect.select(columns, self._table(table.name), where=where, order_by=["DocEntry"], limit=True)
        entities = self._run(table, columns, sql, dialect.limit_params(page_size, params))
        lines = self._lines([int(e["DocEntry"]) for e in entities])
        for entity in entities:
            entity["PaymentInvoices"] = lines.get(int(entity["DocEntry"]), [])
        return entities

    def _lines(self, entries: list[int]) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        columns = list(LINES.columns)
        for i in range(0, len(entries), LINES_PER_QUERY):
            chunk = entries[i : i + LINES_PER_QUERY]
            sql = self.dialect.select(
                columns,
                self._table(LINES.name),
                where=[f"{self._q('DocNum')} IN ({', '.join('?' for _ in chunk)})"],
                order_by=["DocNum", "InvoiceId"],
            )
            for row in self.db.query(sql, chunk, what=f"reading {LINES.name}"):
                out.setdefault(int(row[0]), []).append(as_entity(LINES, columns, row))
        return out
