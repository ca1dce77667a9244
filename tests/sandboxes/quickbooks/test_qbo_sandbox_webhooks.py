"""Webhooks: signed notifications in the legacy and the CloudEvents format."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from qbo_sandbox_support import Api, FakeClock

from sandboxes.quickbooks import QuickBooksSandbox

TOKEN = "verifier-7f3a"


class Receiver:
    """An app's webhook endpoint that keeps what it was sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.calls.append((body, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/qbo"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


def _expected_signature(body: bytes) -> str:
    return base64.b64encode(hmac.new(TOKEN.encode(), body, hashlib.sha256).digest()).decode()


def test_touch_sends_a_signed_legacy_notification(receiver: Receiver, clock: FakeClock) -> None:
    with QuickBooksSandbox(clock=clock, webhook_url=receiver.url, webhook_verifier_token=TOKEN) as sandbox:
        sandbox.touch("Customer", "3")
        assert sandbox.wait_for_webhooks()
    body, headers = receiver.calls[0]
    assert headers["intuit-signature"] == _expected_signature(body)
    notification = json.loads(body)["eventNotifications"][0]
    assert notification["realmId"] == sandbox.realm_id
    entity = notification["dataChangeEvent"]["entities"][0]
    assert (entity["name"], entity["id"], entity["operation"]) == ("Customer", "3", "Update")
    assert entity["lastUpdated"]


def test_signature_verifies_with_python_quickbooks(receiver: Receiver, clock: FakeClock) -> None:
    from quickbooks import QuickBooks

    with QuickBooksSandbox(clock=clock, webhook_url=receiver.url, webhook_verifier_token=TOKEN) as sandbox:
        sandbox.touch("Invoice", next(iter(sandbox.db["Invoice"])))
        assert sandbox.wait_for_webhooks()
    body, headers = receiver.calls[0]
    client = QuickBooks(minorversion=75)
    assert client.validate_webhook_signature(body.decode(), headers["intuit-signature"], TOKEN)
    assert not client.validate_webhook_signature(body.decode(), headers["intuit-signature"], "wrong-token")


def test_api_writes_are_notified_with_their_operation(receiver: Receiver, clock: FakeClock) -> None:
    with QuickBooksSandbox(clock=clock, webhook_url=receiver.url, webhook_verifier_token=TOKEN) as sandbox:
        api = Api(sandbox)
        created = api.post("Customer", {"DisplayName": "Hooked Inc"}).json()["Customer"]
        assert sandbox.wait_for_webhooks()
    events = [
        e
        for body, _ in receiver.calls
        for e in json.loads(body)["eventNotifications"][0]["dataChangeEvent"]["entities"]
    ]
    assert {
        "name": "Customer",
        "id": created["Id"],
        "operation": "Create",
        "lastUpdated": created["MetaData"]["LastUpdatedTime"],
    } in events


def test_cloudevents_format_follows_intuits_sample(
    receiver: Receiver, clock: FakeClock, specs_dir: Any
) -> None:
    sample = json.loads(
        (specs_dir / "quickbooks/samples/intuit-webhooks/cloudevents-webhook-sample.json").read_text()
    )
    with QuickBooksSandbox(
        clock=clock, webhook_url=receiver.url, webhook_verifier_token=TOKEN, webhook_format="cloudevents"
    ) as sandbox:
        sandbox.touch("Customer", "4")
        assert sandbox.wait_for_webhooks()
    body, headers = receiver.calls[0]
    assert headers["intuit-signature"] == _expected_signature(body)
    events = json.loads(body)
    assert isinstance(events, list)
    assert set(events[0]) == set(sample[0])
    assert events[0]["type"] == "qbo.customer.updated.v1"
    assert events[0]["intuitentityid"] == "4"
    assert events[0]["intuitaccountid"] == sandbox.realm_id
