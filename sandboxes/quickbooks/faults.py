"""QuickBooks-shaped faults: the codes, messages and HTTP statuses Intuit answers with.

Codes and wording follow Intuit's error-code reference and the vendor fixtures under
``shared/specs/quickbooks/samples`` (``query_validation_error.xml``, ``throttle_exceeded_error.xml``,
``generic_error.xml``, ``tax_service_error_dup.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FaultError:
    """One ``Error`` inside a ``Fault``."""

    code: str
    message: str
    detail: str
    element: str = ""


class QboFault(Exception):
    """A fault the sandbox answers with instead of a result.

    Args:
        code: Intuit's error code (``"5010"``).
        message: the short ``Message``.
        detail: the longer ``Detail``.
        element: the offending element, when there is one.
        fault_type: ``ValidationFault``, ``SystemFault``, ``SERVICE``, ``AuthorizationFault`` ….
        status: the HTTP status QuickBooks uses for it.
    """

    def __init__(
        self,
        code: str,
        message: str,
        detail: str,
        *,
        element: str = "",
        fault_type: str = "ValidationFault",
        status: int = 400,
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.errors = [FaultError(code, message, detail, element)]
        self.fault_type = fault_type
        self.status = status

    @property
    def code(self) -> str:
        """The first error's code."""
        return self.errors[0].code

    def to_json(self) -> dict[str, Any]:
        """The ``Fault`` object of Intuit's JSON format."""
        return {
            "Error": [
                {"Message": e.message, "Detail": e.detail, "code": e.code, "element": e.element}
                for e in self.errors
            ],
            "type": self.fault_type,
        }


@dataclass
class RawResponse:
    """A response that bypasses the normal JSON/XML rendering (401 bodies, forced-XML throttles)."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def stale_object(entity: str) -> QboFault:
    """5010: the SyncToken sent is not the current one."""
    return QboFault(
        "5010",
        "Stale Object Error",
        "Stale Object Error : You and Sandbox User were working on this at the same time. Sandbox User "
        f"finished before you did, so your work was not saved. Entity={entity}",
        element="SyncToken",
    )


def required_param(name: str) -> QboFault:
    """2020: a required element is missing."""
    return QboFault(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {name} is missing in the request",
        element=name,
    )


def object_not_found(entity: str, ident: str, *, deleted: bool = False) -> QboFault:
    """610: the object does not exist (or was deleted)."""
    why = (
        "Another user has deleted this transaction."
        if deleted
        else "Something you're trying to use has been made inactive. Check the fields with accounts, "
        "customers, items, vendors or employees."
    )
    return QboFault("610", "Object Not Found", f"Object Not Found : {why}", element=f"{entity}.Id={ident}")


def invalid_reference(what: str, ident: str) -> QboFault:
    """2500: a reference points at nothing (or at an inactive list entry)."""
    return QboFault(
        "2500",
        "Invalid Reference Id",
        f"Invalid Reference Id : Something you're trying to use has been made inactive. {what} {ident} "
        "does not exist or is inactive.",
        element=what,
    )


def business_rule(detail: str, element: str = "") -> QboFault:
    """6000: a business validation error (amounts that do not add up, and the like)."""
    return QboFault(
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element=element,
    )


def query_parser_error(detail: str) -> QboFault:
    """4000: the query text could not be parsed."""
    return QboFault("4000", "Error parsing query", f"QueryParserError: {detail}")


def query_validation_error(detail: str) -> QboFault:
    """4001: the query parsed but asks for something invalid (shape of ``query_validation_error.xml``)."""
    return QboFault("4001", "Invalid query", f"QueryValidationError: {detail}")


def unsupported_operation(detail: str) -> QboFault:
    """500: an operation QuickBooks does not offer for this entity."""
    return QboFault("500", "Unsupported Operation", f"Operation {detail} is not supported.")


def system_fault(detail: str = "System Failure Error: injected failure") -> QboFault:
    """10000: the generic server-side failure (shape of ``generic_error.xml``)."""
    return QboFault(
        "10000",
        "An application error has occurred while processing your request",
        detail,
        fault_type="SystemFault",
        status=500,
    )


THROTTLE_DETAIL = "The request limit was reached.  Try again later"


def throttle_message(status: int) -> str:
    """The ``Message`` text of a 3001 ThrottleExceeded fault (``too_many_requests_error.xml``)."""
    return f"message=ThrottleExceeded; errorCode=003001; statusCode={status}"
