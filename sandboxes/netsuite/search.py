"""Basic-search criteria as SuiteTalk defines them, evaluated over the sandbox's records.

A criterion's kind comes from Oracle's schema (the type of the element in the ``…SearchBasic``
type: ``SearchDateField``, ``SearchMultiSelectField`` …), its operator and values from the
request. A search field names the record field of the same name, with SuiteTalk's exceptions:
``internalId``/``externalId`` are the record's attributes, a transaction's ``type`` is its record
type (``_invoice``), ``entity`` is a payment's ``customer``, and ``lastModifiedDate`` is the time
the account last changed the record.

An ``xs:dateTime`` search value without a time zone is read in the account's time zone, as the
NetSuite UI shows dates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

__all__ = [
    "Criterion",
    "RecordView",
    "SearchError",
    "criterion",
    "date_matches",
    "matches",
    "parse_datetime",
    "select_matches",
]

_DATETIME = re.compile(
    r"^(?P<date>-?\d{4,}-\d{2}-\d{2})(?:T(?P<time>\d{2}:\d{2}:\d{2}(?:\.\d+)?))?(?P<tz>Z|[+-]\d{2}:\d{2})?$"
)
TRANSACTION_TYPES = {
    "invoice": "_invoice",
    "creditMemo": "_creditMemo",
    "customerPayment": "_customerPayment",
}
# A transaction's status as its search enumeration names it (``_invoiceOpen``), from its status text.
_STATUS_WORDS = re.compile(r"[^A-Za-z]+")


class SearchError(Exception):
    """A criterion the account cannot evaluate: answered as a ``USER_ERROR`` fault."""


def parse_datetime(text: str, tz: tzinfo) -> datetime:
    """An ``xs:dateTime`` (or ``xs:date``) as an aware datetime; without an offset it is account time.

    Raises:
        SearchError: the text is not an ``xs:dateTime``.
    """
    match = _DATETIME.match(text.strip())
    if not match:
        raise SearchError(f"Invalid date value: {text!r} is not an xsd:dateTime")
    try:
        day = date.fromisoformat(match["date"])
        clock = time.fromisoformat(match["time"][:15]) if match["time"] else time()
    except ValueError:
        raise SearchError(f"Invalid date value: {text!r}") from None
    zone = match["tz"]
    when = datetime.combine(day, clock)
    if zone is None:
        return when.replace(tzinfo=tz)
    return datetime.fromisoformat(f"{when.isoformat()}{'+00:00' if zone == 'Z' else zone}")


@dataclass(frozen=True)
class Criterion:
    """One field of a basic search: its kind (the schema type), operator and values."""

    field: str
    kind: str
    operator: str
    values: tuple[Any, ...]
    predefined: str | None = None
    custom: bool = False


def _text(el: etree._Element) -> str:
    return (el.text or "").strip()


def criterion(field: str, kind: str, el: etree._Element, tz: tzinfo, custom: bool = False) -> Criterion:
    """Read one search field element of kind ``kind`` (``SearchStringField`` …)."""
    operator = el.get("operator") or ""
    children = {etree.QName(c).localname: c for c in el if isinstance(c.tag, str)}
    values: list[Any] = []
    predefined = None
    for child in el:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        if name not in ("searchValue", "searchValue2"):
            continue
        if kind.startswith("SearchMultiSelect"):
            values.append(child.get("internalId") or child.get("externalId") or _text(child))
        elif kind.startswith("SearchDate"):
            values.append(parse_datetime(_text(child), tz))
        else:
            values.append(_text(child))
    if "predefinedSearchValue" in children:
        predefined = _text(children["predefinedSearchValue"])
    return Criterion(field, kind, operator, tuple(values), predefined, custom)


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _compare(operator: str, actual: Any, values: tuple[Any, ...]) -> bool:
    """Numeric and date operators (``equalTo``, ``between``, ``after`` …)."""
    if operator == "empty":
        return actual is None
    if operator == "notEmpty":
        return actual is not None
    if actual is None or not values:
        return False
    a, b = values[0], values[1] if len(values) > 1 else values[0]
    tests: dict[str, Callable[[], bool]] = {
        "equalTo": lambda: actual == a,
        "notEqualTo": lambda: actual != a,
        "greaterThan": lambda: actual > a,
        "greaterThanOrEqualTo": lambda: actual >= a,
        "lessThan": lambda: actual < a,
        "lessThanOrEqualTo": lambda: actual <= a,
        "notGreaterThan": lambda: not actual > a,
        "notGreaterThanOrEqualTo": lambda: not actual >= a,
        "notLessThan": lambda: not actual < a,
        "notLessThanOrEqualTo": lambda: not actual <= a,
        "between": lambda: a <= actual <= b,
        "notBetween": lambda: not a <= actual <= b,
        "after": lambda: actual > a,
        "notAfter": lambda: actual <= a,
        "before": lambda: actual < a,
        "notBefore": lambda: actual >= a,
        "onOrAfter": lambda: actual >= a,
        "notOnOrAfter": lambda: actual < a,
        "onOrBefore": lambda: actual <= a,
        "notOnOrBefore": lambda: actual > a,
        "within": lambda: a <= actual <= b,
        "notWithin": lambda: not a <= actual <= b,
    }
    test = tests.get(operator)
    if test is None:
        raise SearchError(f"The operator {operator!r} does not apply to this field.")
    try:
        return test()
    except TypeError:
        return False


def _predefined(name: str, now: datetime) -> tuple[datetime, datetime]:
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day = timedelta(days=1)
    ranges = {
        "today": (today, today + day),
        "yesterday": (today - day, today),
        "tomorrow": (today + day, today + 2 * day),
        "previousOneDay": (now - day, now),
        "previousOneWeek": (now - 7 * day, now),
    }
    if name not in ranges:
        raise SearchError(f"The predefined search date {name!r} is not evaluated by this sandbox account.")
    return ranges[name]


def date_matches(c: Criterion, actual: datetime | None, now: datetime) -> bool:
    if c.predefined:
        start, end = _predefined(c.predefined, now)
        inside = actual is not None and start <= actual < end
        return not inside if c.operator.startswith("not") else inside
    if c.operator in ("on", "notOn"):
        same = actual is not None and bool(c.values) and actual.date() == c.values[0].date()
        return same if c.operator == "on" else not same
    return _compare(c.operator, actual, c.values)


def _string_match(c: Criterion, actual: str | None) -> bool:
    text = (actual or "").lower()
    wanted = str(c.values[0]).lower() if c.values else ""
    tests: dict[str, Callable[[], bool]] = {
        "is": lambda: text == wanted,
        "isNot": lambda: text != wanted,
        "contains": lambda: wanted in text,
        "doesNotContain": lambda: wanted not in text,
        "startsWith": lambda: text.startswith(wanted),
        "doesNotStartWith": lambda: not text.startswith(wanted),
        "empty": lambda: not text,
        "notEmpty": lambda: bool(text),
        "hasKeywords": lambda: all(word in text for word in wanted.split()),
    }
    test = tests.get(c.operator or "is")
    if test is None:
        raise SearchError(f"The operator {c.operator!r} does not apply to a text field.")
    return test()


def select_matches(c: Criterion, actual: set[str]) -> bool:
    wanted = {str(v) for v in c.values}
    if c.operator in ("anyOf", ""):
        return bool(actual & wanted)
    if c.operator == "noneOf":
        return not actual & wanted
    if c.operator == "allOf":
        return wanted <= actual
    if c.operator == "notAllOf":
        return not wanted <= actual
    raise SearchError(f"The operator {c.operator!r} does not apply to a list field.")


@dataclass(frozen=True)
class RecordView:
    """What a criterion reads of one record."""

    record_type: str
    element: etree._Element
    modified: datetime
    tz: tzinfo

    def field(self, name: str) -> etree._Element | None:
        return next(
            (c for c in self.element if isinstance(c.tag, str) and etree.QName(c).localname == name), None
        )

    def custom(self, script_id: str) -> etree._Element | None:
        custom_list = self.field("customFieldList")
        for cf in custom_list if custom_list is not None else []:
            if cf.get("scriptId") == script_id:
                return next((v for v in cf if isinstance(v.tag, str)), None)
        return None


def _field_element(view: RecordView, c: Criterion) -> etree._Element | None:
    if c.custom:
        return view.custom(c.field)
    name = "customer" if c.field == "entity" and view.record_type == "customerPayment" else c.field
    return view.field(name)


def matches(view: RecordView, c: Criterion, now: datetime) -> bool:
    """True when the record satisfies the criterion."""
    if c.field in ("internalId", "externalId") and not c.custom:
        return select_matches(c, {view.element.get(c.field) or ""} - {""})
    if c.field in ("internalIdNumber",):
        return _compare(c.operator, _number(view.element.get("internalId")), tuple(map(_number, c.values)))
    if c.field == "externalIdString":
        return _string_match(c, view.element.get("externalId"))
    if c.field == "lastModifiedDate" and not c.custom:
        return date_matches(c, view.modified, now)
    if c.field == "type" and c.kind == "SearchEnumMultiSelectField":
        return select_matches(c, {TRANSACTION_TYPES.get(view.record_type, view.record_type)})
    el = _field_element(view, c)
    if c.field == "status" and c.kind == "SearchEnumMultiSelectField":
        words = _STATUS_WORDS.sub("", (el.text or "").title()) if el is not None else ""
        return select_matches(c, {f"{TRANSACTION_TYPES.get(view.record_type, '_')}{words}"})
    kind = c.kind.replace("Custom", "")
    if kind == "SearchMultiSelectField":
        ids: set[str] = set()
        if el is not None:
            ids = {el.get("internalId") or ""} | {
                r.get("internalId") or "" for r in el if isinstance(r.tag, str)
            }
        return select_matches(c, ids - {""})
    if kind == "SearchEnumMultiSelectField":
        return select_matches(c, {_text(el)} if el is not None else set())
    if kind == "SearchBooleanField":
        flag = el is not None and _text(el) == "true"
        return flag == ((str(c.values[0]).lower() == "true") if c.values else True)
    if kind == "SearchStringField":
        return _string_match(c, _text(el) if el is not None else None)
    if kind == "SearchDateField":
        when = parse_datetime(_text(el), view.tz) if el is not None and _text(el) else None
        return date_matches(c, when, now)
    if kind in ("SearchLongField", "SearchDoubleField", "SearchTextNumberField"):
        actual_number = _number(_text(el)) if el is not None and _text(el) else None
        return _compare(c.operator, actual_number, tuple(_number(v) for v in c.values))
    raise SearchError(f"Search fields of type {c.kind} are not evaluated by this sandbox account.")
