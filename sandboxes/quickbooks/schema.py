"""Intuit's QBO v3 schema, read from ``Finance.xsd`` at run time, and the check of JSON bodies against it.

Nothing of Intuit's schema is copied into the repository: the sandbox loads Intuit's XSD from the
specs folder (``sandboxes.specs``) and accepts every element Intuit defines for an entity, in the
JSON form Intuit's API uses (element and attribute names as keys, ``value`` for the text of a
simple-content type such as ``ReferenceType``).

Values are checked the way QuickBooks' JSON reader converts them into its Java classes: by the
Java type behind the XSD type (text, number, whole number, boolean, date, enumeration), without
the XSD facets. That is what QuickBooks does: it takes ``LineNum: 0`` (python-quickbooks' default
for a new line) although the schema says ``positiveInteger``, and ``""`` for an unset value.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import xmlschema

from sandboxes.quickbooks.faults import QboFault
from sandboxes.specs import QUICKBOOKS, locate

__all__ = [
    "ENTITIES",
    "LIST_ENTITIES",
    "NAMESPACE",
    "READ_ONLY",
    "TRANSACTIONS",
    "WRITABLE",
    "Field",
    "IntuitSchema",
    "load",
]

NAMESPACE = "http://schema.intuit.com/finance/v3"

# The entities this sandbox serves at /v3/company/{realm}/{entity}; lists vs transactions matters
# for deletes (lists are only made inactive) and the default Active filter in queries.
ENTITIES = ("Customer", "Invoice", "CreditMemo", "Payment", "Term", "CompanyInfo")
LIST_ENTITIES = frozenset({"Customer", "Term"})
TRANSACTIONS = frozenset({"Invoice", "CreditMemo", "Payment"})
WRITABLE = frozenset({"Customer", "Invoice", "CreditMemo", "Payment"})

# Read-only fields QuickBooks computes and ignores on input (python-quickbooks sends some of them).
READ_ONLY: dict[str, frozenset[str]] = {
    "Customer": frozenset({"Balance", "BalanceWithJobs", "FullyQualifiedName", "Level", "MetaData"}),
    "Invoice": frozenset(
        {"Balance", "HomeBalance", "TotalAmt", "HomeTotalAmt", "MetaData", "InvoiceLink", "LinkedTxn"}
    ),
    "CreditMemo": frozenset(
        {"Balance", "HomeBalance", "TotalAmt", "HomeTotalAmt", "RemainingCredit", "MetaData"}
    ),
    "Payment": frozenset({"UnappliedAmt", "MetaData", "LinkedTxn"}),
}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
# The Java type Intuit's reader converts each kind of value into, as its error messages name it.
_JAVA_TYPES = {
    "decimal": "java.math.BigDecimal",
    "integer": "java.math.BigInteger",
    "boolean": "java.lang.Boolean",
    "date": "java.util.Date",
    "dateTime": "java.util.Date",
}
_FAMILIES = {"string", "boolean", "decimal", "date", "dateTime"}
# Intuit states text limits in prose, not as XSD facets, and refuses longer text with fault 2050.
_MAX_LENGTH = re.compile(r"max(?:imum)?\.?\s+length\s*:\s*([\d,]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Field:
    """One element (or attribute) of an Intuit type, as the sandbox reads and writes it.

    Attributes:
        name: the element name.
        type: the XSD type's name (``ReferenceType``, ``Line``, ``decimal`` …).
        kind: ``simple``, ``enum``, ``value`` (simple content with attributes, JSON
            ``{"value": …}``), ``complex`` or ``any`` (``IntuitAnyType``, an open extension blob).
        family: for simple, enum and value kinds, how the text is read: ``string``, ``id``,
            ``boolean``, ``decimal``, ``integer``, ``date`` or ``dateTime``.
        repeated: the element may occur more than once (a JSON list).
        attributes: the attribute names of a ``value`` type.
        max_length: the longest text Intuit takes, where its documentation of the element states
            one ("Max. length: 1024 characters."); None where it states none.
    """

    name: str
    type: str
    kind: str
    family: str = ""
    repeated: bool = False
    attributes: tuple[str, ...] = ()
    max_length: int | None = None

    @property
    def is_complex(self) -> bool:
        return self.kind == "complex"


def _family(xsd_type: Any) -> tuple[str, str]:
    """(kind, family) of a simple XSD type."""
    if getattr(xsd_type, "enumeration", None):
        return "enum", "string"
    names: list[str] = []
    current = xsd_type
    while current is not None:
        if current.local_name:
            names.append(current.local_name)
        current = getattr(current, "base_type", None)
    if names and names[0] == "id":
        return "simple", "id"
    if "integer" in names:
        return "simple", "integer"
    primitive = getattr(xsd_type, "primitive_type", None)
    name = primitive.local_name if primitive is not None else ""
    return "simple", name if name in _FAMILIES else "string"


def _documented_max_length(element: Any) -> int | None:
    """The "Max. length: N" of an element's documentation, the limit Intuit enforces on its text."""
    annotation = getattr(element, "annotation", None)
    for doc in getattr(annotation, "documentation", None) or ():
        found = _MAX_LENGTH.search(doc.text or "")
        if found:
            return int(found.group(1).replace(",", ""))
    return None


