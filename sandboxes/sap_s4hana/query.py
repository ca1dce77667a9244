"""OData V2 system query options as SAP Gateway reads them: ``$filter``, ``$orderby``, key predicates.

``$filter`` supports what the connector and ordinary OData clients send: comparisons (``eq ne gt
ge lt le``) of a property with a literal (``'text'``, ``datetime'2024-01-31T00:00:00'``, ``true``,
``12.5M``, ``null``), joined by ``and``/``or``/``not`` and parentheses. A property the entity type
does not declare, or a literal of the wrong type, is an error naming the offending token.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote

from sandboxes.sap_s4hana.edmx import EntityType, Property

__all__ = ["QueryError", "parse_filter", "parse_key", "parse_orderby", "python_value"]


class QueryError(ValueError):
    """A malformed system query option; answered as SAP's 400 error."""


_TOKEN = re.compile(
    r"\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<str>'(?:[^']|'')*')"
    r"|(?P<dt>datetime(?:offset)?'[^']*')|(?P<guid>guid'[^']*')"
    r"|(?P<num>-?\d+(?:\.\d+)?[MmLlDdFf]?)|(?P<word>[A-Za-z_][A-Za-z0-9_/]*)|(?P<comma>,))"
)
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}

Predicate = Callable[[dict[str, Any]], bool]


