"""Intuit webhooks: verify the signature, name what changed, and answer fast.

Intuit signs each call with ``intuit-signature``: base64 of HMAC-SHA256 over the raw body, keyed
with the app's verifier token. Two body formats exist: the legacy ``eventNotifications`` object
and the CloudEvents array (``type: "qbo.customer.created.v1"``). Intuit expects a 200 within 3
seconds and retries otherwise, so the receiver only verifies, parses and hands the entities to a
callback that schedules a CDC pull; the pull itself happens later, outside the request. Webhooks
can be missed or held back, so the daemon still runs a daily CDC per connection.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from connectors.webhooks import Change, WebhookAnswer, WebhookRequest
from mapping.models import Stream

log = logging.getLogger("arbridge.connectors.quickbooks.webhooks")

SIGNATURE_HEADER = "intuit-signature"

# CloudEvents spell entities in lower case; the legacy format uses Intuit's entity names.
_ENTITY_NAMES = {
    "customer": "Customer",
    "invoice": "Invoice",
    "creditmemo": "CreditMemo",
    "payment": "Payment",
}
_OPERATIONS = {
    "created": "Create",
    "updated": "Update",
    "deleted": "Delete",
    "merged": "Merge",
    "voided": "Void",
    "emailed": "Emailed",
}
STREAM_OF_ENTITY: dict[str, Stream] = {
    "Customer": Stream.CUSTOMERS,
    "Invoice": Stream.INVOICES,
    "CreditMemo": Stream.CREDIT_MEMOS,
    "Payment": Stream.PAYMENTS,
}


class Notification(NamedTuple):
    """One changed object named by a webhook call: ``(realm_id, entity, id, operation)``."""

    realm_id: str
    entity: str
    id: str
    operation: str


def sign(body: bytes, verifier_token: str) -> str:
    """The ``intuit-signature`` value Intuit computes for ``body`` (used by tests and the sandbox)."""
    digest = hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(body: bytes, header: str | None, verifier_token: str) -> bool:
    """Whether ``header`` is Intuit's signature of ``body`` under ``verifier_token``.

    The comparison is constant-time; a missing or malformed header is simply invalid.
    """
    if not header or not verifier_token:
        return False
    expected = sign(body, verifier_token)
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("ascii", "replace"))


def _entity_name(name: str) -> str:
    return _ENTITY_NAMES.get(name.lower(), name)


def parse_notifications(body: bytes | str | Any) -> list[Notification]:
    """The changed objects a webhook call names, in either body format.

    Args:
        body: the raw body (bytes or text) or its decoded JSON.

    Raises:
        ValueError: the body is neither format.
    """
    data = json.loads(body) if isinstance(body, bytes | str) else body
    out: list[Notification] = []
    if isinstance(data, Mapping) and "eventNotifications" in data:
        for event in data.get("eventNotifications") or []:
            realm = str(event.get("realmId") or "")
            change = event.get("dataChangeEvent") or {}
            for ent in change.get("entities") or []:
                out.append(
                    Notification(
                        realm_id=realm,
                        entity=_entity_name(str(ent.get("name") or "")),
                        id=str(ent.get("id") or ""),
                        operation=str(ent.get("operation") or ""),
                    )
                )
        return out
    if isinstance(data, Mapping) and "specversion" in data:
        data = [data]
    if isinstance(data, list):
        for event in data:
            if not isinstance(event, Mapping):
                raise ValueError("a CloudEvents body must be an array of objects")
            # type: "qbo.<entity>.<operation>.v<n>"
            parts = str(event.get("type") or "").split(".")
            if len(parts) < 3 or parts[0] != "qbo":
                raise ValueError(f"unknown CloudEvents type {event.get('type')!r}")
            operation = _OPERATIONS.get(parts[2].lower(), parts[2].capitalize())
            out.append(
                Notification(
                    realm_id=str(event.get("intuitaccountid") or ""),
                    entity=_entity_name(parts[1]),
                    id=str(event.get("intuitentityid") or ""),
                    operation=operation,
                )
            )
            deleted_id = (
                (event.get("data") or {}).get("deletedid") if isinstance(event.get("data"), Mapping) else None
            )
            if deleted_id:
                # A merge deletes the merged-away object: report it so its copy is flagged.
                out.append(Notification(out[-1].realm_id, out[-1].entity, str(deleted_id), "Delete"))
        return out
    raise ValueError("neither an eventNotifications object nor a CloudEvents array")


def streams_for(notifications: Iterable[Notification]) -> dict[str, set[Stream]]:
    """Which streams of which company need a CDC pull; entities arbridge does not read are dropped."""
    out: dict[str, set[Stream]] = {}
    for n in notifications:
        stream = STREAM_OF_ENTITY.get(n.entity)
        if stream is not None:
            out.setdefault(n.realm_id, set()).add(stream)
    return out


class QuickBooksWebhooks:
    """The daemon's receiver for Intuit webhooks (entry point ``arbridge.webhooks: quickbooks``).

    A connection takes webhooks once its settings hold the app's ``verifier_token``. One app's
    webhook reports every company that authorised it; only this connection's realm counts.
    """

    def receive(self, request: WebhookRequest, settings: Any) -> WebhookAnswer:
        """401 for a bad signature, 400 for an unreadable body, else 200 naming the changes."""
        verifier = getattr(settings, "verifier_token", None)
        if request.method != "POST" or verifier is None:
            # Unconfigured and unknown connections look alike, so the URL space reveals nothing.
            return WebhookAnswer(404, "not found", outcome="unknown_connection")
        if not verify_signature(
            request.body, request.headers.get(SIGNATURE_HEADER), verifier.get_secret_value()
        ):
            return WebhookAnswer(401, "invalid signature", outcome="bad_signature")
        replay_key = hashlib.sha256(request.body).hexdigest()
        try:
            notifications = parse_notifications(request.body)
        except (ValueError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            log.warning("unreadable QuickBooks webhook body: %s", exc)
            return WebhookAnswer(400, "unreadable body", outcome="unreadable", replay_key=replay_key)
        realm = str(getattr(settings, "realm_id", "") or "")
        changes = tuple(
            Change(n.entity, n.id, n.operation)
            for n in notifications
            if not n.realm_id or n.realm_id == realm
        )
        return WebhookAnswer(200, "ok", changes=changes, replay_key=replay_key)
