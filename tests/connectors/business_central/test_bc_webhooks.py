"""Business Central webhooks end to end: the sandbox subscribes the daemon's route, notifies it, and
the daemon's receiver believes only notifications carrying the connection's clientState."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from config import parse_config
from connectors.base import ConnectorContext, MemoryKeyValueStore
from connectors.business_central import BusinessCentralConnector
from mapping.models import Stream
from sandboxes.business_central import BusinessCentralSandbox
from service.http import Health, OpsServer
from store import StateStore
from tests.connectors.business_central.bc_target import onprem_settings

CLIENT_STATE = "bc-client-state-for-tests-5d1e"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Clock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Rig:
    bc: BusinessCentralSandbox
    daemon: OpsServer
    url: str
    clock: _Clock
    calls: list[tuple[str, list[tuple[str, str, str]]]]
    arrived: threading.Event
    state: MemoryKeyValueStore

    def connector(self) -> BusinessCentralConnector:
        settings = onprem_settings(self.bc, notification_url=self.url, client_state=CLIENT_STATE)
        made = BusinessCentralConnector(
            BusinessCentralConnector.settings_model.model_validate(settings),
            ConnectorContext("cronus", state=self.state),
            clock=self.clock,
        )
        return made

    def wait_for_call(self) -> list[tuple[str, str, str]]:
        assert self.arrived.wait(10), "no notification reached the daemon"
        self.arrived.clear()
        return self.calls[-1][1]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    clock = _Clock()
    bind = f"127.0.0.1:{_free_port()}"
    url = f"http://{bind}/webhooks/business_central/cronus"
    with BusinessCentralSandbox(seed="demo", clock=clock, notification_delay=0) as bc:
        config = parse_config(
            {
                "version": 1,
                "store": {"url": f"sqlite:///{tmp_path / 'state.sqlite'}"},
                "server": {"bind": bind},
                "connections": [
                    {
                        "name": "cronus",
                        "connector": "business_central",
                        "settings": onprem_settings(
                            bc,
                            web_service_key="${BC_KEY}",
                            notification_url=url,
                            client_state="${BC_CLIENT_STATE}",
                        ),
                    }
                ],
            },
            base_dir=tmp_path,
            environ={"BC_KEY": bc.web_service_key, "BC_CLIENT_STATE": CLIENT_STATE},
        )
        store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
        calls: list[tuple[str, list[tuple[str, str, str]]]] = []
        arrived = threading.Event()

        def on_webhook(connection: str, changes: list[tuple[str, str, str]]) -> None:
            calls.append((connection, changes))
            arrived.set()

        daemon = OpsServer(config, store, health=Health(), on_webhook=on_webhook)
        daemon.start()
        try:
            yield Rig(bc, daemon, url, clock, calls, arrived, MemoryKeyValueStore())
        finally:
            daemon.stop()
            store.close()


def test_the_first_pull_subscribes_the_daemon_and_a_changed_customer_schedules_a_pull(rig: Rig) -> None:
    conn = rig.connector()
    customers = [r for p in conn.read(Stream.CUSTOMERS, None) for r in p.records]
    assert customers
    # BC called the daemon's route with a validationToken and got it back: two live subscriptions.
    subs = rig.bc.webhooks.listing()
    assert sorted(s.resource.rsplit("/", 1)[-1] for s in subs) == ["customerLedgerEntries", "customers"]
    assert {s.notification_url for s in subs} == {rig.url}
    assert not rig.calls  # a handshake schedules no pull

    target = sorted(rig.bc.company.customers)[0]
    rig.bc.touch("customers", target)
    assert rig.wait_for_call() == [("customers", target, "updated")]
    assert rig.calls[-1][0] == "cronus"

    # A later pull of the same connection costs no subscription call while they live long enough.
    before = len(rig.bc.requests_log)
    list(rig.connector().read(Stream.CUSTOMERS, None))
    assert not [r for r in rig.bc.requests_log[before:] if "subscriptions" in r["path"]]


def test_subscriptions_are_renewed_before_their_three_days_run_out(rig: Rig) -> None:
    list(rig.connector().read(Stream.INVOICES, None))
    first = {s.subscription_id: s.expires for s in rig.bc.webhooks.listing()}
    assert len(first) == 2

    rig.clock.offset = timedelta(days=2)  # one day of three left: time to renew
    list(rig.connector().read(Stream.INVOICES, None))
    renewed = {s.subscription_id: s.expires for s in rig.bc.webhooks.listing()}
    assert renewed.keys() == first.keys()  # the same subscriptions, not new ones
    assert all(renewed[k] - first[k] >= timedelta(days=2) - timedelta(minutes=1) for k in first)
    patches = [r for r in rig.bc.requests_log if "subscriptions(" in r["path"] and r["method"] == "PATCH"]
    assert len(patches) == 2 and {r["status"] for r in patches} == {200}

    # Without renewal BC forgets them after three days; the next pull subscribes again.
    rig.clock.offset = timedelta(days=6)
    assert rig.bc.webhooks.listing() == []
    list(rig.connector().read(Stream.INVOICES, None))
    assert len(rig.bc.webhooks.listing()) == 2


def test_many_changes_arrive_as_one_collection_notification_that_names_the_entity_set(rig: Rig) -> None:
    list(rig.connector().read(Stream.INVOICES, None))
    rig.bc.webhooks.collection_after = 3
    invoices = sorted(e["id"] for e in rig.bc.company.entries.values() if e["documentType"] == "Invoice")[:5]
    for ident in invoices:
        rig.bc.touch("customerLedgerEntries", ident)
    assert rig.wait_for_call() == [("customerLedgerEntries", "", "collection")]


def test_a_notification_without_the_connection_client_state_is_refused_and_pulls_nothing(rig: Rig) -> None:
    body = {
        "value": [
            {
                "subscriptionId": "x",
                "clientState": "guessed",
                "expirationDateTime": "2026-12-08T00:00:00Z",
                "resource": f"api/v2.0/companies({rig.bc.company.id})/customers(1)",
                "changeType": "deleted",
                "lastModifiedDateTime": "2026-12-05T00:00:00Z",
            }
        ]
    }
    echoed = requests.post(rig.url, params={"validationToken": "tok-3f9"}, timeout=5)
    assert (echoed.status_code, echoed.text) == (200, "tok-3f9")
    refused = requests.post(rig.url, data=json.dumps(body), timeout=5)
    assert refused.status_code == 401
    unreadable = requests.post(rig.url, data=b"{not json", timeout=5)
    assert unreadable.status_code == 400
    body["value"][0]["clientState"] = CLIENT_STATE
    accepted = requests.post(rig.url, data=json.dumps(body), timeout=5)
    assert accepted.status_code == 200
    assert rig.wait_for_call() == [("customers", "1", "deleted")]
    time.sleep(0.1)
    assert len(rig.calls) == 1


def test_check_subscribes_and_says_until_when_or_why_not(rig: Rig) -> None:
    result = rig.connector().check()
    assert result.ok and "webhooks subscribed until" in result.message
    assert set(result.details["webhooks"]) == {"customers", "customerLedgerEntries"}

    rig.daemon.stop()  # BC's handshake cannot reach the daemon: the admin is told so
    unreachable = BusinessCentralConnector(
        BusinessCentralConnector.settings_model.model_validate(
            onprem_settings(rig.bc, notification_url=rig.url + "-moved", client_state=CLIENT_STATE)
        ),
        ConnectorContext("cronus", state=MemoryKeyValueStore()),
    ).check()
    assert unreachable.ok and "webhooks not subscribed" in unreachable.message
    assert "could not be validated" in unreachable.message
