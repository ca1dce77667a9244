"""Values written as OData v4 ``$filter`` literals."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["any_of", "literal"]


def literal(value: Any) -> str:
    """``value`` as a ``$filter`` literal: quoted text (``'`` doubled), bare numbers, dates, GUIDs."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a datetime literal needs a time zone")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int | Decimal):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def any_of(name: str, values: Iterable[Any]) -> str:
    """``(name eq a or name eq b …)``: services that ignore ``in`` (BC: ALAppExtensions#25734) take this."""
    parts = [f"{name} eq {literal(v)}" for v in values]
    if not parts:
        raise ValueError("any_of needs at least one value")
    return "(" + " or ".join(parts) + ")"
