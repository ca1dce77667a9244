"""The engine keeps its side of the connector contract.

A look-up of an unconfirmed write is retried like any read, and a write that was never tried does
not spend an attempt; every update carries the version its decision was made on from the start.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.base import ConnectorContext, OutboundOp, WriteResult
from connectors.errors import AuthError, ThrottledError
from engine import DecisionContext, SyncEngine, SyncOptions
from engine.sync import CycleReport
from mapping import CollectionStatus, CollectionStatusUpdate, Operation, Stream, TargetType
from store import StateStore
from store import schema as t
from store.state import now, ts
from tests.engine.fakes import FakeConnector, FakeSettings, RecordingERP

_names = itertools.count()


class EscalateInvoiceThree:
    name = "escalate"

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        yield CollectionStatusUpdate(
            target_type=TargetType.INVOICE,
            target_id="I3",
            collection_status=CollectionStatus.ESCALATED,
            dunning_level=2,
        )


class LookUpConnector(FakeConnector):
    """Answers ``find_written`` from the ERP's applied keys, after the faults queued for it."""

    lookup_faults: list[Exception] = []
    lookups = 0

    def find_written(self, op: OutboundOp) -> WriteResult | None:
        type(self).lookups += 1
        if self.lookup_faults:
            raise self.lookup_faults.pop(0)
        if op.key in self.erp.applied:
            return WriteResult(op.key, True, remote_id=op.op.target_id)
        return WriteResult(op.key, False)


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    s = StateStore.open(store_url)
    yield s
    s.close()


@pytest.fixture
def erp() -> Iterator[str]:
    name = f"contract-{next(_names)}"
    FakeConnector.erps[name] = RecordingERP()
    LookUpConnector.lookup_faults = []
    LookUpConnector.lookups = 0
    yield name
    FakeConnector.erps.pop(name, None)


def engine(store: StateStore, erp: str, waits: list[float], **options: Any) -> SyncEngine:
    connector = LookUpConnector(FakeSettings(erp=erp), ConnectorContext("acme"))
    opts = SyncOptions(deciders=[EscalateInvoiceThree()], sleep=waits.append, **options)
    return SyncEngine(store, connector, "acme", opts)


def _lose_the_answer(store: StateStore, erp: str) -> str:
    """The first cycle's write reached the ERP but its answer was lost a day ago."""
    [row] = store.outbox_rows("acme")
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(t.outbox)
            .where(t.outbox.c.key == row.key)
            .values(status="pending", sent_at=ts(now() - timedelta(days=2)), next_attempt_at=ts(now()))
        )
    return row.key


def test_a_throttled_look_up_of_an_unconfirmed_write_is_retried_and_reconciles_it(
    store: StateStore, erp: str
) -> None:
    waits: list[float] = []
    assert engine(store, erp, waits).run_cycle().written["ok"] == 1
    key = _lose_the_answer(store, erp)
    attempts_before = store.outbox_rows("acme")[0].attempts
    LookUpConnector.lookup_faults = [ThrottledError("HTTP 429", retry_after=30.0)] * 2

    report = engine(store, erp, waits).run_cycle()

    assert report.status == "ok", report.errors
    assert report.written["reconciled"] == 1
    assert report.throttled == 2
    assert sorted(waits)[-2:] == [30.0, 30.0], "the ERP's Retry-After was honoured"
    [row] = store.outbox_rows("acme")
    assert row.key == key and row.status == "done"
    assert row.attempts == attempts_before + 1
    assert FakeConnector.erps[erp].effects["I3"] == 1, "reconciled, not written again"


def test_a_look_up_that_keeps_failing_postpones_the_write_without_spending_its_attempts(
    store: StateStore, erp: str
) -> None:
    waits: list[float] = []
    engine(store, erp, waits).run_cycle()
    key = _lose_the_answer(store, erp)
    attempts_before = store.outbox_rows("acme")[0].attempts
    writes_before = FakeConnector.erps[erp].write_calls

    for _ in range(3):
        LookUpConnector.lookup_faults = [ThrottledError("HTTP 429", retry_after=1.0)] * 100
        report = engine(store, erp, waits, read_attempts=3).run_cycle()
        assert report.status == "partial", "the pull went fine: the cycle is not a failure"
        assert any("looking up an unconfirmed write failed" in e for e in report.errors), report.errors

    [row] = store.outbox_rows("acme")
    assert row.key == key and row.status == "pending"
    assert row.attempts == attempts_before, "three cycles of failed look-ups spent no attempt"
    assert FakeConnector.erps[erp].write_calls == writes_before, "nothing was sent blind"

    LookUpConnector.lookup_faults = []  # the ERP answers again
    report = engine(store, erp, waits).run_cycle()
    assert report.written["reconciled"] == 1
    assert store.outbox_rows("acme")[0].status == "done"


