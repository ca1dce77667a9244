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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

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


@dataclass(frozen=True)
class WebhookResponse:
    """What to answer Intuit."""

    status: int
    body: str = ""


class WebhookReceiver:
    """Verifies and dispatches Intuit webhook calls; cheap enough to answer within Intuit's 3 s.

    Args:
        verifier_token: the app's webhook verifier token.
        schedule: called with ``{realm_id: {streams}}``; it must only enqueue work (a CDC pull),
            never perform it inside the request.
    """

    def __init__(self, verifier_token: str, schedule: Callable[[dict[str, set[Stream]]], None]) -> None:
        self._token = verifier_token
        self._schedule = schedule

    def __repr__(self) -> str:
        return "<WebhookReceiver verifier_token=[secure]>"

    def handle(self, headers: Mapping[str, str], body: bytes) -> WebhookResponse:
        """Answer one call: 401 for a bad signature, 400 for an unreadable body, else 200."""
        signature = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), None)
        if not verify_signature(body, signature, self._token):
            return WebhookResponse(401, "invalid signature")
        try:
            notifications = parse_notifications(body)
        except (ValueError, TypeError, AttributeError) as exc:
            log.warning("unreadable QuickBooks webhook body: %s", exc)
            return WebhookResponse(400, "unreadable body")
        wanted = streams_for(notifications)
        if wanted:
            self._schedule(wanted)
        return WebhookResponse(200, "")

    def wsgi_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """A WSGI entry point, so the daemon can mount the receiver on any WSGI server."""
        if environ.get("REQUEST_METHOD") != "POST":
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain")])
            return [b"POST only"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        answer = self.handle(headers, body)
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized"}.get(answer.status, "")
        start_response(f"{answer.status} {reason}", [("Content-Type", "text/plain")])
        return [answer.body.encode()]
