"""Records to and from BC's JSON: how each EDM type is written, and how request bodies are checked.

BC writes empty values as their type's blank, never as null: ``""``, ``"0001-01-01"``, the empty
GUID. Request bodies are refused the way BC refuses them: an unknown property, a read-only
property, a value of the wrong type, a text longer than the field.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sandboxes.business_central.entities import ENUMS, EntitySet, Property
from sandboxes.business_central.errors import BcError, bad_request, read_only

EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
BLANK_DATE = "0001-01-01"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def format_datetime(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def to_json(prop: Property, value: Any) -> Any:
    """One value as BC writes it."""
    kind = prop.type
    if kind == "Guid":
        return value or EMPTY_GUID
    if kind == "Date":
        return value.isoformat() if isinstance(value, date) else BLANK_DATE
    if kind == "DateTimeOffset":
        return format_datetime(value) if isinstance(value, datetime) else "0001-01-01T00:00:00Z"
    if kind == "Decimal":
        value = value if value is not None else Decimal(0)
        return int(value) if value == value.to_integral_value() else float(value)
    if kind in ("Int32", "Int64"):
        return int(value or 0)
    if kind == "Boolean":
        return bool(value)
    if prop.is_enum:
        return value or ENUMS[kind[1:]][0]
    return "" if value is None else str(value)


def render(entity_set: EntitySet, record: dict[str, Any]) -> dict[str, Any]:
    return {p.name: to_json(p, record.get(p.name)) for p in entity_set.properties}


def _enum_member(prop: Property, value: Any) -> str:
    members = ENUMS[prop.type[1:]]
    text = str(value)
    encoded = text.replace(" ", "_x0020_")
    for member in members:
        if encoded.lower() == member.lower():
            return member
    if text.strip() == "" and "_x0020_" in members:
        return "_x0020_"
    shown = ",".join(m.replace("_x0020_", " ").strip() for m in members)
    raise BcError(400, "Unknown", f"'{text}' is not an option. The existing options are: {shown}")


def from_json(prop: Property, value: Any) -> Any:
    """A request value checked against the property's type, in the sandbox's typed form."""
    kind = prop.type
    if value is None:
        if not prop.nullable:
            raise BcError(
                400, "BadRequest_RequiredParamNotProvided", f"Field '{prop.name}' must not be blank or empty."
            )
        return None
    if prop.is_enum:
        return _enum_member(prop, value)
    if kind == "String":
        if not isinstance(value, str):
            raise bad_request(f"Cannot convert the literal '{value}' to the expected type 'Edm.String'.")
        if prop.max_length and len(value) > prop.max_length:
            raise BcError(
                400,
                "Application_StringExceededLength",
                f"The length of the string is {len(value)}, but it must be less than or equal to "
                f"{prop.max_length} characters. Value: {value}",
            )
        return value
    if kind == "Guid":
        try:
            return str(uuid.UUID(str(value))) if value != EMPTY_GUID else None
        except ValueError:
            raise BcError(400, "Application_InvalidGUID", "Invalid format of GUID string.") from None
    if kind == "Boolean":
        if not isinstance(value, bool):
            raise bad_request(f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'.")
        return value
    if kind in ("Int32", "Int64"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"Cannot convert the literal '{value}' to the expected type '{prop.edm_type}'.")
        return value
    if kind == "Decimal":
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise bad_request(f"Cannot convert the literal '{value}' to the expected type 'Edm.Decimal'.")
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise bad_request("Unable to convert value to Decimal") from None
    if kind == "Date":
        if not isinstance(value, str) or not _DATE.match(value):
            raise bad_request("Unable to convert value to Date")
        return None if value == BLANK_DATE else date.fromisoformat(value)
    if kind == "DateTimeOffset":
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise bad_request("Unable to convert value to DateTimeOffset") from None
    raise bad_request(f"Unsupported type {prop.edm_type}")


def parse_body(entity_set: EntitySet, body: Any, *, allow: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Check a POST or PATCH body against the entity type; return its typed values.

    ``@odata.*`` annotations are ignored, as BC ignores them. ``allow`` names read-only properties a
    client may send (BC accepts an unchanged key in a body).
    """
    if not isinstance(body, dict):
        raise bad_request("Invalid Request Body")
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name.startswith("@odata."):
            continue
        prop = entity_set.prop(name)
        if prop is None:
            raise bad_request(
                f"The property '{name}' does not exist on type 'Microsoft.NAV.{entity_set.entity_type}'. "
                "Make sure to only use property names that are defined by the type."
            )
        if prop.read_only and name not in allow:
            raise read_only(name)
        out[name] = from_json(prop, value)
    return out
