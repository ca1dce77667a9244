"""One write the relay cannot handle is parked with the reason; the rest of the queue reaches the ERP.

And a write is never marked done without the audit entry that says so: both are one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
import sqlalchemy as sa

from connectors.base import OutboundOp, WriteResult
from store import StateStore
from tests.engine.fakes import FakeConnector, RecordingERP
from tests.engine.test_sync_cycle import RemindEveryOpenInvoice, engine_for


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    s = StateStore.open(store_url)
    yield s
    s.close()


class ChokesOnI2(FakeConnector):
    """A connector with a bug on one record: it raises instead of answering (no ERP error)."""

    def write(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        if any(op.op.target_id == "I2" for op in ops):
            raise ValueError("cannot encode the status of invoice I2")
        return super().write(ops)


def test_a_write_the_connector_chokes_on_is_parked_and_the_others_reach_the_erp(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    erp = RecordingERP(invoices=6)
    engine = engine_for(store, erp, deciders=[RemindEveryOpenInvoice()])
    monkeypatch.setattr(engine, "connector", ChokesOnI2(engine.connector.settings, engine.connector.context))
    report = engine.run_cycle()

    assert report.status == "ok"
    assert set(erp.effects) == {"I0", "I1", "I3", "I4", "I5"}
    [parked] = store.outbox_rows("acme", status="parked")
    assert parked.target_id == "I2"
    assert "cannot encode the status of invoice I2" in (parked.last_error or "")


def test_an_unreadable_outbox_row_is_parked_and_the_rest_of_the_queue_goes_out(store: StateStore) -> None:
    erp = RecordingERP(invoices=4)
    engine_for(store, erp).run_cycle()  # pull only
    from mapping import CollectionStatus, CollectionStatusUpdate, TargetType

    keys = store.enqueue(
        "acme",
        [
            CollectionStatusUpdate(
                target_type=TargetType.INVOICE, target_id=f"I{i}", collection_status=CollectionStatus.REMINDED
            )
            for i in range(4)
        ],
    )
    # A row written by an older release, or edited by hand, that no longer parses.
    with store.transaction() as conn:
        conn.execute(
            sa.text("UPDATE outbox SET payload = '{\"target_type\": 7' WHERE key = :k"), {"k": keys[1]}
        )

    report = engine_for(store, erp).run_cycle()

    assert report.status == "ok"
    assert set(erp.effects) == {"I0", "I2", "I3"}
    [parked] = store.outbox_rows("acme", status="parked")
    assert parked.key == keys[1] and (parked.last_error or "").startswith("cannot be read")


def test_a_write_is_never_marked_done_without_its_audit_entry(store: StateStore) -> None:
    erp = RecordingERP(invoices=3)

    def fail_audit(_conn, _cursor, statement: str, *_args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_LOG"):
            raise RuntimeError("the process died while auditing")

    engine_for(store, erp).run_cycle()  # pull only
    sa.event.listen(store.engine, "before_cursor_execute", fail_audit)
    try:
        with pytest.raises(RuntimeError):
            engine_for(store, erp, deciders=[RemindEveryOpenInvoice()]).run_cycle()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", fail_audit)
    assert not store.outbox_rows("acme", status="done"), "a write was marked done without its audit entry"

    engine_for(store, erp, deciders=[RemindEveryOpenInvoice()]).run_cycle()
    done = store.outbox_rows("acme", status="done")
    audited = {e["detail"] for e in store.audit_entries("acme", limit=1000) if e["event"] == "written"}
    assert len(done) == 3 and all(any(row.key in d for d in audited) for row in done)
    assert sum(erp.effects.values()) == 3
