"""Payments and invoices read customer by customer: payers without a customer first, then in byte order."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mapping.models import Payment, Stream
from store import StateStore

AT = datetime(2026, 11, 1, tzinfo=UTC)


def payment(pid: str, customer: str | None) -> Payment:
    return Payment(
        remote_id=pid,
        customer_remote_id=customer,
        date=date(2026, 10, 1),
        amount=Decimal("10.00"),
        currency="EUR",
        unapplied_amount=Decimal("10.00"),
        remote_modified_at=AT,
    )


def test_every_record_comes_once_customer_by_customer_across_page_boundaries(store_url: str) -> None:
    store = StateStore.open(store_url)
    # Ids chosen so that byte order and a natural-language collation would disagree.
    customers = [None, "B", "a", "Z", "b-2", "b_1", None]
    payments = [payment(f"P{i:02d}", customers[i % len(customers)]) for i in range(40)]
    store.save_page("acme", Stream.PAYMENTS, payments)

    seen = list(store.iter_records("acme", Stream.PAYMENTS, order_by_customer=True, batch=3))

    keys = [(p.customer_remote_id or "", p.remote_id) for p in seen]  # type: ignore[attr-defined]
    assert sorted(p.remote_id for p in seen) == sorted(p.remote_id for p in payments)
    assert keys == sorted(keys)  # Python's string order: what callers merge streams with
    assert keys[0][0] == "" and keys[-1][0] == "b_1"
    store.close()


def test_reading_by_customer_walks_an_index_instead_of_sorting_the_stream(tmp_path: Path) -> None:
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    store.save_page("acme", Stream.PAYMENTS, [payment(f"P{i}", f"C{i % 4}") for i in range(10)])
    statements: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "ORDER BY" in statement:
            statements.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", remember)
    list(store.iter_records("acme", Stream.PAYMENTS, order_by_customer=True, batch=3))
    sa.event.remove(store.engine, "before_cursor_execute", remember)
    # A page after the first, of the records with a customer: the one repeated thousands of times.
    statement, parameters = next((s, p) for s, p in statements if "IS NOT NULL" in s and "> (" in s)
    with store.engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    store.close()
    detail = " ".join(str(row[-1]) for row in plan)
    assert "ix_records_customer" in detail and "TEMP B-TREE" not in detail, detail


def test_on_postgresql_every_page_of_records_is_an_index_seek_not_a_sort(postgres_url: str) -> None:
    store = StateStore.open(postgres_url)
    store.save_page("acme", Stream.PAYMENTS, [payment(f"P{i}", f"C{i % 4}") for i in range(10)])
    statements: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "ORDER BY" in statement and " > " in statement:
            statements.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", remember)
    list(store.iter_records("acme", Stream.PAYMENTS, batch=3))
    list(store.iter_records("acme", Stream.PAYMENTS, order_by_customer=True, batch=3))
    sa.event.remove(store.engine, "before_cursor_execute", remember)
    by_id = next(s for s in statements if "IS NOT NULL" not in s[0] and "IS NULL" not in s[0])
    by_customer = next(s for s in statements if "IS NOT NULL" in s[0])
    plans = []
    with store.engine.connect() as conn:
        # A ten-row table would be scanned whole whatever the indexes; ask what a large one gets.
        conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in (by_id, by_customer):
            plans.append(" ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters)))
    store.close()
    for plan in plans:
        assert "Index" in plan and "Sort" not in plan, plan


def test_a_first_pull_into_an_empty_postgresql_store_keeps_seeking_by_id(postgres_url: str) -> None:
    store = StateStore.open(postgres_url)
    engine = sa.create_engine(postgres_url)

    def analysed() -> bool:
        with engine.connect() as conn:
            query = "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'records'"
            return bool(conn.execute(sa.text(query)).scalar())

    store.save_page("acme", Stream.PAYMENTS, [payment(f"P{i}", f"C{i % 40}") for i in range(50)])
    assert not analysed()  # a small page leaves statistics to autovacuum
    for page in range(3):
        store.save_page(
            "acme", Stream.PAYMENTS, [payment(f"P{page}-{i:04d}", f"C{i % 40}") for i in range(1500)]
        )
    statements: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "INSERT INTO records" in statement:
            statements.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", remember)
    store.save_page("acme", Stream.PAYMENTS, [payment("P1-0001", "C1"), payment("NEW-1", "C1")])
    sa.event.remove(store.engine, "before_cursor_execute", remember)
    [(statement, parameters)] = statements
    with store.engine.connect() as conn:
        plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
    store.close()
    engine.dispose()
    assert analysed()
    assert "Conflict Arbiter Indexes: pk_records" in plan, plan


def test_a_daemon_restarted_on_a_big_postgresql_store_does_not_analyse_it_for_one_page(
    postgres_url: str,
) -> None:
    first = StateStore.open(postgres_url)
    for page in range(4):
        first.save_page(
            "acme", Stream.PAYMENTS, [payment(f"P{page}-{i:04d}", f"C{i % 40}") for i in range(1500)]
        )
    first.close()
    restarted = StateStore.open(postgres_url)
    analyses: list[str] = []

    def remember(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("ANALYZE"):
            analyses.append(statement)

    sa.event.listen(restarted.engine, "before_cursor_execute", remember)
    # Its first pull brings a page of new records into a store of 6,000: far from doubling it.
    restarted.save_page("acme", Stream.PAYMENTS, [payment(f"NEW-{i:04d}", "C1") for i in range(1200)])
    sa.event.remove(restarted.engine, "before_cursor_execute", remember)
    restarted.close()
    assert analyses == []
