"""Business Central's error answers: ``{"error": {"code", "message"}}`` with the codes of Microsoft's table.

Codes and message wording come from Microsoft's "Troubleshooting REST API/OData calls" page
(``specs/business-central/docs/microsoftdocs-devitpro/dynamics-error-codes.md``); BC ends every
message with a correlation id.
"""

from __future__ import annotations

import uuid


class BcError(Exception):
    """An answer other than success, in BC's shape."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": f"{self.message}  CorrelationId:  {uuid.uuid4()}."}}


def not_found(segment: str) -> BcError:
    return BcError(404, "BadRequest_ResourceNotFound", f"Resource not found for the segment '{segment}'.")


def no_record(entity: str, key: str) -> BcError:
    return BcError(
        404,
        "Internal_RecordNotFound",
        f"The {entity} does not exist. Identification fields and values: Id='{{{key.upper()}}}'",
    )


def bad_request(message: str) -> BcError:
    return BcError(400, "BadRequest", message)


def read_only(control: str) -> BcError:
    return BcError(400, "BadRequest_InvalidOperation", f"Control '{control}' is read-only")


def method_not_allowed(method: str, entity_set: str) -> BcError:
    return BcError(
        405,
        "BadRequest_MethodNotAllowed",
        f"'{method}' requests for '{entity_set}' of EdmType 'Entity' are not allowed within Microsoft "
        "Dynamics NAV OData web services.",
    )


def entity_changed() -> BcError:
    return BcError(412, "Request_EntityChanged", "Another user has already changed the record.")


def token_required() -> BcError:
    return BcError(
        400,
        "BadRequest_InvalidToken",
        "Could not validate the client concurrency token required by the service. Please provide a valid "
        "token in the client request.",
    )


def dialog(message: str) -> BcError:
    return BcError(400, "Application_DialogException", message)


def unauthorized() -> BcError:
    return BcError(
        401, "Authentication_InvalidCredentials", "The server has rejected the client credentials."
    )


def throttled(retry_after: float) -> BcError:
    # Microsoft publishes no captured 429 body; the shape is BC's, the wording ours.
    seconds = max(1, round(retry_after + 0.5))
    return BcError(
        429,
        "Application_TooManyRequests",
        "Too many requests: the limit for this user was reached. Retry after the time given in Retry-After.",
        {"Retry-After": str(seconds)},
    )
