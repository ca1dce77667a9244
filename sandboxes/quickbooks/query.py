"""The subset of Intuit's query language the sandbox understands.

``SELECT * | COUNT(*) FROM <Entity> [WHERE <cond> [AND <cond>]...] [ORDERBY|ORDER BY <field> [ASC|DESC]]
[STARTPOSITION n] [MAXRESULTS m]`` where a condition is ``field op value`` (``= < > <= >= !=``),
``field IN (v, ...)`` or ``field LIKE '%x%'``. Keywords are case-insensitive, as in QuickBooks;
anything else is a ``QueryParserError`` fault. QuickBooks has no ``OR``, and neither has this.
Field names are Intuit's, resolved against its schema.

``MAXRESULTS`` above 1,000 is refused, not clamped: QuickBooks answers ``4001 Invalid query``,
"QueryValidationError: value 1500 is too large. Max allowed value is 1000" (quoted from a real
answer in ruckus/quickbooks-ruby issue #24; the same shape as Intuit's ``value 0 is too small``
answer in ``query_validation_error.xml``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from sandboxes.quickbooks.faults import query_parser_error, query_validation_error
from sandboxes.quickbooks.schema import ENTITIES, IntuitSchema

MAX_RESULTS = 1000  # Intuit's ceiling for one query page
DEFAULT_MAX_RESULTS = 100

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d+)?)(?![\w.])|(?P<op>>=|<=|!=|<>|=|<|>)"
    r"|(?P<punct>[(),*])|(?P<word>[A-Za-z_][\w.]*))"
)


@dataclass(frozen=True)
class Condition:
    """One ``field op value(s)`` term of a WHERE clause."""

    field: str
    op: str
    values: tuple[Any, ...]
    family: str = "string"


@dataclass
class Query:
    """A parsed query."""

    entity: str
    count: bool = False
    conditions: list[Condition] = field(default_factory=list)
    order_by: str | None = None
    order_family: str = "string"
    descending: bool = False
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS

    def mentions(self, name: str) -> bool:
        """True when a condition filters on ``name`` (case-insensitive)."""
        return any(c.field.lower() == name.lower() for c in self.conditions)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    text = text.strip().rstrip(";")
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            snippet = text[pos:].strip()[:20]
            raise query_parser_error(f'Encountered " {snippet!r} " at line 1, column {pos + 1}.')
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind) + 1))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def fail(self, expected: str) -> Exception:
        tok = self.peek()
        if tok is None:
            return query_parser_error(f'Encountered "<EOF>" at line 1. Was expecting: {expected}')
        return query_parser_error(
            f'Encountered " "{tok[1]}" " at line 1, column {tok[2]}. Was expecting: {expected}'
        )

    def keyword(self, *words: str) -> bool:
        tok = self.peek()
        if tok and tok[0] == "word" and tok[1].upper() in words:
            self.i += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise self.fail(word)

    def punct(self, char: str) -> bool:
        tok = self.peek()
        if tok and tok[0] == "punct" and tok[1] == char:
            self.i += 1
            return True
        return False

    def expect_punct(self, char: str) -> None:
        if not self.punct(char):
            raise self.fail(f'"{char}"')

    def word(self) -> str:
        tok = self.peek()
        if not tok or tok[0] != "word":
            raise self.fail("<IDENTIFIER>")
        self.i += 1
        return tok[1]

    def integer(self, what: str) -> int:
        tok = self.peek()
        if not tok or tok[0] != "num" or "." in tok[1]:
            raise self.fail(f"<INTEGER> after {what}")
        self.i += 1
        return int(tok[1])

    def literal(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise self.fail("<STRING_LITERAL>")
        kind, text, _ = tok
        self.i += 1
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "num":
            return Decimal(text)
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        self.i -= 1
        raise self.fail("<STRING_LITERAL>")


def parse(text: str, intuit: IntuitSchema) -> Query:
    """Parse a query into its parts, with field names and types resolved against Intuit's schema.

    Raises:
        QboFault: 4000 ``QueryParserError`` for text outside the supported grammar, 4001
            ``QueryValidationError`` for an unknown entity/field or an out-of-range page.
    """
    p = _Parser(text)
    p.expect_keyword("SELECT")
    count = False
    if p.punct("*"):
        pass
    elif p.keyword("COUNT"):
        p.expect_punct("(")
        p.expect_punct("*")
        p.expect_punct(")")
        count = True
    else:
        raise p.fail('"*" or "COUNT(*)"')
    p.expect_keyword("FROM")
    raw_entity = p.word()
    entity = next((e for e in ENTITIES if e.lower() == raw_entity.lower()), None)
    if entity is None or (entity == "CompanyInfo" and count):
        raise query_validation_error(f"Invalid context declaration : {raw_entity}")
    query = Query(entity=entity, count=count)
    if p.keyword("WHERE"):
        while True:
            query.conditions.append(_condition(p, entity, intuit))
            if not p.keyword("AND"):
                break
    ordered = p.keyword("ORDERBY")
    if not ordered and p.keyword("ORDER"):
        p.expect_keyword("BY")
        ordered = True
    if ordered:
        query.order_by, query.order_family = _field(p.word(), entity, intuit)
        if p.keyword("DESC"):
            query.descending = True
        else:
            p.keyword("ASC")
    if p.keyword("STARTPOSITION"):
        query.start_position = p.integer("STARTPOSITION")
        if query.start_position < 1:
            raise query_validation_error(f"value {query.start_position} is too small. Min allowed value is 1")
    if p.keyword("MAXRESULTS"):
        query.max_results = p.integer("MAXRESULTS")
        if query.max_results < 1:
            raise query_validation_error(f"value {query.max_results} is too small. Min allowed value is 1")
        if query.max_results > MAX_RESULTS:
            raise query_validation_error(
                f"value {query.max_results} is too large. Max allowed value is {MAX_RESULTS}"
            )
    if p.peek() is not None:
        raise p.fail("<EOF>")
    return query


def _field(raw: str, entity: str, intuit: IntuitSchema) -> tuple[str, str]:
    """Intuit's spelling of a field and how its values read (``metadata.lastupdatedtime`` →
    ``MetaData.LastUpdatedTime``, ``dateTime``)."""
    head, _, rest = raw.partition(".")
    fields = intuit.fields_of(entity)
    top = next((name for name in fields if name.lower() == head.lower()), None)
    if top is None:
        raise query_validation_error(f"property '{raw}' is not queryable")
    spec = fields[top]
    if not rest:
        if spec.kind in ("complex", "any"):
            raise query_validation_error(f"property '{raw}' is not queryable")
        return top, spec.family
    if spec.kind == "value" and rest.lower() in ("value", "name"):
        return f"{top}.{rest.lower()}", "string"
    if spec.kind != "complex" or "." in rest:
        raise query_validation_error(f"property '{raw}' is not queryable")
    sub_fields = intuit.fields_of(spec.type)
    sub = next((name for name in sub_fields if name.lower() == rest.lower()), None)
    if sub is None or sub_fields[sub].kind in ("complex", "any"):
        raise query_validation_error(f"property '{raw}' is not queryable")
    return f"{top}.{sub}", sub_fields[sub].family


def _condition(p: _Parser, entity: str, intuit: IntuitSchema) -> Condition:
    name, family = _field(p.word(), entity, intuit)
    tok = p.peek()
    if tok and tok[0] == "op":
        p.i += 1
        op = "!=" if tok[1] == "<>" else tok[1]
        return Condition(name, op, (p.literal(),), family)
    if p.keyword("IN"):
        p.expect_punct("(")
        values = [p.literal()]
        while p.punct(","):
            values.append(p.literal())
        p.expect_punct(")")
        return Condition(name, "in", tuple(values), family)
    if p.keyword("LIKE"):
        value = p.literal()
        if not isinstance(value, str):
            raise p.fail("<STRING_LITERAL>")
        return Condition(name, "like", (value,), family)
    raise p.fail('"=" "<" ">" "<=" ">=" "!=" "IN" "LIKE"')


def resolve(record: dict[str, Any], name: str) -> Any:
    """The value a query field names in a stored record (``CustomerRef`` → its ``value``)."""
    value: Any = record
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    return value


def parse_datetime(value: str, tz: tzinfo) -> datetime:
    """Parse a query or record timestamp; a value without offset is company-local time, as in QuickBooks."""
    try:
        if len(value) == 10:
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise query_validation_error(f"invalid date-time value '{value}'") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _coerce(kind: str, value: Any, tz: tzinfo) -> Any:
    if value is None:
        return None
    if kind == "dateTime":
        return parse_datetime(str(value), tz)
    if kind in ("decimal", "integer"):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise query_validation_error(f"invalid number '{value}'") from None
    if kind == "id":
        text = str(value)
        return (0, int(text)) if text.isdigit() else (1, text)
    if kind == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if isinstance(value, Decimal):
        return str(value)
    return value if isinstance(value, str) else str(value)


def matches(record: dict[str, Any], cond: Condition, tz: tzinfo) -> bool:
    """True when the record satisfies one condition."""
    kind = cond.family
    actual = _coerce(kind, resolve(record, cond.field), tz)
    if cond.op == "in":
        return actual in {_coerce(kind, v, tz) for v in cond.values}
    expected = _coerce(kind, cond.values[0], tz)
    if cond.op == "like":
        pattern = "^" + ".*".join(re.escape(part) for part in str(cond.values[0]).split("%")) + "$"
        return actual is not None and re.match(pattern, str(actual), re.IGNORECASE | re.DOTALL) is not None
    if actual is None:
        return False
    if cond.op == "=":
        return bool(actual == expected)
    if cond.op == "!=":
        return bool(actual != expected)
    try:
        if cond.op == "<":
            return bool(actual < expected)
        if cond.op == ">":
            return bool(actual > expected)
        if cond.op == "<=":
            return bool(actual <= expected)
        return bool(actual >= expected)
    except TypeError:
        return False
