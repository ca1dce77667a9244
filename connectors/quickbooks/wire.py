"""Intuit's XML wire format turned into the dict shape of Intuit's JSON format.

QuickBooks answers in JSON when asked, but some faults (throttling above all) come back as XML
regardless of ``Accept``, and Intuit's own reference fixtures are XML. Converting both into one
shape lets the mapping and the fault classifier see a single format.

The conversion follows Intuit's JSON conventions: references (``CustomerRef``) become
``{"value": ..., "name": ...}``, attributes (``domain``, ``sparse``, ``status``, ``code``) become
keys, and elements the schema declares repeatable (``Line``, ``LinkedTxn``, ``CustomField`` …)
are always lists even when only one is present.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

# Elements Finance.xsd / IntuitRestServiceDef.xsd declare with maxOccurs > 1 that the connector
# reads; a test checks this table against the schema so it cannot drift silently.
REPEATED = frozenset(
    {
        "Line",
        "LinkedTxn",
        "CustomField",
        "NameValue",
        "TaxLine",
        "Error",
        "BatchItemResponse",
        "AttachableRef",
        "OtherAddr",
        "OtherContactInfo",
        "Tag",
        "CDCResponse",
    }
)

# Entities whose QueryResponse is always an array in JSON, even with a single match.
ENTITIES = frozenset(
    {"Customer", "Invoice", "CreditMemo", "Payment", "CompanyInfo", "Term", "Bill", "BillPayment"}
)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _element_to_value(elem: ET.Element, parent: str | None) -> Any:
    name = _local(elem.tag)
    children = list(elem)
    attrs = {_local(k): v for k, v in elem.attrib.items()}
    text = (elem.text or "").strip()
    if not children:
        if attrs or name.endswith("Ref"):
            out: dict[str, Any] = dict(attrs)
            out["value"] = text
            return out
        return text
    result: dict[str, Any] = dict(attrs)
    for child in children:
        key = _local(child.tag)
        value = _element_to_value(child, name)
        as_list = (
            key in REPEATED
            or (key == "QueryResponse" and name == "CDCResponse")
            or (key in ENTITIES and name == "QueryResponse")
        )
        if as_list:
            result.setdefault(key, []).append(value)
        elif key in result:
            # A repeat the table does not know about still keeps every occurrence.
            existing = result[key]
            result[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            result[key] = value
    return result


def xml_to_dict(text: str | bytes) -> dict[str, Any]:
    """Parse an Intuit XML document into Intuit's JSON shape.

    ``<IntuitResponse>`` is unwrapped (its children become top-level keys, its ``time`` attribute
    the ``time`` key), exactly as the JSON format does; a bare entity document such as
    ``<Invoice>…</Invoice>`` becomes ``{"Invoice": {...}}``.

    Raises:
        ValueError: the text is not well-formed XML.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from exc
    name = _local(root.tag)
    if name == "IntuitResponse":
        value = _element_to_value(root, None)
        return value if isinstance(value, dict) else {}
    return {name: _element_to_value(root, None)}


def looks_like_xml(text: str) -> bool:
    """True when a body is XML (Intuit sends some faults as XML even when JSON was asked for)."""
    return text.lstrip().startswith("<")
