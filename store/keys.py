"""Deterministic idempotency keys for outbound operations."""

from __future__ import annotations

import hashlib
import json

from mapping.models import Operation


def idempotency_key(connection: str, op: Operation) -> str:
    """The same decision about the same target always gets the same key, in any process.

    The key covers the connection, the operation type, its target and its content (not the version
    it was based on, nor the free-text reason), so a re-run that decides the same thing finds the
    existing outbox row instead of queueing a second write, and a row whose payload was altered no
    longer matches its key.
    """
    blob = json.dumps(
        [connection, op.op_type.value, op.target_type.value, op.target_id, op.content()],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()