def _too_long(path: str, limit: int, supplied: int) -> QboFault:
    return QboFault(
        "2050",
        "String length is either shorter or longer than supported by specification",
        f"String length specified does not match the supported length. Min:0 Max:{limit} supported. "
        f"Supplied length:{supplied}",
        element=path,
    )


def _unsupported(element: str, detail: str) -> QboFault:
    return QboFault(
        "2010",
        "Request has invalid or unsupported property",
        f"Property Name:{detail} specified is unsupported or invalid",
        element=element,
    )


def _unrecognized(type_name: str, key: str) -> QboFault:
    return _unsupported(
        key,
        f'Unrecognized field "{key}" (class com.intuit.schema.finance.v3.{type_name}), '
        "not marked as ignorable",
    )


def _wrong_type(path: str, family: str, value: Any) -> QboFault:
    java = _JAVA_TYPES.get(family, family)
    return _unsupported(
        path, f"Can not deserialize value of type {java} from {value!r}: not a valid representation"
    )


class IntuitSchema:
    """Intuit's types as the sandbox uses them: fields in schema order, enumerations, checks.

    Args:
        xsd: Intuit's ``Finance.xsd`` loaded by xmlschema.
    """

    def __init__(self, xsd: xmlschema.XMLSchema) -> None:
        self.xsd = xsd
        self._fields: dict[str, dict[str, Field]] = {}
        self._attributes_of: dict[str, dict[str, Field]] = {}
        self._enumerations: dict[str, frozenset[str]] = {}
        self.entity_attributes: dict[str, Field] = self._attributes("IntuitEntity")

    # -- the shape of types ---------------------------------------------------------------------

    def has_type(self, type_name: str) -> bool:
        return type_name in self.xsd.types

    def _field(self, name: str, xsd_type: Any, repeated: bool) -> Field:
        type_name = xsd_type.local_name or ""
        if xsd_type.is_simple():
            kind, family = _family(xsd_type)
            return Field(name, type_name, kind, family, repeated)
        if xsd_type.has_simple_content():
            _, family = _family(xsd_type.content)
            attributes = tuple(str(a).rsplit("}", 1)[-1] for a in xsd_type.attributes if a)
            return Field(name, type_name, "value", family, repeated, attributes)
        if any(not hasattr(e, "type") or e.type is None for e in xsd_type.content.iter_elements()):
            return Field(name, type_name, "any", "", repeated)
        return Field(name, type_name, "complex", "", repeated)

    def _attributes(self, type_name: str) -> dict[str, Field]:
        out = self._attributes_of.get(type_name)
        if out is None:
            out = {}
            xsd_type: Any = self.xsd.types[type_name]
            for name, attribute in xsd_type.attributes.items():
                if name:
                    local = str(name).rsplit("}", 1)[-1]
                    out[local] = self._field(local, attribute.type, False)
            self._attributes_of[type_name] = out
        return out

    def fields_of(self, type_name: str) -> Mapping[str, Field]:
        """The elements of a complex type, inherited ones included, in Intuit's sequence order."""
        fields = self._fields.get(type_name)
        if fields is None:
            xsd_type: Any = self.xsd.types[type_name]
            fields = {}
            for element in xsd_type.content.iter_elements():
                if getattr(element, "type", None) is None or not element.local_name:
                    continue
                repeated = element.max_occurs is None or element.max_occurs > 1
                field = self._field(element.local_name, element.type, repeated)
                limit = _documented_max_length(element) if field.family == "string" else None
                fields[element.local_name] = replace(field, max_length=limit) if limit else field
            self._fields[type_name] = fields
        return fields

    def enumeration(self, type_name: str) -> frozenset[str]:
        """The values an enumeration type allows."""
        values = self._enumerations.get(type_name)
        if values is None:
            xsd_type: Any = self.xsd.types[type_name]
            values = self._enumerations[type_name] = frozenset(str(v) for v in xsd_type.enumeration or ())
        return values

    # -- checking request bodies ----------------------------------------------------------------

    def validate(self, type_name: str, body: Any, path: str = "", *, entity: bool = False) -> None:
        """Check a JSON body the way QuickBooks' JSON reader does.

        Args:
            type_name: the complex type the body should be (``"Invoice"``, ``"Line"`` …).
            body: the decoded JSON value.
            path: dotted path of the body inside the request, for the fault's ``element``.
            entity: the body is a top-level entity, so ``domain``/``sparse``/``status`` are allowed.

        Raises:
            QboFault: 2010 for an element Intuit does not define or a value of the wrong type,
                2170 for a value outside an enumeration.
        """
        if not isinstance(body, dict):
            raise _wrong_type(path or type_name, type_name, body)
        fields = self.fields_of(type_name)
        attributes = self.entity_attributes if entity else self._attributes(type_name)
        for key, value in body.items():
            where = f"{path}.{key}" if path else key
            if key in attributes:
                self._check_simple(where, attributes[key], value)
                continue
            field = fields.get(key)
            if field is None:
                raise _unrecognized(type_name, key)
            if field.repeated:
                if value is None:
                    continue
                if not isinstance(value, list):
                    raise _wrong_type(where, f"java.util.List<{field.type}>", value)
                for index, item in enumerate(value):
                    self._check_field(field, item, f"{where}[{index}]")
            else:
                self._check_field(field, value, where)

    def _check_field(self, field: Field, value: Any, where: str) -> None:
        if field.kind == "any":
            if value is not None and not isinstance(value, dict | list):
                raise _wrong_type(where, field.type, value)
        elif field.kind == "value":
            self._check_value_type(where, field, value)
        elif field.kind == "complex":
            if value is None or value == "":
                return
            self.validate(field.type, value, where)
        else:
            self._check_simple(where, field, value)

    def _check_value_type(self, path: str, field: Field, value: Any) -> None:
        if value is None or value == "":
            return
        if not isinstance(value, dict):
            raise _wrong_type(path, field.type, value)  # Intuit's reader wants {"value": ...}
        for key, item in value.items():
            if key != "value" and key not in field.attributes:
                raise _unrecognized(field.type, key)
            if isinstance(item, dict | list):
                raise _wrong_type(f"{path}.{key}", "string", item)

    def _check_simple(self, path: str, field: Field, value: Any) -> None:
        """Accept what Intuit's JSON reader coerces; refuse the rest with a 2010 or 2170 fault."""
        if value is None or value == "":
            return  # read like an absent value; python-quickbooks sends "" for unset fields
        if isinstance(value, dict | list):
            raise _wrong_type(path, field.family, value)
        if field.kind == "enum":
            if str(value) not in self.enumeration(field.type):
                raise QboFault("2170", "Invalid Enumeration", f"Invalid Enumeration : {value}", element=path)
            return
        family = field.family
        if family in ("string", "id"):
            if field.max_length is not None and len(str(value)) > field.max_length:
                raise _too_long(path, field.max_length, len(str(value)))
            return  # numbers and booleans coerce to text
        if family == "boolean":
            if isinstance(value, bool) or value in ("true", "false"):
                return
            raise _wrong_type(path, family, value)
        if family in ("decimal", "integer"):
            if isinstance(value, bool):
                raise _wrong_type(path, family, value)
            try:
                number = Decimal(str(value))
            except InvalidOperation:
                raise _wrong_type(path, family, value) from None
            if not number.is_finite() or (family == "integer" and number != number.to_integral_value()):
                raise _wrong_type(path, family, value)
            return
        if family == "date":
            if isinstance(value, str) and _DATE.match(value):
                try:
                    date.fromisoformat(value)
                    return
                except ValueError:
                    pass
            raise _wrong_type(path, family, value)
        if isinstance(value, str) and _DATETIME.match(value):
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
                return
            except ValueError:
                pass
        raise _wrong_type(path, family, value)


@functools.lru_cache(maxsize=4)
def _load(finance_xsd: str) -> IntuitSchema:
    # Loading Intuit's schema takes over a second: one load per file and process.
    return IntuitSchema(xmlschema.XMLSchema(finance_xsd))


def load(specs: str | Path | None = None) -> IntuitSchema:
    """Intuit's schema from the specs folder (``specs``, else the default one).

    Raises:
        SpecsNotFound: the folder does not hold ``quickbooks/xsd/Finance.xsd``.
    """
    root = locate(QUICKBOOKS, specs)
    return _load(str((root / QUICKBOOKS.marker).resolve()))
