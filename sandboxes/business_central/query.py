"""The ``$filter`` subset BC clients send, evaluated over the sandbox's records.

Comparisons (``eq ne gt ge lt le``) of a property with a literal, joined by ``and``/``or``, with
parentheses. Literals: ``'text'`` (``''`` escapes a quote), numbers, ``true``/``false``, ``null``,
dates (``2026-01-31``), date-times (``2026-01-31T10:00:00Z``) and GUIDs, written as BC takes them.
A property the entity does not have, or a literal of the wrong type, is refused with BC's errors.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sandboxes.business_central.entities import EntitySet
from sandboxes.business_central.errors import BcError, bad_request

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<open>\()|(?P<close>\))|(?P<word>[^\s()']+))")
_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise _syntax(text, pos)
        out.append(m.group(m.lastgroup or "word"))
        pos = m.end()
    return out


def _syntax(text: str, pos: int) -> BcError:
    return BcError(400, "BadRequest_NotFound", f"Syntax error at position {pos} in '{text}'.")


def parse_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _literal(token: str, entity_set: EntitySet, name: str) -> Any:
    prop = entity_set.prop(name)
    assert prop is not None
    if token == "null":
        return None
    kind = prop.type
    if token.startswith("'"):
        text = token[1:-1].replace("''", "'")
        if kind in ("String",) or prop.is_enum:
            return text
        if kind == "Guid":
            return _guid(text)
        raise bad_request(
            f"A binary operator with incompatible types was detected. Found operand types "
            f"'{prop.edm_type}' and 'Edm.String' for operator kind 'Equal'."
        )
    if kind == "Guid":
        return _guid(token)
    if kind == "DateTimeOffset":
        if not _DATETIME.match(token):
            raise bad_request(f"Unable to convert '{token}' to DateTimeOffset")
        return parse_datetime(token)
    if kind == "Date":
        if not _DATE.match(token):
            raise bad_request("Unable to convert value to Date")
        return date.fromisoformat(token)
    if kind == "Boolean":
        if token not in ("true", "false"):
            raise bad_request(f"Unable to convert '{token}' to Boolean")
        return token == "true"
    if kind in ("Int32", "Int64", "Decimal"):
        try:
            return Decimal(token)
        except InvalidOperation:
            raise bad_request(f"Unable to convert '{token}' to {prop.edm_type}") from None
    raise bad_request(f"A binary operator with incompatible types was detected for '{name}'.")


def _guid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise BcError(
            400,
            "Application_InvalidGUID",
            "Invalid format of GUID string. The correct format of the GUID string is: "
            "CDEF7890-ABCD-0123-1234-567890ABCDEF where 0-9, A-F symbolizes hexadecimal digits.",
        ) from None


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str) and op in ("eq", "ne"):
        # BC compares codes and GUIDs without regard to case, and enum values by caption.
        left, right = (s.replace("_x0020_", " ").lower() for s in (left, right))
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    if isinstance(right, Decimal):
        left = Decimal(str(left))
    return bool({"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op])


def _folded(text: str) -> str:
    return text.replace("_x0020_", " ").lower()


class _AnyOf:
    """``name eq 'a' or name eq 'b' or …`` as one set look-up (a connector sends 100 ids at once)."""

    def __init__(self, name: str, values: list[str]) -> None:
        self.name = name
        self.values = values
        self.folded = frozenset(_folded(v) for v in values)

    def __call__(self, record: dict[str, Any]) -> bool:
        left = record.get(self.name)
        if isinstance(left, str):
            return _folded(left) in self.folded
        return any(_compare("eq", left, v) for v in self.values)


class _Parser:
    def __init__(self, text: str, entity_set: EntitySet, refused: frozenset[str]) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0
        self.entity_set = entity_set
        self.refused = refused

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise _syntax(self.text, len(self.text))
        self.pos += 1
        return token

    def parse(self) -> Predicate:
        predicate = self._or()
        if self._peek() is not None:
            raise _syntax(self.text, self.pos)
        return predicate

    def _or(self) -> Predicate:
        left = self._and()
        while self._peek() == "or":
            self._take()
            right = self._and()
            if isinstance(left, _AnyOf) and isinstance(right, _AnyOf) and left.name == right.name:
                left = _AnyOf(left.name, left.values + right.values)
            else:
                left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def _and(self) -> Predicate:
        left = self._term()
        while self._peek() == "and":
            self._take()
            right = self._term()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def _term(self) -> Predicate:
        token = self._take()
        if token == "(":
            inner = self._or()
            if self._take() != ")":
                raise _syntax(self.text, self.pos)
            return inner
        name = token
        if self.entity_set.prop(name) is None:
            raise bad_request(
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.NAV.{self.entity_set.entity_type}'."
            )
        if name in self.refused:
            # Some BC pages compute the field on read, and the server cannot filter on it.
            raise BcError(
                400,
                "BadRequest_MethodNotImplemented",
                f"Filtering on the field '{name}' is not supported for '{self.entity_set.name}'.",
            )
        op = self._take()
        if op not in _OPS:
            raise _syntax(self.text, self.pos)
        value = _literal(self._take(), self.entity_set, name)
        if op == "eq" and isinstance(value, str):
            return _AnyOf(name, [value])
        return lambda r: _compare(op, r.get(name), value)


def parse_filter(text: str, entity_set: EntitySet, refused: frozenset[str] = frozenset()) -> Predicate:
    """Compile a ``$filter`` into a predicate over typed records (dates, datetimes, Decimals)."""
    return _Parser(text, entity_set, refused).parse()
