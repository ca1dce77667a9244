"""How a connector receives its ERP's change notifications through the daemon's HTTP endpoint.

The daemon serves ``/webhooks/{connector}/{connection}``. A connector that takes webhooks
registers a receiver in the entry-point group ``arbridge.webhooks`` under its own name::

    [project.entry-points."arbridge.webhooks"]
    acme = "arbridge_connector_acme.webhooks:AcmeWebhooks"

The receiver is built once with no arguments; for every call it gets the request and the
connection's validated settings, and answers what the ERP must hear. It verifies (a signature, a
client state), answers handshakes (Business Central's ``validationToken``), and names what
changed. It never pulls: the daemon schedules a pull of the named entities after the reply, so
the answer is fast (Intuit wants it within 3 s). Webhooks can be lost, so every connection still
runs its scheduled incremental pull.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Change", "WebhookAnswer", "WebhookReceiver", "WebhookRequest"]


@dataclass(frozen=True)
class WebhookRequest:
    """One call as the daemon received it; header names are lower case."""

    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Change:
    """One changed ERP object named by a notification: ``entity`` in the ERP's own spelling."""

    entity: str
    id: str
    operation: str


@dataclass(frozen=True)
class WebhookAnswer:
    """What to answer, and what the call said changed.

    Attributes:
        status: the HTTP status to answer with.
        text: the body (plain text unless ``content_type`` says otherwise).
        outcome: for the ``arbridge_webhooks`` metric: ``accepted``, ``bad_signature``,
            ``unreadable``, ``handshake`` or ``unknown_connection``.
        changes: what changed; the daemon schedules a pull of the connection when non-empty.
        replay_key: when set, a second call with the same key within 24 hours is refused with
            409 (a captured, signed body cannot be replayed).
    """

    status: int
    text: str = ""
    outcome: str = "accepted"
    changes: tuple[Change, ...] = ()
    replay_key: str | None = None
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


class WebhookReceiver(Protocol):
    """Verifies and reads one ERP's webhook calls for a connection."""

    def receive(self, request: WebhookRequest, settings: Any) -> WebhookAnswer:
        """Answer one call; ``settings`` are the connection's validated connector settings."""
        ...
