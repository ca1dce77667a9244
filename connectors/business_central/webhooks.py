"""Business Central webhooks: the subscriptions the connector keeps, and the daemon's receiver.

Subscribing
    BC notifies a ``notificationUrl`` about changes to one entity set of one company (a
    subscription's ``resource``). A subscription lives three days; renewing it is a PATCH (with
    ``If-Match``), and BC calls the URL with a ``validationToken`` on creation and on every
    renewal, which must be echoed within 5 seconds. ``Subscriptions.keep`` runs at the start of a
    pull: it creates what is missing and renews what expires within ``RENEW_BEFORE``, and costs
    no call at all while every subscription is known to live long enough.

Receiving
    ``BusinessCentralWebhooks`` is registered in the entry-point group ``arbridge.webhooks`` under
    ``business_central``. It echoes the ``validationToken``; otherwise it believes a notification
    only if its ``clientState`` is the connection's secret, and names what changed: the entity set
    and the record id, or, for a ``collection`` notification (BC's "too many changes, read it
    all"), the entity set alone. The daemon then pulls; BC sends nothing for a change it loses,
    so the scheduled incremental pull still runs.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.errors import ConnectorError
from connectors.odata import ODataClient
from connectors.webhooks import Change, WebhookAnswer, WebhookRequest

log = logging.getLogger("arbridge.connectors.business_central.webhooks")

LIFETIME = timedelta(days=3)
# Renewed when less than this is left: a daily pull renews each subscription at least once
# before it expires, with a day to spare for a pull that fails.
RENEW_BEFORE = timedelta(hours=36)
STATE_KEY = "business_central.subscriptions"
_RESOURCE = re.compile(r"/companies\((?P<company>[^)]*)\)/(?P<set>\w+)(?:\((?P<id>[^)]*)\))?/?$")


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class Subscriptions:
    """The webhook subscriptions of one connection, kept alive from its pulls.

    Args:
        client: the OData client of the API root (``…/api``).
        state: the connection's key-value state (what was subscribed, until when).
        notification_url: where BC sends notifications (the daemon's webhook route).
        client_state: the secret BC echoes in every notification.
        resources: the entity sets to subscribe to, as BC spells a ``resource``.
        clock: the current time, aware.
    """

    client: ODataClient
    state: Any
    notification_url: str
    client_state: str
    resources: list[str]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def _known(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state.get(STATE_KEY) or "{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) and data.get("url") == self.notification_url else {}

    def due(self) -> bool:
        """Whether a subscription is missing or expires within ``RENEW_BEFORE`` (as far as known)."""
        known = self._known().get("expires") or {}
        soon = self.clock() + RENEW_BEFORE
        return any(r not in known or _parse_time(known[r]) <= soon for r in self.resources)

    def keep(self) -> dict[str, datetime]:
        """Create the missing subscriptions and renew the expiring ones; their expiry by resource."""
        if not self.due():
            return {r: _parse_time(t) for r, t in (self._known().get("expires") or {}).items()}
        listed = self.client.json("GET", "v2.0/subscriptions").get("value") or []
        mine = {
            str(s.get("resource")).lower(): s
            for s in listed
            if isinstance(s, dict) and s.get("notificationUrl") == self.notification_url
        }
        soon = self.clock() + RENEW_BEFORE
        expires: dict[str, datetime] = {}
        for resource in self.resources:
            found = mine.get(resource.lower())
            if found is None:
                made = self.client.json(
                    "POST",
                    "v2.0/subscriptions",
                    json={
                        "notificationUrl": self.notification_url,
                        "resource": resource,
                        "clientState": self.client_state,
                    },
                )
                expires[resource] = _parse_time(made["expirationDateTime"])
                log.info("subscribed to Business Central notifications about %s", resource)
                continue
            until = _parse_time(found["expirationDateTime"])
            if until <= soon or found.get("clientState") != self.client_state:
                # A PATCH renews for three more days (BC repeats the handshake); the client state
                # is sent again in case the connection's secret changed.
                renewed = self.client.patch(
                    f"v2.0/subscriptions('{found['subscriptionId']}')",
                    {"clientState": self.client_state},
                    str(found.get("@odata.etag") or "*"),
                )
                until = _parse_time(renewed["expirationDateTime"])
                log.info("renewed the Business Central subscription to %s until %s", resource, until)
            expires[resource] = until
        self.state.put(
            STATE_KEY,
            json.dumps(
                {"url": self.notification_url, "expires": {r: t.isoformat() for r, t in expires.items()}}
            ),
        )
        return expires

    def keep_quietly(self) -> None:
        """``keep``, logging instead of failing: a pull must not stop because a subscription could not."""
        try:
            self.keep()
        except (ConnectorError, KeyError, ValueError, TypeError) as exc:
            log.warning("Business Central webhook subscriptions not kept (the pull goes on): %s", exc)


def change_of(notification: dict[str, Any]) -> Change:
    """What one notification names: the entity set, the record id ("" for a collection), the change."""
    resource = str(notification.get("resource") or "")
    match = _RESOURCE.search(resource)
    if match is None:
        raise ValueError(f"a notification about an unknown resource {resource[:200]!r}")
    change = str(notification.get("changeType") or "")
    if change not in ("created", "updated", "deleted", "collection"):
        raise ValueError(f"a notification with an unknown changeType {change[:40]!r}")
    record = "" if change == "collection" else (match["id"] or "").strip("'")
    return Change(match["set"], record, change)


class BusinessCentralWebhooks:
    """The daemon's receiver for Business Central notifications (``arbridge.webhooks: business_central``).

    A connection takes webhooks once its settings hold a ``client_state``; without one, its URL
    answers 404 like an unknown connection.
    """

    def receive(self, request: WebhookRequest, settings: Any) -> WebhookAnswer:
        """The handshake's token echoed; 401 for a wrong ``clientState``; 400 for an unreadable body."""
        secret = getattr(settings, "client_state", None)
        if request.method != "POST" or secret is None:
            return WebhookAnswer(404, "not found", outcome="unknown_connection")
        token = request.query.get("validationToken")
        if token is not None:
            # BC checks the echo, exactly (no line end added); the token proves nothing about the
            # caller, so nothing is pulled.
            return WebhookAnswer(200, token, outcome="handshake", content_type="text/plain")
        try:
            data = json.loads(request.body)
            notifications = data["value"]
            if not isinstance(notifications, list) or not all(isinstance(n, dict) for n in notifications):
                raise TypeError("'value' is not a list of notifications")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            log.warning("unreadable Business Central notification: %s", exc)
            return WebhookAnswer(400, "unreadable body", outcome="unreadable")
        expected = secret.get_secret_value().encode()
        for n in notifications:
            given = str(n.get("clientState") or "").encode()
            if not hmac.compare_digest(given, expected):
                return WebhookAnswer(401, "invalid clientState", outcome="bad_signature")
        try:
            changes = tuple(change_of(n) for n in notifications)
        except ValueError as exc:
            log.warning("unreadable Business Central notification: %s", exc)
            return WebhookAnswer(400, "unreadable body", outcome="unreadable")
        # No replay key: BC sends the same body again when an answer was lost, and a refusal
        # (409) would make it delete the subscription; a repeat costs one incremental pull.
        return WebhookAnswer(200, "ok", changes=changes)


__all__ = ["BusinessCentralWebhooks", "Subscriptions", "change_of"]
