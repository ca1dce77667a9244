"""One sync cycle as an admin sees it: pull what changed, write each decision once, survive ERP trouble."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest
import sqlalchemy as sa

from connectors.base import ConnectorContext
from connectors.errors import AuthError, BadRecordError, ThrottledError, TransientError
from engine import Decision, DecisionContext, SyncEngine, SyncOptions
from mapping import CollectionStatus, CollectionStatusUpdate, Invoice, Operation, Record, Stream, TargetType
from store import StateStore
from tests.engine.fakes import FakeConnector, FakeSettings, RecordingERP


class RemindEveryOpenInvoice:
    """A stand-in rule: every open invoice gets a level-1 reminder status."""

    name = "remind"

    def __init__(self) -> None:
        self.redecided: list[str] = []

    def decide(self, ctx: DecisionContext) -> Iterable[Decision | Operation]:
        for rec in ctx.store.iter_records(ctx.connection, Stream.INVOICES):
            assert isinstance(rec, Invoice)
            if rec.collection_status is None:
                yield CollectionStatusUpdate(
                    target_type=TargetType.INVOICE,
                    target_id=rec.remote_id,
                    collection_status=CollectionStatus.REMINDED,
                    dunning_level=1,
                    base_version=rec.version,
                )

    def handles(self, op: Operation) -> bool:
        return True

    def redecide(self, op: Operation, fresh: Record | None) -> Operation | None:
        self.redecided.append(op.target_id)
        return op.model_copy(update={"base_version": fresh.version if fresh else None})


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    s = StateStore.open(store_url)
    yield s
    s.close()


def engine_for(
    store: StateStore, erp: RecordingERP, *, deciders=(), sleeps: list[float] | None = None, **opts
) -> SyncEngine:
    FakeConnector.erps["erp"] = erp
    connector = FakeConnector(
        FakeSettings(erp="erp"), ConnectorContext(connection="acme", state=store.connector_state("acme"))
    )
    sleeps = sleeps if sleeps is not None else []
    return SyncEngine(
        store, connector, "acme", SyncOptions(deciders=list(deciders), sleep=sleeps.append, **opts)
    )


def test_first_cycle_pulls_everything_and_writes_each_decision_once(store: StateStore) -> None:
    erp = RecordingERP(customers=3, invoices=10)
    report = engine_for(store, erp, deciders=[RemindEveryOpenInvoice()]).run_cycle()
    assert report.status == "ok"
    assert report.pulled["invoices"]["new"] == 10
    assert report.written["ok"] == 10
    assert all(n == 1 for n in erp.effects.values()) and len(erp.effects) == 10
    assert erp.write_calls == 4  # 10 writes in batches of at most 3


def test_second_cycle_pulls_only_what_changed_and_decides_nothing_twice(store: StateStore) -> None:
    erp = RecordingERP(customers=3, invoices=10)
    rule = RemindEveryOpenInvoice()
    engine_for(store, erp, deciders=[rule]).run_cycle()
    erp.touch(Stream.CUSTOMERS, "C1", name="Customer One Ltd")
    reads_before = erp.read_calls
    report = engine_for(store, erp, deciders=[rule]).run_cycle()
    assert report.pulled["customers"]["changed"] == 1
    # The first cycle's write-backs changed the ERP records: they come back once, and decide nothing new.
    assert report.written.get("ok", 0) == 0
    assert erp.read_calls - reads_before <= 4
    assert sum(erp.effects.values()) == 10


def test_a_throttling_erp_is_waited_for_with_its_retry_after_and_the_cycle_finishes(
    store: StateStore,
) -> None:
    erp = RecordingERP()
    erp.fail_reads = [ThrottledError("429", retry_after=7.0), ThrottledError("429", retry_after=7.0)]
    erp.fail_writes = [ThrottledError("3001 ThrottleExceeded", retry_after=60.0)]
    sleeps: list[float] = []
    report = engine_for(store, erp, deciders=[RemindEveryOpenInvoice()], sleeps=sleeps).run_cycle()
    assert report.status == "ok"
    assert report.throttled == 3 and report.retries == 3
    assert sleeps.count(7.0) == 2 and 60.0 in sleeps
    assert store.count_records("acme")["invoices"] == 10
    assert [r.status for r in store.runs("acme")] == ["ok"]


def test_an_erp_that_stays_down_leaves_writes_pending_not_lost(store: StateStore) -> None:
    erp = RecordingERP(invoices=2)
    erp.fail_writes = [TransientError("HTTP 503")] * 3
    report = engine_for(store, erp, deciders=[RemindEveryOpenInvoice()], write_attempts=3).run_cycle()
    assert report.status == "partial"
    assert store.outbox_stats("acme")["counts"] == {"pending": 2}
    erp.fail_writes = []
    with store.engine.begin() as conn:  # time passes: the rows fall due again
        conn.execute(sa.text("UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00.000000+00:00'"))
    assert engine_for(store, erp, deciders=[RemindEveryOpenInvoice()]).run_cycle().written["ok"] == 2
    assert sum(erp.effects.values()) == 2


def test_a_stale_version_is_re_read_and_re_decided_once(store: StateStore) -> None:
    erp = RecordingERP(invoices=1)
    rule = RemindEveryOpenInvoice()
    eng = engine_for(store, erp, deciders=[rule], write_back=False)
    eng.run_cycle()
    erp.touch(Stream.INVOICES, "I0", memo="edited by a clerk")  # the ERP moves on after we decided
    eng.options.write_back = True
    eng.options.deciders = [rule]
    report = eng.run_cycle()
    assert report.written["conflict"] >= 1 and report.written["ok"] == 1
    assert rule.redecided == ["I0"] and erp.effects["I0"] == 1


def test_a_write_the_erp_rejects_is_parked_with_its_message(store: StateStore) -> None:
    erp = RecordingERP(invoices=3)
    erp.op_results["I1"] = BadRecordError("Invalid custom field DefinitionId 9", erp_code="2010")
    report = engine_for(store, erp, deciders=[RemindEveryOpenInvoice()]).run_cycle()
    assert report.written == {"ok": 2, "parked": 1}
    [parked] = store.outbox_rows("acme", status="parked")
    assert parked.target_id == "I1" and "DefinitionId 9" in (parked.last_error or "")


def test_revoked_credentials_pause_the_connection_with_one_alert_and_no_retry_loop(
    store: StateStore, caplog
) -> None:
    erp = RecordingERP()
    erp.fail_reads = [AuthError("invalid_grant: refresh token revoked")]
    sleeps: list[float] = []
    first = engine_for(store, erp, sleeps=sleeps).run_cycle()
    second = engine_for(store, erp, sleeps=sleeps).run_cycle()
    assert first.status == second.status == "needs_reauth"
    assert sleeps == [] and erp.read_calls == 1
    alerts = [r for r in caplog.records if getattr(r, "event", None) == "needs_reauth"]
    assert len(alerts) == 1


def test_an_outbox_row_altered_after_its_key_was_issued_is_refused(store: StateStore) -> None:
    erp = RecordingERP(invoices=1)
    eng = engine_for(store, erp, deciders=[RemindEveryOpenInvoice()], write_back=False)
    eng.run_cycle()
    forged = CollectionStatusUpdate(
        target_type=TargetType.INVOICE,
        target_id="I0",
        collection_status=CollectionStatus.COLLECTIONS_AGENCY,
        dunning_level=9,
    )
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE outbox SET payload = :p"), {"p": forged.model_dump_json()})
    eng.options.write_back = True
    report = eng.run_cycle()
    assert report.written["refused"] == 1 and erp.effects == {}
    [row] = store.outbox_rows("acme", status="parked")
    assert row.error_kind == "tampered"


def test_a_write_whose_parent_was_parked_waits(store: StateStore) -> None:
    erp = RecordingERP(invoices=2)

    class ParentChild:
        name = "pc"

        def decide(self, ctx: DecisionContext) -> Iterable[Decision]:
            parent = CollectionStatusUpdate(
                target_type=TargetType.INVOICE, target_id="I0", collection_status=CollectionStatus.REMINDED
            )
            child = CollectionStatusUpdate(
                target_type=TargetType.INVOICE, target_id="I1", collection_status=CollectionStatus.REMINDED
            )
            yield Decision(child, after=parent)

    erp.op_results["I0"] = BadRecordError("invoice is closed")
    report = engine_for(store, erp, deciders=[ParentChild()]).run_cycle()
    assert report.written == {"parked": 1}
    assert [r.target_id for r in store.outbox_rows("acme", status="pending")] == ["I1"]
    assert erp.effects == {}
