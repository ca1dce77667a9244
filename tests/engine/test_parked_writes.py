"""A parked write after the admin acted on it: retried once the ERP was fixed, or dropped for good."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta

import pytest

from connectors.base import ConnectorContext, OutboundOp, WriteResult
from connectors.errors import BadRecordError, TransientError
from engine import Decision, DecisionContext, SyncEngine, SyncOptions
from mapping import CollectionStatus, CollectionStatusUpdate, TargetType
from store import StateStore
from tests.engine.fakes import FakeConnector, FakeSettings, RecordingERP
from tests.engine.test_sync_cycle import RemindEveryOpenInvoice, engine_for


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    s = StateStore.open(store_url)
    yield s
    s.close()


def test_a_parked_write_retried_after_the_fix_reaches_the_erp_once(store: StateStore) -> None:
    erp = RecordingERP(invoices=3)
    erp.op_results["I1"] = BadRecordError("Accounting period 2026-10 is closed", erp_code="6150")
    first = engine_for(store, erp, deciders=[RemindEveryOpenInvoice()]).run_cycle()
    assert first.written == {"ok": 2, "parked": 1}
    [parked] = store.outbox_rows("acme", status="parked")
    assert erp.effects["I1"] == 0

    # The admin reopened the period in the ERP (op_results was used up), then retried the write.
    assert store.retry_parked(parked.key, by="alice", note="period 2026-10 reopened")
    second = engine_for(store, erp, deciders=[RemindEveryOpenInvoice()]).run_cycle()
    third = engine_for(store, erp, deciders=[RemindEveryOpenInvoice()]).run_cycle()

    assert second.written == {"ok": 1} and third.written == {}
    assert erp.effects["I1"] == 1
    assert parked.key in erp.applied and erp.applied[parked.key].op == parked.operation()
    assert [r.status for r in store.outbox_rows("acme")] == ["done", "done", "done"]


class LostAnswerERP(RecordingERP):
    def __init__(self) -> None:
        super().__init__(invoices=1)
        self.lose_next_answer = False
        self.can_tell = False
        self.lookups: list[str] = []


class LookingUpConnector(FakeConnector):
    """The fake ERP, plus a lookup by idempotency key that only works when the ERP can tell."""

    erp: LostAnswerERP

    def write(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        results = super().write(ops)
        if self.erp.lose_next_answer:
            self.erp.lose_next_answer = False
            raise TransientError("connection reset after the ERP acted")
        return results

    def find_written(self, op: OutboundOp) -> WriteResult | None:
        self.erp.lookups.append(op.key)
        if not self.erp.can_tell:
            return None
        return WriteResult(op.key, op.key in self.erp.applied, remote_id=op.op.target_id)


def looking_up_engine(store: StateStore, erp: LostAnswerERP) -> SyncEngine:
    FakeConnector.erps["lost"] = erp
    connector = LookingUpConnector(
        FakeSettings(erp="lost"), ConnectorContext(connection="acme", state=store.connector_state("acme"))
    )
    options = SyncOptions(
        deciders=[RemindEveryOpenInvoice()],
        sleep=lambda _s: None,
        write_attempts=1,
        backoff_max=0,
        dedupe_window=timedelta(0),  # every resend is outside the ERP's de-duplication window
    )
    return SyncEngine(store, connector, "acme", options)


def test_a_possibly_sent_write_retried_is_looked_up_before_it_is_sent_again(store: StateStore) -> None:
    erp = LostAnswerERP()
    erp.lose_next_answer = True
    looking_up_engine(store, erp).run_cycle()  # it landed, the answer did not come back
    parked_cycle = looking_up_engine(store, erp).run_cycle()  # the ERP cannot tell: parked
    assert parked_cycle.written == {"parked": 1}
    [parked] = store.outbox_rows("acme", status="parked")
    assert parked.error_kind == "unconfirmed" and parked.sent_at is not None
    assert erp.effects["I0"] == 1 and erp.write_calls == 1

    erp.can_tell = True  # e.g. the ERP's lookup API was enabled for the integration user
    erp.lookups.clear()
    assert store.retry_parked(parked.key, by="alice", note="lookup enabled")
    report = looking_up_engine(store, erp).run_cycle()

    assert erp.lookups == [parked.key]
    assert report.written == {"reconciled": 1}
    assert erp.write_calls == 1 and erp.effects["I0"] == 1
    assert [r.status for r in store.outbox_rows("acme")] == ["done"]


def test_a_retried_write_that_never_left_is_sent_without_a_lookup(store: StateStore) -> None:
    erp = LostAnswerERP()
    reminder = CollectionStatusUpdate(
        target_type=TargetType.INVOICE,
        target_id="I0",
        collection_status=CollectionStatus.REMINDED,
        dunning_level=1,
    )
    [key] = store.enqueue("acme", [reminder])
    store.mark_parked(key, error="customer is inactive", kind="bad_record")  # parked before it left
    assert store.retry_parked(key, by="alice")
    report = looking_up_engine(store, erp).run_cycle()
    assert erp.lookups == [] and report.written == {"ok": 1} and erp.effects["I0"] == 1


class ParentChildGrandchild:
    name = "chain"

    def decide(self, ctx: DecisionContext) -> Iterable[Decision]:
        ops = [
            CollectionStatusUpdate(
                target_type=TargetType.INVOICE, target_id=f"I{i}", collection_status=CollectionStatus.REMINDED
            )
            for i in range(3)
        ]
        yield Decision(ops[1], after=ops[0])
        yield Decision(ops[2], after=ops[1])


def test_dropping_a_write_drops_the_writes_waiting_on_it(store: StateStore) -> None:
    erp = RecordingERP(invoices=4)
    erp.op_results["I0"] = BadRecordError("invoice I0 was voided")
    engine_for(store, erp, deciders=[ParentChildGrandchild()]).run_cycle()
    [parent] = store.outbox_rows("acme", status="parked")
    assert [r.target_id for r in store.outbox_rows("acme", status="pending")] == ["I1", "I2"]

    dropped = store.drop_parked(parent.key, by="alice", note="I0 voided, the chain is moot")
    assert dropped is not None and [d.target_id for d in dropped] == ["I1", "I2"]

    # The next cycles decide the same chain again: the dropped writes stay dropped and unsent.
    for _ in range(2):
        report = engine_for(store, erp, deciders=[ParentChildGrandchild()]).run_cycle()
        assert report.written == {}
    assert erp.effects == {} and erp.write_calls == 1
    assert [r.status for r in store.outbox_rows("acme")] == ["dropped"] * 3
