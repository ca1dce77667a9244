"""A misbehaving network or gateway between arbridge and the ERP, over real loopback HTTP.

Each connector syncs a sandbox through a proxy that breaks one answer: 429 with Retry-After, 5xx,
a read timeout after the ERP acted, a connection reset or a truncated body after the ERP acted, an
HTML page instead of the ERP's answer. The cycle still finishes with every record stored and every
write confirmed, and the sandbox's ledger shows each write applied once. A 401 pauses the
connection with one alert and no further calls.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

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
from sandboxes.fault_proxy import Fault, FaultProxy, ProxiedRequest
from sandboxes.netsuite import NetSuiteSandbox
from sandboxes.quickbooks.server import QuickBooksSandbox
from store import StateStore

BROKEN_ANSWERS = {
    "503": Fault.answer(503),
    "read timeout": Fault.stall(2.0),  # the connectors are set to a 1 s timeout below
    "connection reset": Fault.reset(),
    "truncated body": Fault.truncate(),
    "html instead of data": Fault.garbage(),
    "gateway error page": Fault.html(502),
}


class RemindEveryTenthInvoice:
    name = "remind"

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        for rec in ctx.store.iter_records(ctx.connection, Stream.INVOICES):
            if int(rec.remote_id) % 10 == 0:
                yield CollectionStatusUpdate(
                    target_type=TargetType.INVOICE,
                    target_id=rec.remote_id,
                    collection_status=CollectionStatus.REMINDED,
                    dunning_level=1,
                    base_version=rec.version,
                )


class PayFiveOpenInvoices:
    name = "pay"

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        invoices = [r for r in ctx.store.iter_records(ctx.connection, Stream.INVOICES)]
        chosen = sorted(
            (r for r in invoices if isinstance(r, Invoice) and r.open_amount >= 10), key=lambda r: r.remote_id
        )
        for rec in chosen[:5]:
            yield PaymentApplication(
                target_type=TargetType.CUSTOMER,
                target_id=rec.customer_remote_id,
                customer_remote_id=rec.customer_remote_id,
                amount=Decimal("10.00"),
                currency=rec.currency,
                date=date(2026, 11, 2),
                allocations=[
                    Allocation(
                        target_type=TargetType.INVOICE, target_id=rec.remote_id, amount=Decimal("10.00")
                    )
                ],
            )


class Harness:
    """One connection against one store; every cycle builds its connector afresh, as the daemon does."""

    def __init__(self, kind: str, settings: dict[str, Any], store: StateStore, decider: Any) -> None:
        self.kind = kind
        self.settings = settings
        self.store = store
        self.decider = decider
        self.engine_waits: list[float] = []

    def cycle(self) -> CycleReport:
        connector = (
            discover()
            .get(self.kind)
            .create(self.settings, ConnectorContext(self.kind, state=self.store.connector_state(self.kind)))
        )
        options = SyncOptions(deciders=[self.decider], sleep=self.engine_waits.append)
        with connector:
            return SyncEngine(self.store, connector, self.kind, options).run_cycle()

    def outbox(self) -> list[tuple[str, str, str]]:
        return [(r.key, r.target_id, r.status) for r in self.store.outbox_rows(self.kind, limit=10_000)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    yield s
    s.close()


# --- QuickBooks ------------------------------------------------------------------------------------


@pytest.fixture
def qbo(store: StateStore) -> Iterator[tuple[QuickBooksSandbox, FaultProxy, Harness]]:
    with QuickBooksSandbox(seed="large", records=120) as erp, FaultProxy(erp.base_url) as proxy:
        settings = {
            "base_url": proxy.base_url,
            "token_url": erp.token_url,
            "realm_id": erp.realm_id,
            "client_id": erp.client_id,
            "client_secret": erp.client_secret,
            "refresh_token": erp.issue_refresh_token(),
            "collection_status_field_id": "1",
            "page_size": 50,
            "batch_max": 5,
            "timeout": 1.0,
        }
        yield erp, proxy, Harness("quickbooks", settings, store, RemindEveryTenthInvoice())


def qbo_query(request: ProxiedRequest) -> bool:
    return request.path.split("?")[0].endswith("/query") and b"Invoice" in request.body


def qbo_batch(request: ProxiedRequest) -> bool:
    return request.path.split("?")[0].endswith("/batch")


def assert_quickbooks_synced_and_written_once(
    erp: QuickBooksSandbox, harness: Harness, report: CycleReport
) -> None:
    assert report.status == "ok", report.errors
    assert harness.store.count_records("quickbooks")["invoices"] == len(erp.db["Invoice"])
    outbox = harness.outbox()
    chosen = {i for i in erp.db["Invoice"] if int(i) % 10 == 0}
    assert {t for _, t, _ in outbox} == chosen and {s for _, _, s in outbox} == {"done"}
    applied = Counter(w["bId"] for w in erp.writes_log if w["applied"])
    assert sorted(applied[batch_id_for(key)] for key, _, _ in outbox) == [1] * len(chosen)
    assert {i for i in erp.db["Invoice"] if erp.db["Invoice"][i]["SyncToken"] != "0"} == chosen


def test_quickbooks_waits_as_long_as_a_429_retry_after_asks(
    qbo: tuple[QuickBooksSandbox, FaultProxy, Harness],
) -> None:
    erp, proxy, harness = qbo
    proxy.inject(Fault.answer(429, {"Retry-After": "2"}), when=qbo_query)
    report = harness.cycle()
    assert_quickbooks_synced_and_written_once(erp, harness, report)
    [throttled] = [i for i, r in enumerate(proxy.requests) if r.fault is not None]
    waited = proxy.requests[throttled + 1].at - proxy.requests[throttled].at
    assert 2.0 <= waited < 10.0


@pytest.mark.parametrize("fault", BROKEN_ANSWERS.values(), ids=BROKEN_ANSWERS.keys())
@pytest.mark.parametrize("where", ["read", "write"])
def test_quickbooks_rides_out_a_broken_answer_and_applies_each_write_once(
    qbo: tuple[QuickBooksSandbox, FaultProxy, Harness], fault: Fault, where: str
) -> None:
    erp, proxy, harness = qbo
    proxy.inject(fault, when=qbo_query if where == "read" else qbo_batch)
    report = harness.cycle()
    assert proxy.pending == 0, "the fault never happened"
    assert report.retries >= 1
    assert_quickbooks_synced_and_written_once(erp, harness, report)


@pytest.mark.parametrize("why", ["api answers 401", "app disconnected"])
def test_quickbooks_401_pauses_the_connection_with_one_alert_and_no_more_calls(
    qbo: tuple[QuickBooksSandbox, FaultProxy, Harness], caplog: pytest.LogCaptureFixture, why: str
) -> None:
    erp, proxy, harness = qbo
    if why == "api answers 401":
        proxy.inject(*[Fault.answer(401)] * 50)
    else:
        erp.revoke_tokens()  # the refresh token dies with the access token
    caplog.set_level(logging.INFO)
    reports = [harness.cycle() for _ in range(3)]
    assert [r.status for r in reports] == ["needs_reauth"] * 3
    # A refused call is tried once more with a fresh access token; a dead refresh token stops
    # before any call. Then nothing until an admin re-authorizes.
    assert len(proxy.requests) == (2 if why == "api answers 401" else 0)
    assert sum("/oauth2/" in r["path"] for r in erp.requests_log) <= 2  # no refresh loop either
    assert harness.engine_waits == []
    assert harness.store.connection_health("quickbooks")["needs_reauth"] is True
    alerts = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(alerts) == 1 and "re-authori" in alerts[0].getMessage()


# --- NetSuite --------------------------------------------------------------------------------------


@pytest.fixture
def netsuite(store: StateStore) -> Iterator[tuple[NetSuiteSandbox, FaultProxy, Harness]]:
    with NetSuiteSandbox(seed="demo") as erp, FaultProxy(erp.base_url) as proxy:
        settings = {
            "account": erp.account,
            "consumer_key": erp.consumer_key,
            "consumer_secret": erp.consumer_secret,
            "token_id": erp.token_id,
            "token_secret": erp.token_secret,
            "wsdl_url": erp.wsdl_url,
            "endpoint": proxy.url(erp.url),
            "timeout_seconds": 1.0,
        }
        yield erp, proxy, Harness("netsuite", settings, store, PayFiveOpenInvoices())


def soap(operation: str) -> Callable[[ProxiedRequest], bool]:
    return lambda request: request.headers.get("SOAPAction", "").strip('"') == operation


def assert_netsuite_synced_and_paid_once(
    erp: NetSuiteSandbox, harness: Harness, report: CycleReport, open_before: dict[str, Decimal]
) -> None:
    assert report.status == "ok", report.errors
    assert harness.store.count_records("netsuite")["invoices"] == len(erp.ids("invoice"))
    outbox = harness.outbox()
    assert len(outbox) == 5 and {s for _, _, s in outbox} == {"done"}
    ours = {external_id_for(key) for key, _, _ in outbox}
    created = Counter(w.external_id for w in erp.writes_log if w.created)
    assert sorted(created[x] for x in ours) == [1] * 5
    changed = {
        i: before - erp.book.money(erp.record("invoice", i), "invoice", "amountRemaining")
        for i, before in open_before.items()
    }
    assert sorted(v for v in changed.values() if v) == [Decimal("10.00")] * 5


def open_amounts(erp: NetSuiteSandbox) -> dict[str, Decimal]:
    return {
        i: erp.book.money(erp.record("invoice", i), "invoice", "amountRemaining") for i in erp.ids("invoice")
    }


def test_netsuite_waits_as_long_as_a_429_retry_after_asks(
    netsuite: tuple[NetSuiteSandbox, FaultProxy, Harness],
) -> None:
    erp, proxy, harness = netsuite
    before = open_amounts(erp)
    proxy.inject(Fault.answer(429, {"Retry-After": "2"}), when=soap("search"))
    report = harness.cycle()
    assert_netsuite_synced_and_paid_once(erp, harness, report, before)
    [throttled] = [i for i, r in enumerate(proxy.requests) if r.fault is not None]
    waited = proxy.requests[throttled + 1].at - proxy.requests[throttled].at
    assert 2.0 <= waited < 10.0


@pytest.mark.parametrize("fault", BROKEN_ANSWERS.values(), ids=BROKEN_ANSWERS.keys())
@pytest.mark.parametrize("where", ["read", "write"])
def test_netsuite_rides_out_a_broken_answer_and_creates_each_payment_once(
    netsuite: tuple[NetSuiteSandbox, FaultProxy, Harness], fault: Fault, where: str
) -> None:
    erp, proxy, harness = netsuite
    before = open_amounts(erp)
    proxy.inject(fault, when=soap("search" if where == "read" else "upsertList"))
    report = harness.cycle()
    assert proxy.pending == 0, "the fault never happened"
    assert_netsuite_synced_and_paid_once(erp, harness, report, before)
    if where == "write" and fault.kind != "html":
        # The payments were created before the answer broke: the retry found them by externalId.
        assert [w.created for w in erp.writes_log].count(True) == 5


def test_netsuite_401_pauses_the_connection_with_one_alert_and_no_more_calls(
    netsuite: tuple[NetSuiteSandbox, FaultProxy, Harness], caplog: pytest.LogCaptureFixture
) -> None:
    _, proxy, harness = netsuite
    proxy.inject(*[Fault.answer(401)] * 50)
    caplog.set_level(logging.INFO)
    reports = [harness.cycle() for _ in range(3)]
    assert [r.status for r in reports] == ["needs_reauth"] * 3
    assert len(proxy.requests) == 1
    assert harness.store.connection_health("netsuite")["needs_reauth"] is True
    alerts = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(alerts) == 1 and "re-authori" in alerts[0].getMessage()
