"""A pull stores its pages in the order read, each with its cursor, even while it reads ahead."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import ConnectorContext
from engine import SyncEngine, SyncOptions
from mapping import Stream
from store import StateStore, StoreError
from tests.engine.fakes import FakeConnector, FakeSettings, RecordingERP


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    s = StateStore.open(store_url)
    yield s
    s.close()


def engine_for(store: StateStore, erp: RecordingERP, **opts: Any) -> SyncEngine:
    FakeConnector.erps["pages"] = erp
    connector = FakeConnector(
        FakeSettings(erp="pages"), ConnectorContext(connection="acme", state=store.connector_state("acme"))
    )
    return SyncEngine(store, connector, "acme", SyncOptions(write_back=False, **opts))


def stored_ids(store: StateStore, stream: Stream) -> list[str]:
    return sorted(r.remote_id for r in store.iter_records("acme", stream))


def test_a_page_that_fails_to_store_stops_its_stream_before_any_later_page(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    erp = RecordingERP(customers=3, invoices=14)
    saved = store.save_page
    calls: list[Stream] = []

    def save_page(connection: str, stream: Stream, *args: Any, **kwargs: Any) -> Any:
        calls.append(stream)
        if stream is Stream.INVOICES and calls.count(Stream.INVOICES) == 2:
            raise StoreError("the disk is full")
        return saved(connection, stream, *args, **kwargs)

    monkeypatch.setattr(store, "save_page", save_page)
    report = engine_for(store, erp).run_cycle()
    assert report.status == "failed" and "the disk is full" in (store.runs("acme")[0].error or "")
    # Only the first page of invoices (four, in the ERP's order) and the cursor after it.
    assert len(stored_ids(store, Stream.INVOICES)) == 4
    cursor = store.get_cursor("acme", Stream.INVOICES)
    assert cursor is not None and json.loads(cursor.value)[1] in stored_ids(store, Stream.INVOICES)

    monkeypatch.setattr(store, "save_page", saved)
    again = engine_for(store, erp).run_cycle()
    assert again.status == "ok"
    assert stored_ids(store, Stream.INVOICES) == sorted(f"I{i}" for i in range(14))
    assert again.pulled["invoices"]["new"] == 10 and again.pulled["invoices"]["changed"] == 0


def test_a_stop_during_a_pull_leaves_whole_pages_and_the_next_cycle_reads_the_rest_once(
    store: StateStore,
) -> None:
    erp = RecordingERP(customers=3, invoices=14)
    engine = engine_for(store, erp)

    def stop_after_the_first_invoice_page(stream: Stream, pages: int, _records: int) -> None:
        if stream is Stream.INVOICES and pages == 1:
            engine.options.stop.set()

    engine.options.on_page = stop_after_the_first_invoice_page
    first = engine.run_cycle()
    assert first.status == "interrupted"
    stored = stored_ids(store, Stream.INVOICES)
    assert len(stored) in (4, 8)  # the page that stopped it, and the one being stored meanwhile
    assert first.pulled["invoices"]["new"] == len(stored)
    cursor = store.get_cursor("acme", Stream.INVOICES)
    assert cursor is not None and json.loads(cursor.value)[1] == max(
        stored, key=lambda rid: erp.records[Stream.INVOICES][rid].remote_modified_at
    )

    engine.options.stop.clear()
    engine.options.on_page = None
    second = engine.run_cycle()
    assert stored_ids(store, Stream.INVOICES) == sorted(f"I{i}" for i in range(14))
    assert first.pulled["invoices"]["new"] + second.pulled["invoices"]["new"] == 14
    assert second.pulled["invoices"].get("changed", 0) == 0
