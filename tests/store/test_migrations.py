"""Upgrades of an installed daemon keep their data: the schema comes only from Alembic migrations."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from mapping import Stream
from store import StateStore
from store.schema import include_name, metadata
from tests.store.test_state_store import invoice


def test_migrations_build_exactly_the_tables_the_code_uses(store_url: str) -> None:
    store = StateStore.open(store_url)
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, metadata)
    store.close()
    assert diff == []


def test_reopening_an_existing_store_keeps_its_records(store_url: str) -> None:
    store = StateStore.open(store_url)
    store.save_page("acme", Stream.INVOICES, [invoice("1"), invoice("2")])
    store.close()
    reopened = StateStore.open(store_url)
    assert reopened.count_records("acme") == {"invoices": 2}
    reopened.close()


def test_a_store_at_the_first_schema_upgrades_and_keeps_its_data(store_url: str) -> None:
    from pathlib import Path

    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    import store.state as state

    engine = state.create_engine(store_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(state.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    old = StateStore(engine)
    old.save_page("acme", Stream.INVOICES, [invoice("1")])
    old.close()

    upgraded = StateStore.open(store_url)
    assert upgraded.count_records("acme") == {"invoices": 1}
    assert "dunning_actions" in sa.inspect(upgraded.engine).get_table_names()
    upgraded.close()


def test_a_migration_interrupted_half_way_leaves_no_half_built_schema(tmp_path) -> None:
    """A daemon killed during its first start must start again: DDL is inside the migration's transaction."""
    import sqlalchemy as sa

    import store.state as state

    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    engine = state.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE records (x INTEGER)")
            raise RuntimeError("killed")
    except RuntimeError:
        pass
    assert "records" not in sa.inspect(engine).get_table_names()
    engine.dispose()
    StateStore.open(url).close()


def test_daemons_starting_together_on_postgresql_migrate_once(postgres_url: str) -> None:
    import threading
    import time

    failures: list[BaseException] = []

    def start() -> None:
        try:
            StateStore.open(postgres_url).close()
        except BaseException as exc:  # collected for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not [t for t in threads if t.is_alive()], "the starts blocked each other"
    assert failures == []


def test_a_postgresql_store_brings_the_task_queue_tables(postgres_url: str, tmp_path) -> None:
    import sqlalchemy as sa

    pg = StateStore.open(postgres_url)
    assert {"procrastinate_jobs", "procrastinate_workers"} <= set(sa.inspect(pg.engine).get_table_names())
    pg.close()
    lite = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    assert not [t for t in sa.inspect(lite.engine).get_table_names() if t.startswith("procrastinate")]
    lite.close()
