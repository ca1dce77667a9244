"""Keyset paging over one table: pages in a stable order, each resumable from its last key.

``OFFSET`` paging shifts when rows are inserted or change while a read pages through, and costs
more the deeper it goes. Keyset paging asks for "the next N rows whose key sorts after the last
one seen": each page is one index seek, and a position is just the last row's key, stored in the
stream's cursor so a killed read resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.odbc.connection import Database

__all__ = ["KeysetQuery", "Position", "dump_position", "load_position", "utc"]

Position = tuple[Any, ...]


@dataclass(frozen=True)
class KeysetQuery:
    """Pages of one table in the order of ``keys``.

    Attributes:
        table: the table's schema and name.
        columns: the columns to read (they must include the keys).
        keys: the ordering columns, most significant first; together unique (a primary key, or a
            timestamp followed by the primary key).
        kinds: per key, ``"datetime"`` for a datetime column, else "" (see ``Dialect.param``).
        where: fixed predicates with ``?`` markers, and their parameters.
    """

    table: tuple[str, str]
    columns: Sequence[str]
    keys: Sequence[str]
    kinds: Sequence[str] = ()
    where: Sequence[str] = ()
    params: Sequence[Any] = ()
    key_index: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        missing = [k for k in self.keys if k not in self.columns]
        if missing:
            raise ValueError(f"keyset keys {missing} are not among the columns read")
        object.__setattr__(self, "key_index", tuple(list(self.columns).index(k) for k in self.keys))

    def position_of(self, row: Sequence[Any]) -> Position:
        """The key of a row as read: where the next page starts.

        Text is unpadded: CHAR columns come back blank-padded, SQL Server compares them without the
        padding, and PostgreSQL compares a CHAR column with a text parameter without it too, so a
        padded parameter would sort after the very row it came from.
        """
        return tuple(v.rstrip() if isinstance(v, str) else v for v in (row[i] for i in self.key_index))

    def pages(
        self,
        db: Database,
        page_size: int,
        after: Position | None = None,
        *,
        start: tuple[str, Sequence[Any]] | None = None,
        what: str = "",
        read_ahead: bool = False,
    ) -> Iterator[list[Any]]:
        """Yield pages of rows (pyodbc rows, indexable like tuples) until the table is exhausted.

        Args:
            db: the database.
            page_size: rows per query.
            after: resume after this position (None: from the first row).
            start: an extra predicate (and its parameters) for the first page only, when there is
                no position yet: the lower bound of an incremental read (``DEX_ROW_TS >= ?``).
            what: what is read, for error messages.
            read_ahead: query the next page in a background thread while the caller works on this
                one. The server's time and the driver's fetch (pyodbc lets other threads run
                meanwhile) then overlap the caller's mapping and storing instead of adding to it.
                Errors are raised where the page is taken, as without it.
        """
        dialect = db.dialect
        table = dialect.table(*self.table)
        label = what or f"reading {self.table[1]}"
        with_position = dialect.select(
            self.columns,
            table,
            where=[*self.where, dialect.after(self.keys, self.kinds)],
            order_by=self.keys,
            limit=True,
        )

        def fetch(after: Position | None) -> list[Any]:
            if after is not None:
                sql = with_position
                params = dialect.limit_params(page_size, [*self.params, *dialect.after_params(after)])
            else:
                extra = [start[0]] if start else []
                sql = dialect.select(
                    self.columns, table, where=[*self.where, *extra], order_by=self.keys, limit=True
                )
                params = dialect.limit_params(page_size, [*self.params, *(start[1] if start else [])])
            return db.query(sql, params, what=label)

        if not read_ahead:
            while True:
                rows = fetch(after)
                if not rows:
                    return
                yield rows
                if len(rows) < page_size:
                    return
                after = self.position_of(rows[-1])
        # One worker: the pages are still queried one after another, in order. Leaving early waits
        # for the query in flight (its rows are dropped), so no statement outlives the read.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="odbc-read-ahead") as pool:
            pending: Future[list[Any]] | None = pool.submit(fetch, after)
            while pending is not None:
                rows = pending.result()
                pending = None
                if not rows:
                    return
                if len(rows) == page_size:
                    pending = pool.submit(fetch, self.position_of(rows[-1]))
                yield rows


def _dump_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.replace(tzinfo=None).isoformat(timespec="microseconds")}
    if isinstance(value, str):
        # CHAR columns come back blank-padded; the server compares them without the padding.
        return value.rstrip()
    return value


def _load_value(value: Any) -> Any:
    if isinstance(value, dict) and "t" in value:
        return datetime.fromisoformat(value["t"])
    return value


def dump_position(position: Position | None) -> list[Any] | None:
    """A position as JSON-ready values (datetimes naive, as the server holds them)."""
    return None if position is None else [_dump_value(v) for v in position]


def load_position(data: list[Any] | None) -> Position | None:
    return None if data is None else tuple(_load_value(v) for v in data)


def utc(value: datetime) -> datetime:
    """A naive server time (GP keeps UTC in ``DEX_ROW_TS``) as an aware one."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
