"""BC's webhook subscriptions: the validationToken handshake, three-day expiry, and notifications.

A subscription names a resource (an entity-set URL of a company). Changes are collected for
``delay`` seconds (BC: 30), then posted as ``{"value": [...]}``; more than ``collection_after``
changes for one subscription become a single ``collection`` notification ("read it all"). A 2xx
answer is a delivery; 408, 429 and 5xx are retried; any other answer deletes the subscription, as
BC does.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests

from sandboxes.business_central.errors import BcError, bad_request
from sandboxes.business_central.wire import format_datetime

LIFETIME = timedelta(days=3)
RETRYABLE = {408, 429} | set(range(500, 600))


@dataclass
class Subscription:
    subscription_id: str
    notification_url: str
    resource: str
    client_state: str
    expires: datetime
    created: datetime
    modified: datetime
    user_id: str
    version: int = 1

    def as_record(self) -> dict[str, Any]:
        return {
            "subscriptionId": self.subscription_id,
            "notificationUrl": self.notification_url,
            "resource": self.resource,
            "timestamp": self.version,
            "userId": self.user_id,
            "lastModifiedDateTime": self.modified,
            "clientState": self.client_state,
            "expirationDateTime": self.expires,
            "systemCreatedAt": self.created,
            "systemCreatedBy": self.user_id,
            "systemModifiedAt": self.modified,
            "systemModifiedBy": self.user_id,
            "_version": self.version,
        }


@dataclass
class Delivery:
    url: str
    body: dict[str, Any]
    status: int | None


@dataclass
class Webhooks:
    """Subscriptions of one sandbox and the thread that delivers their notifications."""

    clock: Callable[[], datetime]
    delay: float = 30.0
    collection_after: int = 1000
    attempts: int = 3
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    _pending: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stopped: bool = False
    _thread: threading.Thread | None = None
    _busy: int = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bc-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ----------------------------------------------------------------- subscriptions

    @staticmethod
    def handshake(url: str) -> None:
        """Call the notification URL with a validationToken; it must answer 200 echoing the token."""
        token = uuid.uuid4().hex
        try:
            answer = requests.post(url, params={"validationToken": token}, timeout=10)
        except requests.RequestException as exc:
            raise bad_request(f"The subscription could not be validated: {type(exc).__name__}") from None
        if answer.status_code != 200 or token not in answer.text:
            raise bad_request(
                "The subscription could not be validated: the notification URL answered "
                f"{answer.status_code} "
                "without the validationToken."
            )

    def create(self, url: str, resource: str, client_state: str, user_id: str) -> Subscription:
        self.handshake(url)
        now = self.clock()
        sub = Subscription(uuid.uuid4().hex, url, resource, client_state, now + LIFETIME, now, now, user_id)
        with self._lock:
            self.subscriptions[sub.subscription_id] = sub
        return sub

    def live(self, subscription_id: str) -> Subscription:
        with self._lock:
            sub = self.subscriptions.get(subscription_id)
        if sub is None or sub.expires <= self.clock():
            raise BcError(
                404, "Internal_RecordNotFound", f"The subscription {subscription_id} does not exist."
            )
        return sub

    def renew(self, sub: Subscription, changes: dict[str, Any]) -> Subscription:
        if "notificationUrl" in changes:
            sub.notification_url = changes["notificationUrl"]
        if "clientState" in changes:
            sub.client_state = changes["clientState"] or ""
        self.handshake(sub.notification_url)
        now = self.clock()
        sub.expires, sub.modified, sub.version = now + LIFETIME, now, sub.version + 1
        return sub

    def delete(self, subscription_id: str) -> None:
        with self._lock:
            self.subscriptions.pop(subscription_id, None)
            self._pending.pop(subscription_id, None)

    def listing(self) -> list[Subscription]:
        now = self.clock()
        with self._lock:
            return [s for s in self.subscriptions.values() if s.expires > now]

    # ----------------------------------------------------------------- notifications

    def changed(self, resource_prefix: str, entity_url: str, change: str) -> None:
        """Queue a notification for every live subscription whose resource covers the change."""
        now = self.clock()
        with self._lock:
            for sub in self.subscriptions.values():
                if sub.expires > now and sub.resource.lower() == resource_prefix.lower():
                    self._pending.setdefault(sub.subscription_id, []).append(
                        {
                            "resource": entity_url,
                            "changeType": change,
                            "lastModifiedDateTime": format_datetime(now),
                        }
                    )
        self._wake.set()

    def idle(self, timeout: float = 5.0) -> bool:
        """Wait until every queued notification was delivered (or given up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending and not self._busy:
                    return True
            self._wake.set()
            time.sleep(0.02)
        return False

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            if self._stopped:
                return
            time.sleep(self.delay)
            with self._lock:
                batch, self._pending = self._pending, {}
                self._busy += 1
            try:
                for sub_id, changes in batch.items():
                    sub = self.subscriptions.get(sub_id)
                    if sub is not None:
                        self._deliver(sub, changes)
            finally:
                with self._lock:
                    self._busy -= 1

    def _deliver(self, sub: Subscription, changes: list[dict[str, Any]]) -> None:
        common = {
            "subscriptionId": sub.subscription_id,
            "clientState": sub.client_state,
            "expirationDateTime": format_datetime(sub.expires),
        }
        if len(changes) > self.collection_after:
            changes = [
                {
                    "resource": sub.resource,
                    "changeType": "collection",
                    "lastModifiedDateTime": changes[-1]["lastModifiedDateTime"],
                }
            ]
        body = {"value": [{**common, **c} for c in changes]}
        for attempt in range(self.attempts):
            try:
                status: int | None = requests.post(sub.notification_url, json=body, timeout=10).status_code
            except requests.RequestException:
                status = None
            self.deliveries.append(Delivery(sub.notification_url, body, status))
            if status is not None and 200 <= status < 300:
                return
            if status is not None and status not in RETRYABLE:
                self.delete(sub.subscription_id)
                return
            time.sleep(min(0.2 * (attempt + 1), 1.0))