def test_refused_credentials_on_the_look_up_pause_the_connection_and_keep_the_row(
    store: StateStore, erp: str
) -> None:
    waits: list[float] = []
    engine(store, erp, waits).run_cycle()
    _lose_the_answer(store, erp)
    attempts_before = store.outbox_rows("acme")[0].attempts
    LookUpConnector.lookup_faults = [AuthError("HTTP 401")]

    report = engine(store, erp, waits).run_cycle()

    assert report.status == "needs_reauth"
    assert LookUpConnector.lookups == 1, "an auth failure is not retried"
    [row] = store.outbox_rows("acme")
    assert row.status == "pending" and row.attempts == attempts_before


def test_a_status_update_carries_the_version_its_decision_was_made_on_from_the_start(
    store: StateStore, erp: str
) -> None:
    waits: list[float] = []
    books = FakeConnector.erps[erp]
    seen = books.records[Stream.INVOICES]["I3"].version
    sent: list[OutboundOp] = []
    real_write = LookUpConnector.write

    def edit_in_the_erp_then_write(self: LookUpConnector, ops: Any) -> list[WriteResult]:
        sent.extend(ops)
        if len(sent) == 1:
            # A clerk edits the invoice in the ERP between the decision and the write.
            books.touch(Stream.INVOICES, "I3", memo="promised to pay Friday")
        return real_write(self, ops)

    LookUpConnector.write = edit_in_the_erp_then_write  # type: ignore[method-assign]
    try:
        report = engine(store, erp, waits).run_cycle()
    finally:
        LookUpConnector.write = real_write  # type: ignore[method-assign]

    assert sent[0].op.base_version == seen, "the first send is already conditional"
    assert report.written["conflict"] == 1, "the clerk's edit was not overwritten silently"
    invoice = books.records[Stream.INVOICES]["I3"]
    assert invoice.memo == "promised to pay Friday"  # type: ignore[attr-defined]
    # Re-read and re-decided on the clerk's version, then written on top of it.
    assert [o.op.base_version for o in sent][1:] == [str(int(seen or "0") + 1)]
    assert books.effects["I3"] == 1


class EscalateEveryInvoice:
    """One decision per invoice, as a dunning run that moves a whole book up a level."""

    name = "escalate-all"

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        for invoice in ctx.store.iter_records(ctx.connection, Stream.INVOICES):
            yield CollectionStatusUpdate(
                target_type=TargetType.INVOICE,
                target_id=invoice.remote_id,
                collection_status=CollectionStatus.ESCALATED,
                dunning_level=2,
            )


def test_a_run_of_many_decisions_reads_their_records_versions_a_batch_at_a_time(
    store: StateStore, erp: str
) -> None:
    connector = LookUpConnector(FakeSettings(erp=erp), ConnectorContext("acme"))
    SyncEngine(store, connector, "acme", SyncOptions(sleep=lambda _: None)).run_cycle()  # the books pulled
    look_ups: list[str] = []

    def remember(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "records.version" in statement:
            look_ups.append(statement)

    opts = SyncOptions(deciders=[EscalateEveryInvoice()], sleep=lambda _: None, decisions_per_commit=4)
    sa.event.listen(store.engine, "before_cursor_execute", remember)
    SyncEngine(store, connector, "acme", opts).decide(CycleReport(run_id="r", connection="acme"))
    sa.event.remove(store.engine, "before_cursor_execute", remember)
    books = FakeConnector.erps[erp]
    queued = store.outbox_rows("acme")
    assert len(queued) == 10
    # Every update is conditional on the version its decision was made on …
    for row in queued:
        assert row.payload["base_version"] == books.records[Stream.INVOICES][row.target_id].version
    # … read once for each batch of four decisions stored together, not once a decision.
    assert len(look_ups) == 3
