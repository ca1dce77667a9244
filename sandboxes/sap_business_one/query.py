"""``$filter``, ``$orderby`` and ``$select`` as B1 clients write them, over the sandbox's records.

Comparisons (``eq ne gt ge lt le``) of a property with a literal, joined by ``and``/``or``, with
parentheses. B1 takes dates and times as quoted text (``UpdateDate ge '2026-11-02'``,
``UpdateTime ge '10:15:00'``, the guide's section 3.7) and enum values by member name
(``CardType eq 'cCustomer'``). A property the type does not have is refused as B1 refuses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sandboxes.sap_business_one.errors import B1Error, invalid_property, syntax_error
from sandboxes.sap_business_one.metadata import Metadata, StructuredType

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<open>\()|(?P<close>\))|(?P<word>[^\s()']+))")
_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if not text[pos:].strip():
                break
            raise syntax_error(text)
        out.append(m.group(m.lastgroup or "word"))
        pos = m.end()
    return out


def comparable(edm_type: str, value: Any) -> Any:
    """A stored or literal value in a form that orders as B1 orders it."""
    if value is None:
        return None
    if edm_type == "Edm.DateTimeOffset":
        return str(value)[:10]
    if edm_type == "Edm.TimeOfDay":
        text = str(value)
        if re.fullmatch(r"\d{4}(\d{2})?", text):  # 1838 / 183800
            text = ":".join(text[i : i + 2] for i in range(0, len(text), 2))
        return (text + ":00")[:8] if len(text) == 5 else text[:8]
    if edm_type in ("Edm.Int32", "Edm.Int64", "Edm.Double", "Edm.Decimal"):
        return float(value)
    return str(value)


class _Parser:
    def __init__(self, text: str, etype: StructuredType, types: dict[str, str]) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0
        self.etype = etype
        self.types = types

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise syntax_error(self.text)
        self.pos += 1
        return token

    def parse(self) -> Predicate:
        predicate = self._or()
        if self._peek() is not None:
            raise syntax_error(self.text)
        return predicate

    def _or(self) -> Predicate:
        left = self._and()
        while self._peek() == "or":
            self._take()
            right = self._and()
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
                raise syntax_error(self.text)
            return inner
        name = token
        edm = self.types.get(name)
        if edm is None:
            raise invalid_property(name, self.etype.name)
        op = self._take()
        if op not in _OPS:
            raise syntax_error(self.text)
        raw = self._take()
        if raw == "null":
            value = None
        elif raw.startswith("'"):
            value = comparable(edm, raw[1:-1].replace("''", "'"))
        else:
            try:
                value = float(raw)
            except ValueError:
                raise syntax_error(self.text) from None
        return lambda r: _compare(op, comparable(edm, r.get(name)), value)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return bool({"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op])
    except TypeError:
        raise B1Error(400, "-1000", "Invalid comparison of values of different types") from None


def parse_filter(text: str, etype: StructuredType, extra: dict[str, str]) -> Predicate:
    """Compile ``$filter`` for records of ``etype`` (``extra``: the user-defined fields created since)."""
    return _Parser(text, etype, {**etype.properties, **extra}).parse()


def sort_key(orderby: str, etype: StructuredType, extra: dict[str, str]) -> Callable[[dict[str, Any]], Any]:
    """A key function for ``$orderby`` (ascending only, as clients here ask; nulls first as B1 sorts)."""
    types = {**etype.properties, **extra}
    names: list[str] = []
    for part in orderby.split(","):
        words = part.split()
        if not words:
            continue
        if words[0] not in types:
            raise invalid_property(words[0], etype.name)
        if len(words) > 1 and words[1].lower() == "desc":
            raise B1Error(400, "-1000", "Only ascending $orderby is served by this sandbox")
        names.append(words[0])

    def key(record: dict[str, Any]) -> Any:
        out = []
        for n in names:
            value = comparable(types[n], record.get(n))
            out.append((value is not None, value if value is not None else 0))
        return tuple(out)

    return key


def select(record: dict[str, Any], fields: str | None, etype: StructuredType, extra: dict[str, str]) -> dict:
    if not fields:
        return record
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    for name in wanted:
        if name not in etype.properties and name not in extra:
            raise invalid_property(name, etype.name)
    out = {k: record.get(k) for k in wanted}
    if "@odata.etag" in record:
        out = {"@odata.etag": record["@odata.etag"], **out}
    return out


__all__ = ["Metadata", "comparable", "parse_filter", "select", "sort_key"]
