"""QuickBooks webhooks: only correctly signed, first-seen calls schedule a pull, and the reply is fast."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import requests

from connectors.quickbooks.webhooks import sign
from service.http import OpsServer

from .conftest import REALM, VERIFIER


def body(realm: str = REALM) -> bytes:
    return json.dumps(
        {
            "eventNotifications": [
                {
                    "realmId": realm,
                    "dataChangeEvent": {
                        "entities": [
                            {
                                "name": "Customer",
                                "id": "58",
                                "operation": "Update",
                                "lastUpdated": "2026-11-02T10:00:00Z",
                            },
                            {
                                "name": "Invoice",
                                "id": "130",
                                "operation": "Create",
                                "lastUpdated": "2026-11-02T10:00:01Z",
                            },
                        ]
                    },
                },
                {
                    "realmId": "another-company",
                    "dataChangeEvent": {"entities": [{"name": "Invoice", "id": "7", "operation": "Delete"}]},
                },
            ]
        }
    ).encode()


def post(
    server: OpsServer, data: bytes, signature: str | None, connection: str = "acme-qbo"
) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["intuit-signature"] = signature
    return requests.post(
        f"{server.url}/webhooks/quickbooks/{connection}", data=data, headers=headers, timeout=5
    )


def test_webhook_with_a_wrong_signature_is_rejected(make_server: Callable[..., OpsServer]) -> None:
    calls: list[object] = []
    server = make_server(on_webhook=lambda c, n: calls.append((c, n)))
    data = body()

    missing = post(server, data, None)
    wrong_key = post(server, data, sign(data, "not-the-verifier"))
    tampered = post(server, data.replace(b"130", b"131"), sign(data, VERIFIER))
    server.stop()

    assert (missing.status_code, wrong_key.status_code, tampered.status_code) == (401, 401, 401)
    assert calls == []


def test_a_replayed_webhook_is_rejected(make_server: Callable[..., OpsServer]) -> None:
    calls: list[object] = []
    server = make_server(on_webhook=lambda c, n: calls.append((c, n)))
    data = body()

    first = post(server, data, sign(data, VERIFIER))
    replay = post(server, data, sign(data, VERIFIER))
    server.stop()  # drains the worker

    assert first.status_code == 200
    assert replay.status_code == 409
    assert len(calls) == 1


def test_signed_webhook_schedules_a_pull_for_the_named_entities(
    make_server: Callable[..., OpsServer],
) -> None:
    scheduled: list[tuple[str, list[tuple[str, str, str]]]] = []
    release = threading.Event()
    done = threading.Event()

    def on_webhook(connection: str, changes: list[tuple[str, str, str]]) -> None:
        release.wait(10)  # a slow scheduler must not hold up the reply
        scheduled.append((connection, changes))
        done.set()

    server = make_server(on_webhook=on_webhook)
    data = body()
    started = time.monotonic()
    answer = post(server, data, sign(data, VERIFIER))
    elapsed = time.monotonic() - started
    release.set()

    assert answer.status_code == 200
    assert elapsed < 3.0
    assert done.wait(5)
    # Only this connection's company; the other realm's change belongs to another connection.
    assert scheduled == [("acme-qbo", [("Customer", "58", "Update"), ("Invoice", "130", "Create")])]


def test_webhooks_for_unknown_or_non_quickbooks_connections_are_not_found(
    make_server: Callable[..., OpsServer],
) -> None:
    server = make_server()
    data = body()
    assert post(server, data, sign(data, VERIFIER), connection="nobody").status_code == 404
    assert post(server, data, sign(data, VERIFIER), connection="beta-csv").status_code == 404
