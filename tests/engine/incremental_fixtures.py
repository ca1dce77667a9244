"""What the tests of rules that read only what changed share: an ERP with all four streams, two
stores of the same database kind, and one cycle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from connectors.base import Capabilities, ConnectorContext
from engine import SyncEngine, SyncOptions
from mapping import OpType, Stream
from store import StateStore
from tests.engine.fakes import FakeConnector, FakeSettings, RecordingERP

__all__ = ["BookConnector", "cycle"]


class BookConnector(FakeConnector):
    """The fake ERP's connector, reading credit memos and payments as well."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        streams=frozenset({Stream.CUSTOMERS, Stream.INVOICES, Stream.CREDIT_MEMOS, Stream.PAYMENTS}),
        write_ops=frozenset({OpType.COLLECTION_STATUS}),
        page_max=4,
        batch_max=3,
        sorted_streams=frozenset(),
    )


def cycle(
    store: StateStore,
    erp: RecordingERP,
    deciders: Sequence[Any],
    as_of: datetime,
    *,
    write_back: bool = False,
) -> None:
    """One cycle of connection ``acme`` on ``erp``: pull, decide and (if asked) write back."""
    BookConnector.erps["book"] = erp
    connector = BookConnector(
        FakeSettings(erp="book"), ConnectorContext(connection="acme", state=store.connector_state("acme"))
    )
    options = SyncOptions(deciders=list(deciders), write_back=write_back, as_of=as_of, sleep=lambda _s: None)
    report = SyncEngine(store, connector, "acme", options).run_cycle()
    assert report.status == "ok", report.errors
