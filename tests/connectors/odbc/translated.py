"""Running the T-SQL the connectors build against the PostgreSQL that runs here.

SQL Server is not available to the tests. ``TranslatedDatabase`` builds every statement with the
SQL Server dialect, keeps it, translates it with sqlglot (a T-SQL parser: a statement that does
not parse fails) to PostgreSQL, moves the ``TOP (?)`` parameter to the end where ``LIMIT ?``
wants it, and runs it on the real database through ODBC. The keyset predicates, the ``datetime``
casts and the paging of the SQL Server form are thereby checked against real rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlglot

from connectors.odbc import MSSQL, POSTGRESQL, Database, Dialect

_EXEC = re.compile(r"EXEC (?P<proc>\S+) (?P<args>.*?); SELECT")


def translate(tsql: str) -> str:
    """One T-SQL statement as PostgreSQL (raises sqlglot.ParseError when it is not T-SQL).

    An eConnect batch (``DECLARE … EXEC … OUTPUT; SELECT``) becomes the ``CALL`` of the procedure
    with the same named inputs; the batch itself must parse as T-SQL first.
    """
    statements = [s for s in sqlglot.parse(tsql, read="tsql") if s is not None]
    match = _EXEC.search(tsql)
    if match:
        procedure = ".".join('"' + part.strip("[]") + '"' for part in match.group("proc").split("."))
        inputs = [a.split(" = ")[0] for a in match.group("args").split(", ") if a.endswith("= ?")]
        outputs = [(a.split(" = ")[0], "") for a in match.group("args").split(", ") if a.endswith("OUTPUT")]
        return POSTGRESQL.call(procedure, inputs, outputs)
    [statement] = statements
    return statement.sql(dialect="postgres").replace("%s", "?")


class _TranslatingCursor:
    def __init__(self, cursor: Any, owner: TranslatedDatabase) -> None:
        self.cursor = cursor
        self.owner = owner

    def execute(self, sql: str, *params: Any) -> Any:
        self.owner.statements.append(sql)
        return self.cursor.execute(translate(sql), *params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cursor, name)


class TranslatedDatabase(Database):
    """A ``Database`` that speaks SQL Server's dialect and runs it, translated, on PostgreSQL."""

    def __init__(self, real: Database) -> None:
        self.real = real
        self.statements: list[str] = []

    @property
    def dialect(self) -> Dialect:
        return MSSQL

    def query(self, sql: str, params: Sequence[Any] = (), *, what: str) -> list[Any]:
        self.statements.append(sql)
        params = list(params)
        if sql.startswith("SELECT TOP (?)"):
            params = [*params[1:], params[0]]
        if sql == MSSQL.utc_now():
            return self.real.query(self.real.dialect.utc_now(), (), what=what)
        return self.real.query(translate(sql), params, what=what)

    @contextmanager
    def transaction(self, what: str) -> Iterator[Any]:
        with self.real.transaction(what) as cursor:
            yield _TranslatingCursor(cursor, self)

    def scalar(self, sql: str, params: Sequence[Any] = (), *, what: str) -> Any:
        rows = self.query(sql, params, what=what)
        return rows[0][0] if rows else None
