"""OData error bodies, ``{"error": {"code", "message"}}``, sorted into the connector error families.

The HTTP status decides first (``connectors.errors.classify_http``); the service's own code then
sharpens it: Business Central says ``Request_EntityChanged`` for a stale ETag, ``Authentication_*``
for refused credentials and ``Authorization_*`` for missing permissions. SAP Business One's
Service Layer writes ``message`` as ``{"lang", "value"}`` (v1) or as text (v2); both are read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connectors.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    PermanentError,
    ThrottledError,
    classify_http,
)

__all__ = ["classify_odata", "odata_error"]

CONFLICT_CODES = frozenset({"Request_EntityChanged"})
THROTTLE_CODES = frozenset({"Application_TooManyRequests", "TooManyRequests"})


def odata_error(body: Any) -> tuple[str | None, str | None]:
    """The ``(code, message)`` of an OData error body (text or decoded JSON); ``(None, None)`` if none."""
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body or b"null")
        except ValueError:
            return None, None
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None, None
    code = error.get("code")
    message = error.get("message")
    if isinstance(message, Mapping):
        message = message.get("value")
    return (str(code) if code not in (None, "") else None), (str(message) if message is not None else None)


def classify_odata(status: int, headers: Mapping[str, str] | None, body: Any) -> ConnectorError | None:
    """The error an OData answer means, or None for a success."""
    if 200 <= status < 300:
        return None
    code, message = odata_error(body)
    text = message or (body if isinstance(body, str) else json.dumps(body) if body is not None else "")
    error = classify_http(status, headers, text, erp_code=code)
    assert error is not None
    if code in CONFLICT_CODES and not isinstance(error, ConflictError):
        return ConflictError(error.message, erp_code=code)
    if code in THROTTLE_CODES and not isinstance(error, ThrottledError):
        return ThrottledError(error.message, retry_after=error.retry_after, erp_code=code)
    if code and code.startswith("Authentication_") and not isinstance(error, AuthError):
        return AuthError(error.message, erp_code=code)
    if code and code.startswith("Authorization_"):
        return PermanentError(f"permission denied: {error.message}", erp_code=code)
    return error
