"""Signed change notifications, posted to the app's webhook URL the way Intuit sends them.

Events that happen close together are sent in one notification, like Intuit does. Two body
formats: the legacy ``eventNotifications`` object and the CloudEvents array
(``samples/intuit-webhooks/cloudevents-webhook-sample.json``). The ``intuit-signature`` header is
base64(HMAC-SHA256(verifier token, body)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

CLOUDEVENT_OPERATIONS = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Void": "voided",
    "Merge": "merged",
    "Emailed": "emailed",
}


def sign(verifier_token: str, body: bytes) -> str:
    """The ``intuit-signature`` header value for a body."""
    digest = hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Event:
    """One entity change."""

    entity: str
    ident: str
    operation: str
    last_updated: str


@dataclass
class Delivery:
    """One notification as sent, for tests and the admin API."""

    body: bytes
    headers: dict[str, str]
    status: int | None
    events: list[Event] = field(default_factory=list)


def legacy_body(realm_id: str, events: list[Event]) -> dict[str, Any]:
    """The ``eventNotifications`` body."""
    return {
        "eventNotifications": [
            {
                "realmId": realm_id,
                "dataChangeEvent": {
                    "entities": [
                        {
                            "name": e.entity,
                            "id": e.ident,
                            "operation": e.operation,
                            "lastUpdated": e.last_updated,
                        }
                        for e in events
                    ]
                },
            }
        ]
    }


def cloudevents_body(realm_id: str, events: list[Event]) -> list[dict[str, Any]]:
    """The CloudEvents array body (``qbo.<entity>.<operation>.v1``)."""
    out = []
    for e in events:
        stamp = datetime.fromisoformat(e.last_updated).astimezone(UTC)
        verb = CLOUDEVENT_OPERATIONS.get(e.operation, e.operation.lower())
        out.append(
            {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": f"intuit.sandbox.{realm_id}",
                "type": f"qbo.{e.entity.lower()}.{verb}.v1",
                "datacontenttype": "application/json",
                "time": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
                "intuitentityid": e.ident,
                "intuitaccountid": realm_id,
                "data": {},
            }
        )
    return out


class WebhookSender:
    """Collects change events and posts them from a background thread.

    Args:
        url: where to post.
        verifier_token: the app's webhook verifier token (the HMAC key).
        realm_id: the company the events belong to.
        body_format: ``"legacy"`` or ``"cloudevents"``.
        batch_window: seconds to wait for more events before sending.
        retries: extra attempts after a failed delivery (Intuit retries for hours; tests need it short).
    """

    def __init__(
        self,
        url: str,
        verifier_token: str,
        realm_id: str,
        body_format: str = "legacy",
        batch_window: float = 0.05,
        retries: int = 2,
    ) -> None:
        if body_format not in ("legacy", "cloudevents"):
            raise ValueError(f"webhook format must be 'legacy' or 'cloudevents', not {body_format!r}")
        self.url = url
        self.verifier_token = verifier_token
        self.realm_id = realm_id
        self.body_format = body_format
        self.batch_window = batch_window
        self.retries = retries
        self.deliveries: list[Delivery] = []
        self._queue: queue.Queue[Event | None] = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="qbo-sandbox-webhooks", daemon=True)
        self._thread.start()

    def __call__(self, entity: str, ident: str, operation: str, last_updated: str) -> None:
        self._idle.clear()
        self._queue.put(Event(entity, ident, operation, last_updated))

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            events = [first]
            stop = False
            while True:
                try:
                    nxt = self._queue.get(timeout=self.batch_window)
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                events.append(nxt)
            self._deliver(events)
            if self._queue.empty():
                self._idle.set()
            if stop:
                return

    def _deliver(self, events: list[Event]) -> None:
        payload: Any = (
            legacy_body(self.realm_id, events)
            if self.body_format == "legacy"
            else cloudevents_body(self.realm_id, events)
        )
        body = json.dumps(payload, separators=(",", ":")).encode()
        content_type = (
            "application/json" if self.body_format == "legacy" else "application/cloudevents-batch+json"
        )
        headers = {
            "Content-Type": content_type,
            "intuit-signature": sign(self.verifier_token, body),
            "intuit-t-id": str(uuid.uuid4()),
        }
        status: int | None = None
        for _ in range(self.retries + 1):
            try:
                status = requests.post(self.url, data=body, headers=headers, timeout=3).status_code
            except requests.RequestException:
                status = None
            if status is not None and status < 300:
                break
        self.deliveries.append(Delivery(body, headers, status, events))

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every queued event has been delivered (or given up on)."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Send what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=5)
