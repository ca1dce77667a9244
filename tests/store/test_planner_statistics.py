"""A PostgreSQL store keeps its tables' statistics fresh itself, whether autovacuum runs or not."""

from __future__ import annotations

import sqlalchemy as sa

from mapping import CollectionStatus, CollectionStatusUpdate, TargetType
from store import StateStore


def status_update(rid: str) -> CollectionStatusUpdate:
    return CollectionStatusUpdate(
        target_type=TargetType.INVOICE,
        target_id=rid,
        collection_status=CollectionStatus.REMINDED,
        dunning_level=1,
    )


def known_rows(store: StateStore, table: str) -> float:
    with store.engine.connect() as conn:
        return float(
            conn.execute(
                sa.text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}
            ).scalar_one()
        )


def test_after_a_cycle_that_queued_many_writes_the_planner_knows_how_big_the_outbox_is(
    postgres_url: str,
) -> None:
    store = StateStore.open(postgres_url)
    with store.engine.begin() as conn:
        # As on a server where autovacuum is off: nothing analyses the table behind the store's back.
        conn.execute(sa.text("ALTER TABLE outbox SET (autovacuum_enabled = false)"))
    store.enqueue("acme", [status_update(f"I{i}") for i in range(400)])
    # The cycle's sessions end (a server counts a session's changes by the time it ends).
    store.engine.dispose()
    assert known_rows(store, "outbox") < 0  # never analysed: the planner guesses
    assert "outbox" in store.refresh_statistics()
    assert known_rows(store, "outbox") == 400
    # Nothing changed since: the next cycle analyses nothing again.
    assert store.refresh_statistics() == []
    store.close()


def test_a_sqlite_store_has_no_statistics_to_refresh(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    store.enqueue("acme", [status_update(f"I{i}") for i in range(100)])
    assert store.refresh_statistics() == []
    store.close()


def test_a_long_write_back_reads_the_writes_due_first_however_many_it_sent_before(
    postgres_url: str,
) -> None:
    store = StateStore.open(postgres_url)
    with store.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE outbox SET (autovacuum_enabled = false)"))
    store.enqueue("acme", [status_update(f"I{i}") for i in range(4000)])
    store.engine.dispose()
    # The statistics are taken while every write is pending, as right after a first run.
    assert "outbox" in store.refresh_statistics()
    claims: list[tuple[str, object]] = []

    def keep(_conn, _cursor, statement, params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if "FOR UPDATE" in statement:
            claims.append((statement, params))

    sa.event.listen(store.engine, "before_cursor_execute", keep)
    for _ in range(36):
        rows = store.claim("acme", 100)
        with store.engine.begin() as conn:
            store.mark_done_many(conn, [(r.key, None, None) for r in rows])
    sa.event.remove(store.engine, "before_cursor_execute", keep)
    statement, params = claims[-1]
    with store.engine.connect() as conn:
        plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + statement, params).scalars())  # type: ignore[arg-type]
    # Along the rows still due, not along every row sent before them.
    assert "ix_outbox_due" in plan, plan
    store.close()