@dataclass
class _Tok:
    kind: str
    text: str


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QueryError(f"Invalid token at position {pos + 1} in $filter: {text[pos : pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        out.append(_Tok(kind, m.group(kind)))
    return out


def _parse_datetime(text: str) -> datetime:
    body = text[text.index("'") + 1 : -1]
    try:
        value = datetime.fromisoformat(body.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"Invalid datetime literal {text!r}") from None
    return value.replace(tzinfo=None)


def _literal(tok: _Tok, prop: Property) -> Any:
    edm = prop.edm_type
    if tok.kind == "word" and tok.text == "null":
        return None
    if edm == "Edm.String":
        if tok.kind != "str":
            raise QueryError(f"Invalid literal {tok.text!r} for property {prop.name} of type {edm}")
        return tok.text[1:-1].replace("''", "'")
    if edm in ("Edm.DateTime", "Edm.DateTimeOffset"):
        if tok.kind != "dt":
            raise QueryError(f"Invalid literal {tok.text!r} for property {prop.name} of type {edm}")
        return _parse_datetime(tok.text)
    if edm == "Edm.Boolean":
        if tok.text not in ("true", "false"):
            raise QueryError(f"Invalid literal {tok.text!r} for property {prop.name} of type {edm}")
        return tok.text == "true"
    if edm in ("Edm.Decimal", "Edm.Double", "Edm.Int32", "Edm.Int16", "Edm.Int64", "Edm.Byte"):
        if tok.kind != "num":
            raise QueryError(f"Invalid literal {tok.text!r} for property {prop.name} of type {edm}")
        try:
            return Decimal(tok.text.rstrip("MmLlDdFf"))
        except InvalidOperation:
            raise QueryError(f"Invalid number {tok.text!r}") from None
    if tok.kind == "str":
        return tok.text[1:-1].replace("''", "'")
    raise QueryError(f"Filtering on property {prop.name} of type {edm} is not supported")


class _FilterParser:
    def __init__(self, tokens: list[_Tok], entity_type: EntityType) -> None:
        self.toks = tokens
        self.i = 0
        self.et = entity_type

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise QueryError("Unexpected end of $filter expression")
        self.i += 1
        return tok

    def expr(self) -> Predicate:
        left = self.conj()
        while (tok := self.peek()) is not None and tok.kind == "word" and tok.text == "or":
            self.take()
            right = self.conj()
            left = (lambda a, b: lambda row: a(row) or b(row))(left, right)
        return left

    def conj(self) -> Predicate:
        left = self.unary()
        while (tok := self.peek()) is not None and tok.kind == "word" and tok.text == "and":
            self.take()
            right = self.unary()
            left = (lambda a, b: lambda row: a(row) and b(row))(left, right)
        return left

    def unary(self) -> Predicate:
        tok = self.peek()
        if tok is not None and tok.kind == "word" and tok.text == "not":
            self.take()
            inner = self.unary()
            return lambda row: not inner(row)
        if tok is not None and tok.kind == "lp":
            self.take()
            inner = self.expr()
            if self.take().kind != "rp":
                raise QueryError("Missing closing parenthesis in $filter")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        name_tok = self.take()
        if name_tok.kind != "word":
            raise QueryError(f"Expected a property name in $filter, found {name_tok.text!r}")
        prop = self.et.properties.get(name_tok.text)
        if prop is None:
            raise QueryError(f"Property {name_tok.text} not found in type {self.et.name}")
        op_tok = self.take()
        if op_tok.kind != "word" or op_tok.text not in _OPS:
            raise QueryError(f"Invalid operator {op_tok.text!r} after {prop.name} in $filter")
        value = _literal(self.take(), prop)
        op = _OPS[op_tok.text]
        name = prop.name
        return lambda row: op(_comparable(row.get(name)), value)


def _comparable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return value


def parse_filter(text: str, entity_type: EntityType) -> Predicate:
    """Compile ``$filter`` into a predicate over a row of Python values."""
    parser = _FilterParser(_tokens(unquote(text)), entity_type)
    predicate = parser.expr()
    if parser.peek() is not None:
        raise QueryError(f"Unexpected token {parser.peek().text!r} in $filter")  # type: ignore[union-attr]
    return predicate


def parse_orderby(text: str, entity_type: EntityType) -> list[tuple[str, bool]]:
    """``$orderby`` as (property, descending) pairs."""
    order: list[tuple[str, bool]] = []
    for part in (p.strip() for p in unquote(text).split(",")):
        if not part:
            continue
        name, _, direction = part.partition(" ")
        if name not in entity_type.properties:
            raise QueryError(f"Property {name} not found in type {entity_type.name}")
        if direction.strip() not in ("", "asc", "desc"):
            raise QueryError(f"Invalid sort direction {direction.strip()!r} in $orderby")
        order.append((name, direction.strip() == "desc"))
    return order


_KEY_PART = re.compile(r"\s*(\w+)\s*=\s*('(?:[^']|'')*'|[^,]+)\s*(?:,|$)")


def parse_key(text: str, entity_type: EntityType) -> dict[str, Any]:
    """A key predicate (``Customer='1',CompanyCode='1010'``) as property values."""
    text = unquote(text)
    values: dict[str, Any] = {}
    if "=" not in text and len(entity_type.keys) == 1:
        values[entity_type.keys[0]] = _literal(_tokens(text)[0], entity_type.properties[entity_type.keys[0]])
        return values
    pos = 0
    while pos < len(text):
        m = _KEY_PART.match(text, pos)
        if not m:
            raise QueryError(f"Invalid key predicate ({text})")
        name, literal = m.group(1), m.group(2).strip()
        prop = entity_type.properties.get(name)
        if prop is None or name not in entity_type.keys:
            raise QueryError(f"Invalid key predicate: {name} is not a key of {entity_type.name}")
        values[name] = _literal(_tokens(literal)[0], prop)
        pos = m.end()
    if set(values) != set(entity_type.keys):
        raise QueryError(f"Key predicate must name {', '.join(entity_type.keys)} of {entity_type.name}")
    return values


def python_value(prop: Property, value: Any) -> Any:
    """A JSON request value (SAP's V2 JSON: ``/Date(ms)/``, decimals as strings) as a Python value.

    Raises:
        QueryError: the value does not fit the property (type or length).
    """
    if value is None:
        if not prop.nullable:
            raise QueryError(f"Property {prop.name} must not be null")
        return None
    edm = prop.edm_type
    if edm == "Edm.String":
        if not isinstance(value, str):
            raise QueryError(f"Property {prop.name} expects a string")
        if prop.max_length is not None and len(value) > prop.max_length:
            raise QueryError(
                f"Value '{value}' of property {prop.name} is longer than {prop.max_length} characters"
            )
        return value
    if edm == "Edm.DateTime":
        m = re.fullmatch(r"/Date\((-?\d+)(?:[+-]\d+)?\)/", str(value))
        if m:
            from datetime import UTC

            return datetime.fromtimestamp(int(m.group(1)) / 1000, UTC).replace(tzinfo=None)
        try:
            return datetime.fromisoformat(str(value)).replace(tzinfo=None)
        except ValueError:
            raise QueryError(f"Invalid value for property {prop.name} of type Edm.DateTime") from None
    if edm == "Edm.Boolean":
        if not isinstance(value, bool):
            raise QueryError(f"Property {prop.name} expects a boolean")
        return value
    if edm == "Edm.Decimal":
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise QueryError(f"Invalid value for property {prop.name} of type Edm.Decimal") from None
    return value
