"""Classified connector errors, and the one place HTTP answers are sorted into them."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from enum import StrEnum


class ErrorKind(StrEnum):
    """The error families the engine tells apart: each has one reaction (see ``ConnectorError``)."""

    TRANSIENT = "transient"
    THROTTLED = "throttled"
    CONFLICT = "conflict"
    AUTH = "auth"
    BAD_RECORD = "bad_record"
    PERMANENT = "permanent"


class ConnectorError(Exception):
    """Base of every error a connector raises or reports for one operation.

    Attributes:
        kind: what the engine should do about it.
        retry_after: seconds the ERP asked us to wait, when it said.
        erp_code: the ERP's own error code, kept for the admin.
    """

    kind: ErrorKind = ErrorKind.PERMANENT
    retriable: bool = False

    def __init__(
        self, message: str, *, retry_after: float | None = None, erp_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.erp_code = erp_code

    def __str__(self) -> str:
        code = f" [{self.erp_code}]" if self.erp_code else ""
        return f"{self.kind.value}{code}: {self.message}"


class TransientError(ConnectorError):
    """Network trouble, timeouts, 5xx: try again later."""

    kind = ErrorKind.TRANSIENT
    retriable = True


class ThrottledError(TransientError):
    """The ERP's rate or concurrency limit: wait (``retry_after`` if given) and try again."""

    kind = ErrorKind.THROTTLED


class ConflictError(ConnectorError):
    """The record changed in the ERP since we read it (stale SyncToken / ETag)."""

    kind = ErrorKind.CONFLICT


class AuthError(ConnectorError):
    """Credentials rejected or expired: the connection needs an admin, not a retry loop."""

    kind = ErrorKind.AUTH


class BadRecordError(ConnectorError):
    """This one record or operation is invalid for the ERP; the rest may go on."""

    kind = ErrorKind.BAD_RECORD


class PermanentError(ConnectorError):
    """Will fail the same way every time (permission, unsupported): park and tell the admin."""

    kind = ErrorKind.PERMANENT


class TlsError(PermanentError):
    """The ERP's TLS certificate is not trusted: no call can succeed until an admin fixes the trust."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_http(
    status: int, headers: Mapping[str, str] | None = None, body: str = "", *, erp_code: str | None = None
) -> ConnectorError | None:
    """Sort an HTTP answer into an error family, or None for success.

    429 and 5xx (and 408) are retriable, honouring ``Retry-After``; 401 is an auth failure that
    stops the connection; 409/412 are conflicts; other 4xx are problems with the request itself.
    """
    if 200 <= status < 300:
        return None
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    retry_after = parse_retry_after(headers.get("retry-after"))
    snippet = " ".join(body.split())[:300]
    message = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if status == 429:
        return ThrottledError(message, retry_after=retry_after, erp_code=erp_code)
    if status == 401:
        return AuthError(message, erp_code=erp_code)
    if status in (409, 412):
        return ConflictError(message, erp_code=erp_code)
    if status in (408, 425) or status >= 500:
        return TransientError(message, retry_after=retry_after, erp_code=erp_code)
    if status == 403:
        return PermanentError(f"permission denied: {message}", erp_code=erp_code)
    if 400 <= status < 500:
        return BadRecordError(message, erp_code=erp_code)
    return TransientError(message, retry_after=retry_after, erp_code=erp_code)
