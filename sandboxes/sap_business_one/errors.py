"""The Service Layer's error answers, ``/b1s/v2`` shape: ``{"error": {"code": "-2039", "message": "…"}}``.

Codes and wording come from SAP's guide (specs/sap-business-one/samples/sl-guide-1.22-login-and-
error-examples.DERIVED.json) where it shows them: 301 for an invalid or timed-out session, -2039
for a stale ETag (412), -5006 for an action an object does not support, -2028 for a missing
entity, -1000 for a request the service cannot parse, -10 for a business rule. Where the guide
shows no example (a refused login, an unknown property, over-application), the code is B1's
family code and the wording is ours.
"""

from __future__ import annotations

from typing import Any


class B1Error(Exception):
    """An answer other than success, in the Service Layer's v2 shape."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def invalid_session() -> B1Error:
    return B1Error(401, "301", "Invalid session or session already timeout.")


def login_failed() -> B1Error:
    return B1Error(401, "-304", "Login failed: wrong company database, user name or password")


def invalid_property(name: str, type_name: str) -> B1Error:
    return B1Error(400, "-1000", f"Property '{name}' of '{type_name}' is invalid")


def syntax_error(text: str) -> B1Error:
    return B1Error(400, "-1000", f"Invalid query option: {text}")


def not_found(what: str) -> B1Error:
    return B1Error(404, "-2028", f"No matching records found (ODBC -2028): {what}")


def stale() -> B1Error:
    return B1Error(
        412,
        "-2039",
        "Another user or another operation modified data; to continue, open the window again (ODBC -2039)",
    )


def business_rule(message: str) -> B1Error:
    return B1Error(400, "-10", message)


def not_supported() -> B1Error:
    return B1Error(400, "-5006", "The requested action is not supported for this object.")


def busy(retry_after: float) -> B1Error:
    seconds = max(1, round(retry_after + 0.5))
    return B1Error(
        503,
        "-503",
        "Service Layer is busy: all worker processes are serving other requests",
        {"Retry-After": str(seconds)},
    )
