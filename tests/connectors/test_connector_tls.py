"""ERP calls verify TLS: a certificate from an unknown CA stops the sync with a clear error at once;
the connection's ``ca_bundle`` makes that CA trusted, whatever ``REQUESTS_CA_BUNDLE`` says.

The ERP sandboxes sit behind an HTTPS proxy on loopback whose certificate comes from a CA made
for the test, so both the API calls and the OAuth token endpoint (QuickBooks) or the WSDL
(NetSuite) go through TLS.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest
import trustme

from connectors.base import ConnectorContext
from connectors.registry import discover
from engine import CycleReport, DecisionContext, SyncEngine, SyncOptions
from mapping import CollectionStatus, CollectionStatusUpdate, Operation, Stream, TargetType
from sandboxes.fault_proxy import FaultProxy
from sandboxes.netsuite import NetSuiteSandbox
from sandboxes.quickbooks.server import QuickBooksSandbox
from store import StateStore

Settings = dict[str, Any]


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
                )


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="arbridge test CA")


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "corporate-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    yield s
    s.close()


def cycle(store: StateStore, kind: str, settings: dict[str, Any], waits: list[float]) -> CycleReport:
    context = ConnectorContext(kind, state=store.connector_state(kind))
    connector = discover().get(kind).create(settings, context)
    options = SyncOptions(deciders=[RemindEveryTenthInvoice()], sleep=waits.append)
    with connector:
        return SyncEngine(store, connector, kind, options).run_cycle()


@pytest.fixture
def qbo_over_tls(server_tls: ssl.SSLContext) -> Iterator[tuple[QuickBooksSandbox, FaultProxy, Settings]]:
    with (
        QuickBooksSandbox(seed="large", records=40) as erp,
        FaultProxy(erp.base_url, tls=server_tls) as https,
    ):
        settings = {
            "base_url": https.base_url,
            "token_url": https.url(erp.token_url),
            "realm_id": erp.realm_id,
            "client_id": erp.client_id,
            "client_secret": erp.client_secret,
            "refresh_token": erp.issue_refresh_token(),
            "collection_status_field_id": "1",
        }
        yield erp, https, settings


def test_quickbooks_refuses_a_certificate_from_an_unknown_ca_with_a_clear_error_and_no_retries(
    qbo_over_tls: tuple[QuickBooksSandbox, FaultProxy, Settings], store: StateStore
) -> None:
    erp, https, settings = qbo_over_tls
    waits: list[float] = []
    report = cycle(store, "quickbooks", settings, waits)
    assert report.status == "failed"
    [error] = report.errors
    assert "TLS certificate of 127.0.0.1" in error and "not trusted" in error and "ca_bundle" in error
    assert waits == [] and https.connections == 1 and https.requests == []
    assert erp.requests_log == []  # not even the token endpoint was reached


def test_quickbooks_trusts_the_connections_ca_bundle_for_api_and_token_calls(
    qbo_over_tls: tuple[QuickBooksSandbox, FaultProxy, Settings],
    store: StateStore,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, https, settings = qbo_over_tls
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # a system-wide bundle without our CA
    report = cycle(store, "quickbooks", {**settings, "ca_bundle": ca_file}, [])
    assert report.status == "ok", report.errors
    assert store.count_records("quickbooks")["invoices"] == 40 and report.written["ok"] == 4
    assert any("/oauth2/" in r.path for r in https.requests)  # the token endpoint went over TLS too


@pytest.fixture
def netsuite_over_tls(server_tls: ssl.SSLContext) -> Iterator[tuple[NetSuiteSandbox, FaultProxy, Settings]]:
    with NetSuiteSandbox(seed="demo") as erp, FaultProxy(erp.base_url, tls=server_tls) as https:
        settings = {
            "account": erp.account,
            "consumer_key": erp.consumer_key,
            "consumer_secret": erp.consumer_secret,
            "token_id": erp.token_id,
            "token_secret": erp.token_secret,
            "wsdl_url": https.url(erp.wsdl_url),
            "endpoint": https.url(erp.url),
        }
        yield erp, https, settings


def test_netsuite_refuses_a_certificate_from_an_unknown_ca_with_a_clear_error_and_no_retries(
    netsuite_over_tls: tuple[NetSuiteSandbox, FaultProxy, Settings], store: StateStore
) -> None:
    erp, https, settings = netsuite_over_tls
    waits: list[float] = []
    report = cycle(store, "netsuite", settings, waits)
    assert report.status == "failed"
    [error] = report.errors
    assert "TLS certificate of 127.0.0.1" in error and "not trusted" in error and "ca_bundle" in error
    assert waits == [] and https.connections == 1 and https.requests == []
    assert erp.requests_log == []


def test_netsuite_trusts_the_connections_ca_bundle_for_the_wsdl_and_soap_calls(
    netsuite_over_tls: tuple[NetSuiteSandbox, FaultProxy, Settings],
    store: StateStore,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    erp, https, settings = netsuite_over_tls
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    report = cycle(store, "netsuite", {**settings, "ca_bundle": ca_file}, [])
    assert report.status == "ok", report.errors
    assert store.count_records("netsuite")["invoices"] == len(erp.ids("invoice"))
    assert any(r.path.endswith(".wsdl") for r in https.requests) and any(
        r.method == "POST" for r in https.requests
    )
