"""A keyset read that queries the next page while the caller works on this one reads the same rows."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from connectors.errors import TransientError
from connectors.odbc import Database, Dialect, KeysetQuery
from sandboxes.dynamics_gp import GpSandbox
from tests.connectors.dynamics_gp.conftest import connector_for


class CountingDatabase:
    """The real database, counting queries and failing the one numbered ``fail_at`` (from 1)."""

    def __init__(self, real: Database, fail_at: int | None = None) -> None:
        self.real = real
        self.fail_at = fail_at
        self.queries = 0
        self.running = 0
        self.lock = threading.Lock()

    @property
    def dialect(self) -> Dialect:
        return self.real.dialect

    def query(self, sql: str, params: Sequence[Any] = (), *, what: str) -> list[Any]:
        with self.lock:
            self.queries += 1
            number = self.queries
            self.running += 1
        try:
            if number == self.fail_at:
                raise TransientError(f"{what}: the server went away")
            return self.real.query(sql, params, what=what)
        finally:
            with self.lock:
                self.running -= 1


def _documents(gp: GpSandbox) -> KeysetQuery:
    return KeysetQuery((gp.schema, "RM20101"), ("RMDTYPAL", "DOCNUMBR", "CUSTNMBR"), ("RMDTYPAL", "DOCNUMBR"))


def test_a_read_that_looks_ahead_yields_the_pages_a_plain_read_yields(gp: GpSandbox, login: str) -> None:
    db = connector_for(gp, login).db
    query = _documents(gp)
    plain = [[tuple(r) for r in rows] for rows in query.pages(db, 7)]
    ahead = [[tuple(r) for r in rows] for rows in query.pages(db, 7, read_ahead=True)]
    assert ahead == plain and len(plain) >= 3
    resumed = list(query.pages(db, 7, query.position_of(plain[0][-1]), read_ahead=True))
    assert [[tuple(r) for r in rows] for rows in resumed] == plain[1:]


def test_a_failed_query_ahead_is_raised_where_its_page_is_taken(gp: GpSandbox, login: str) -> None:
    db = CountingDatabase(connector_for(gp, login).db, fail_at=3)
    pages = _documents(gp).pages(db, 7, read_ahead=True)  # type: ignore[arg-type]
    taken = [next(pages), next(pages)]
    assert all(len(rows) == 7 for rows in taken)
    with pytest.raises(TransientError, match="the server went away"):
        next(pages)


def test_a_reader_that_stops_early_leaves_no_query_running(gp: GpSandbox, login: str) -> None:
    db = CountingDatabase(connector_for(gp, login).db)
    pages = _documents(gp).pages(db, 7, read_ahead=True)  # type: ignore[arg-type]
    next(pages)
    pages.close()
    assert db.running == 0 and db.queries == 2  # the page taken and the one looked ahead, no more
