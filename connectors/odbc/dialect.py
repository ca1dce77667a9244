"""Every difference between the SQL dialects the ODBC connectors speak, in one place.

Production databases are Microsoft SQL Server (Dynamics GP, SAP Business One); the tests and the
sandboxes run PostgreSQL through its ODBC driver. A connector builds every statement through a
``Dialect`` and never writes dialect-specific SQL itself, so what differs is visible here:

==========================  ===================================  =====================================
what                        SQL Server (T-SQL)                   PostgreSQL
==========================  ===================================  =====================================
identifiers                 ``[RM20101]``                        ``"RM20101"``
first N rows                ``SELECT TOP (?) …``                 ``SELECT … LIMIT ?``
keyset position             ``a >= ? AND (a > ? OR (a = ? …))``  ``(a, b, c) > (?, ?, ?)``
NULL first in ORDER BY      by default                           ``a NULLS FIRST``
a ``datetime`` parameter    ``CAST(? AS datetime)`` (see below)  ``?``
the server's UTC time       ``GETUTCDATE()``                     ``statement_timestamp() AT TIME ZONE``
stored procedure + OUTPUT   ``DECLARE … EXEC … OUTPUT; SELECT``  ``CALL p(a => ?, out => NULL)``
catalog views               ``INFORMATION_SCHEMA.ROUTINES``      ``information_schema.routines``
==========================  ===================================  =====================================

Why ``CAST(? AS datetime)``: GP's columns are ``datetime`` (ticks of 1/300 s), pyodbc binds Python
datetimes as ``datetime2``, and since SQL Server 2016 (compatibility level 130) a ``datetime``
compared with a ``datetime2`` is converted exactly, so ``.003`` read back no longer equals the stored
``.00333…``: a keyset position would repeat or skip rows. Casting the parameter to ``datetime``
rounds it to the same tick the column holds.

Why no row-value comparison on SQL Server: T-SQL has none. The expanded form adds the leading
column as a plain range (``a >= ?``) so the optimizer can seek on the index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["DIALECTS", "MSSQL", "POSTGRESQL", "Dialect", "DialectName", "dialect_for_dbms"]

DialectName = Literal["mssql", "postgresql"]


@dataclass(frozen=True)
class Dialect:
    """How one database engine spells the statements the connectors send."""

    name: DialectName

    @property
    def is_mssql(self) -> bool:
        return self.name == "mssql"

    # -- identifiers -------------------------------------------------------------------------

    def quote(self, identifier: str) -> str:
        """A quoted identifier (case kept: GP's names are upper and mixed case)."""
        if self.is_mssql:
            return "[" + identifier.replace("]", "]]") + "]"
        return '"' + identifier.replace('"', '""') + '"'

    def table(self, schema: str, name: str) -> str:
        """A schema-qualified table or procedure name."""
        return f"{self.quote(schema)}.{self.quote(name)}"

    def columns(self, names: Sequence[str]) -> str:
        return ", ".join(self.quote(n) for n in names)

    # -- parameters --------------------------------------------------------------------------

    def param(self, kind: str = "") -> str:
        """The marker of one parameter; ``kind="datetime"`` compares exactly with a datetime column."""
        if kind == "datetime" and self.is_mssql:
            return "CAST(? AS datetime)"
        return "?"

    # -- reading -----------------------------------------------------------------------------

    def select(
        self,
        columns: Sequence[str],
        table: str,
        *,
        where: Sequence[str] = (),
        order_by: Sequence[str] = (),
        limit: bool = False,
        order_sql: str | None = None,
    ) -> str:
        """``SELECT columns FROM table WHERE … ORDER BY …``, limited by one parameter when asked.

        The limit's parameter comes first on SQL Server (``TOP (?)``) and last on PostgreSQL
        (``LIMIT ?``): pass the parameters through ``limit_params``. ``order_sql`` is an ORDER BY
        list written in SQL both servers take (an expression, not only columns), used instead of
        ``order_by``.
        """
        top = "TOP (?) " if limit and self.is_mssql else ""
        sql = f"SELECT {top}{self.columns(columns)} FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(f"({w})" for w in where)
        if order_sql:
            sql += " ORDER BY " + order_sql
        elif order_by:
            sql += " ORDER BY " + ", ".join(self.quote(c) for c in order_by)
        if limit and not self.is_mssql:
            sql += " LIMIT ?"
        return sql

    def nulls_first(self, column: str) -> str:
        """An ORDER BY term sorting ``column`` ascending with NULL before every value.

        SQL Server sorts NULL first by itself; PostgreSQL sorts it last unless told.
        """
        if self.is_mssql:
            return self.quote(column)
        return f"{self.quote(column)} NULLS FIRST"

    def limit_params(self, limit: int, params: Sequence[Any]) -> list[Any]:
        """The parameters of a ``select(limit=True)`` statement, the limit where the dialect wants it."""
        return [limit, *params] if self.is_mssql else [*params, limit]

    def after(self, keys: Sequence[str], kinds: Sequence[str] = ()) -> str:
        """A predicate for "the key tuple sorts after a position" (keyset paging).

        Args:
            keys: the ordering columns, most significant first; together unique.
            kinds: per key, ``"datetime"`` for a datetime column (see ``param``), else "".

        Use ``after_params(position)`` for its parameters.
        """
        kinds = list(kinds) or [""] * len(keys)
        quoted = [self.quote(k) for k in keys]
        marks = [self.param(kind) for kind in kinds]
        if not self.is_mssql:
            return f"({', '.join(quoted)}) > ({', '.join(marks)})"
        expanded = f"{quoted[-1]} > {marks[-1]}"
        for column, mark in zip(reversed(quoted[:-1]), reversed(marks[:-1]), strict=True):
            expanded = f"{column} > {mark} OR ({column} = {mark} AND ({expanded}))"
        return f"{quoted[0]} >= {marks[0]} AND ({expanded})"

    def after_params(self, position: Sequence[Any]) -> list[Any]:
        """The parameters of ``after(keys)`` for a position (one value per key)."""
        if not self.is_mssql:
            return list(position)
        params: list[Any] = [position[0]]
        for value in position[:-1]:
            params += [value, value]
        params.append(position[-1])
        return params

    def utc_now(self) -> str:
        """A statement answering the server's current UTC time (GP's ``DEX_ROW_TS`` clock)."""
        if self.is_mssql:
            return "SELECT GETUTCDATE()"
        return "SELECT CAST(statement_timestamp() AT TIME ZONE 'UTC' AS timestamp(3))"

    # -- catalog -----------------------------------------------------------------------------

    def routine_exists(self) -> str:
        """A query counting the procedures of a schema with a name (parameters: schema, name)."""
        if self.is_mssql:
            # Upper case: a GP server installed with a binary sort order compares names exactly.
            return (
                "SELECT COUNT(*) FROM INFORMATION_SCHEMA.ROUTINES "
                "WHERE ROUTINE_SCHEMA = ? AND ROUTINE_NAME = ?"
            )
        return (
            "SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = ? AND routine_name = ?"
        )

    # -- procedures --------------------------------------------------------------------------

    def call(self, procedure: str, inputs: Sequence[str], outputs: Sequence[tuple[str, str]]) -> str:
        """One call of a stored procedure with named parameters, answering its OUTPUT values as a row.

        Args:
            procedure: the schema-qualified, quoted procedure (``table(schema, name)``).
            inputs: the parameter names given, as the vendor spells them (``@I_vCUSTNMBR``), one
                ``?`` each, in this order.
            outputs: (name, SQL type) of the OUTPUT parameters, as the vendor spells them.

        SQL Server runs a batch that declares the outputs, executes the procedure and selects the
        outputs; PostgreSQL calls a procedure whose outputs are INOUT parameters, which ``CALL``
        answers as one row.
        """
        if self.is_mssql:
            declare = ", ".join(f"{name} {sql_type}" for name, sql_type in outputs)
            args = [f"{name} = ?" for name in inputs] + [f"{name} = {name} OUTPUT" for name, _ in outputs]
            select = ", ".join(f"{name} AS {self.quote(name.lstrip('@'))}" for name, _ in outputs)
            return f"SET NOCOUNT ON; DECLARE {declare}; EXEC {procedure} {', '.join(args)}; SELECT {select};"
        args = [f"{self.quote(name.lstrip('@'))} => ?" for name in inputs]
        args += [f"{self.quote(name.lstrip('@'))} => NULL" for name, _ in outputs]
        return f"CALL {procedure}({', '.join(args)})"


MSSQL = Dialect("mssql")
POSTGRESQL = Dialect("postgresql")
DIALECTS: dict[str, Dialect] = {"mssql": MSSQL, "postgresql": POSTGRESQL}


def dialect_for_dbms(dbms_name: str) -> Dialect:
    """The dialect of a server, from the driver's ``SQL_DBMS_NAME`` ("Microsoft SQL Server", "PostgreSQL").

    Raises:
        ValueError: a database engine the ODBC connectors do not speak.
    """
    text = dbms_name.lower()
    if "sql server" in text:
        return MSSQL
    if "postgres" in text:
        return POSTGRESQL
    raise ValueError(
        f"unsupported database engine {dbms_name!r} (expected Microsoft SQL Server or PostgreSQL)"
    )
