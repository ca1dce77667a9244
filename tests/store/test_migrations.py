"""Upgrades of an installed daemon keep their data: the schema comes only from Alembic migrations."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from mapping import Stream
from store import StateStore
from store.schema import metadata
from tests.store.test_state_store import invoice


def test_migrations_build_exactly_the_tables_the_code_uses(store_url: str) -> None:
    store = StateStore.open(store_url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.close()
    assert diff == []


def test_reopening_an_existing_store_keeps_its_records(store_url: str) -> None:
    store = StateStore.open(store_url)
    store.save_page("acme", Stream.INVOICES, [invoice("1"), invoice("2")])
    store.close()
    reopened = StateStore.open(store_url)
    assert reopened.count_records("acme") == {"invoices": 2}
    reopened.close()
