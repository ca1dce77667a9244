"""A write whose answer was lost is looked up in the ERP before anything is sent again.

Inside the ERP's de-duplication window a resend with the same key is harmless; outside it, only
the ERP's own record can tell whether the write landed. These tests lose the answer to a write
(the proxy cuts the connection after the ERP acted, or refuses the call before it reaches the ERP),
let a day pass, and run the next cycle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.base import ConnectorContext
from connectors.netsuite.connector import external_id_for
from connectors.quickbooks.connector import batch_id_for
from connectors.registry import discover
from engine import CycleReport, DecisionContext, SyncEngine, SyncOptions
from mapping import (
    Allocation,
    CollectionStatus,
    CollectionStatusUpdate,
    Invoice,
    Operation,
    PaymentApplication,
    Stream,
    TargetType,
)
from sandboxes.fault_proxy import Fault, FaultProxy
from sandboxes.netsuite import NetSuiteSandbox
from sandboxes.quickbooks.server import QuickBooksSandbox
from store import StateStore
from store.state import now, ts
from tests.engine.fakes import FakeConnector, FakeSettings, RecordingERP

LOST_AFTER_THE_ERP_ACTED = Fault.reset()
REFUSED_BEFORE_THE_ERP = Fault.answer(503)


class RemindInvoiceTen:
    name = "remind"

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        yield CollectionStatusUpdate(
            target_type=TargetType.INVOICE,
            target_id="10",
            collection_status=CollectionStatus.ESCALATED,
            dunning_level=3,
        )


class PayTheFirstOpenInvoice:
    name = "pay"

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        invoices = [
            r for r in ctx.store.iter_records(ctx.connection, Stream.INVOICES) if isinstance(r, Invoice)
        ]
        rec = min((r for r in invoices if r.open_amount >= 10), key=lambda r: int(r.remote_id))
        yield PaymentApplication(
            target_type=TargetType.CUSTOMER,
            target_id=rec.customer_remote_id,
            customer_remote_id=rec.customer_remote_id,
            amount=Decimal("10.00"),
            currency=rec.currency,
            date=date(2026, 11, 2),
            allocations=[
                Allocation(target_type=TargetType.INVOICE, target_id=rec.remote_id, amount=Decimal("10"))
            ],
        )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    yield s
    s.close()


def cycle(store: StateStore, kind: str, settings: dict[str, Any], decider: Any) -> CycleReport:
    connector = (
        discover().get(kind).create(settings, ConnectorContext(kind, state=store.connector_state(kind)))
    )
    # One write attempt per cycle: a lost answer leaves the row unconfirmed until the next cycle.
    options = SyncOptions(deciders=[decider], write_attempts=1, sleep=lambda s: None)
    with connector:
        return SyncEngine(store, connector, kind, options).run_cycle()


def a_day_passes(store: StateStore) -> None:
    """The unconfirmed rows were sent a day ago, beyond a 24-hour de-duplication window, and are due."""
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE outbox SET sent_at = :sent, next_attempt_at = :due WHERE status = 'pending'"),
            {"sent": ts(now() - timedelta(hours=25)), "due": ts(now() - timedelta(seconds=1))},
        )


def only(path_end: str) -> Any:
    return lambda request: request.path.split("?")[0].endswith(path_end)


@pytest.mark.parametrize("fault", [LOST_AFTER_THE_ERP_ACTED, REFUSED_BEFORE_THE_ERP], ids=["landed", "lost"])
def test_quickbooks_write_unconfirmed_for_a_day_is_looked_up_before_it_is_sent_again(
    store: StateStore, fault: Fault
) -> None:
    with QuickBooksSandbox(seed="large", records=30) as erp, FaultProxy(erp.base_url) as proxy:
        settings = {
            "base_url": proxy.base_url,
            "token_url": erp.token_url,
            "realm_id": erp.realm_id,
            "client_id": erp.client_id,
            "client_secret": erp.client_secret,
            "refresh_token": erp.issue_refresh_token(),
            "collection_status_field_id": "1",
        }
        proxy.inject(fault, when=only("/batch"))
        first = cycle(store, "quickbooks", settings, RemindInvoiceTen())
        assert first.status == "partial" and proxy.pending == 0
        [(key, status)] = [(r.key, r.status) for r in store.outbox_rows("quickbooks")]
        assert status == "pending"
        a_day_passes(store)
        batches_before = sum(only("/batch")(r) for r in proxy.requests)

        second = cycle(store, "quickbooks", settings, RemindInvoiceTen())

        assert second.status == "ok"
        [row] = store.outbox_rows("quickbooks")
        assert row.status == "done"
        applied = Counter(w["bId"] for w in erp.writes_log if w["applied"])
        assert applied[batch_id_for(key)] == 1
        assert erp.db["Invoice"]["10"]["SyncToken"] == "1"
        sent_again = sum(only("/batch")(r) for r in proxy.requests) - batches_before
        if fault is LOST_AFTER_THE_ERP_ACTED:
            # Found in QuickBooks: marked done without a second send.
            assert sent_again == 0 and second.written["reconciled"] == 1
            assert store.audit_entries("quickbooks", limit=1)[0]["event"] == "reconciled"
        else:
            # QuickBooks certainly lacks it: sent once more, and applied once.
            assert sent_again == 1 and second.written["ok"] == 1


def soap(operation: str) -> Any:
    return lambda request: request.headers.get("SOAPAction", "").strip('"') == operation


@pytest.mark.parametrize("fault", [LOST_AFTER_THE_ERP_ACTED, REFUSED_BEFORE_THE_ERP], ids=["landed", "lost"])
def test_netsuite_payment_unconfirmed_for_a_day_is_found_by_its_external_id_not_created_again(
    store: StateStore, fault: Fault
) -> None:
    with NetSuiteSandbox(seed="demo") as erp, FaultProxy(erp.base_url) as proxy:
        settings = {
            "account": erp.account,
            "consumer_key": erp.consumer_key,
            "consumer_secret": erp.consumer_secret,
            "token_id": erp.token_id,
            "token_secret": erp.token_secret,
            "wsdl_url": erp.wsdl_url,
            "endpoint": proxy.url(erp.url),
            "max_retries": 1,
        }
        proxy.inject(fault, when=soap("upsertList"))
        first = cycle(store, "netsuite", settings, PayTheFirstOpenInvoice())
        assert first.status == "partial" and proxy.pending == 0
        [key] = [r.key for r in store.outbox_rows("netsuite")]
        a_day_passes(store)
        upserts_before = sum(soap("upsertList")(r) for r in proxy.requests)

        second = cycle(store, "netsuite", settings, PayTheFirstOpenInvoice())

        assert second.status == "ok"
        assert [r.status for r in store.outbox_rows("netsuite")] == ["done"]
        created = [w for w in erp.writes_log if w.created and w.external_id == external_id_for(key)]
        assert len(created) == 1
        sent_again = sum(soap("upsertList")(r) for r in proxy.requests) - upserts_before
        if fault is LOST_AFTER_THE_ERP_ACTED:
            assert sent_again == 0 and second.written["reconciled"] == 1
        else:
            # NetSuite has no payment with that externalId: it certainly did not land.
            assert sent_again == 1 and second.written["ok"] == 1


def _fake_engine(store: StateStore, erp: RecordingERP) -> SyncEngine:
    FakeConnector.erps["unconfirmed"] = erp
    connector = FakeConnector(
        FakeSettings(erp="unconfirmed"), ConnectorContext("acme", state=store.connector_state("acme"))
    )
    return SyncEngine(
        store,
        connector,
        "acme",
        SyncOptions(deciders=[RemindInvoiceTwo()], write_attempts=1, sleep=lambda s: None),
    )


class RemindInvoiceTwo:
    name = "remind"

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        yield CollectionStatusUpdate(
            target_type=TargetType.INVOICE, target_id="I2", collection_status=CollectionStatus.REMINDED
        )


def test_a_write_the_erp_cannot_look_up_is_parked_after_the_window_never_sent_blindly(
    store: StateStore,
) -> None:
    from connectors.errors import TransientError

    erp = RecordingERP(invoices=3)
    erp.fail_writes = [TransientError("connection reset after the request was sent")]
    assert _fake_engine(store, erp).run_cycle().status == "partial"
    a_day_passes(store)
    calls = erp.write_calls

    report = _fake_engine(store, erp).run_cycle()

    assert erp.write_calls == calls and erp.effects == {}
    [row] = store.outbox_rows("acme")
    assert row.status == "parked" and row.error_kind == "unconfirmed"
    assert "de-duplication window" in (row.last_error or "")
    assert report.written["parked"] == 1


def test_inside_the_window_a_write_the_erp_cannot_look_up_is_resent_under_its_key(store: StateStore) -> None:
    from connectors.errors import TransientError

    erp = RecordingERP(invoices=3)
    erp.fail_writes = [TransientError("connection reset after the request was sent")]
    _fake_engine(store, erp).run_cycle()
    with store.engine.begin() as conn:  # due again an hour later, well inside the window
        conn.execute(
            sa.text("UPDATE outbox SET sent_at = :sent, next_attempt_at = :due"),
            {"sent": ts(now() - timedelta(hours=1)), "due": ts(now() - timedelta(seconds=1))},
        )

    report = _fake_engine(store, erp).run_cycle()

    assert report.written["ok"] == 1 and erp.effects == {"I2": 1}
    assert [r.status for r in store.outbox_rows("acme")] == ["done"]
