"""Turning response payloads (Intuit's JSON shape) into JSON or IntuitResponse XML bytes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree as ET

from sandboxes.quickbooks import schema
from sandboxes.quickbooks.faults import QboFault

NAMESPACE = "http://schema.intuit.com/finance/v3"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(payload: dict[str, Any]) -> bytes:
    """Serialise a payload the way QuickBooks does (money as JSON numbers)."""
    return json.dumps(payload, default=_json_default, separators=(",", ":")).encode()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def _fill(element: ET.Element, type_name: str, value: dict[str, Any]) -> None:
    for name, spec in schema.fields_of(type_name).items():
        if name not in value or value[name] is None:
            continue
        items = value[name] if spec.repeated else [value[name]]
        for item in items:
            if spec.type == "IntuitAnyType":
                continue  # extension blobs stay JSON-only
            child = ET.SubElement(element, name)
            if spec.type in schema.VALUE_TYPES:
                for attribute in schema.VALUE_TYPES[spec.type]:
                    if item.get(attribute) not in (None, ""):
                        child.set(attribute, _text(item[attribute]))
                child.text = _text(item.get("value", ""))
            elif spec.is_complex:
                _fill(child, spec.type, item)
            else:
                child.text = _text(item)


def entity_element(parent: ET.Element | None, entity: str, record: dict[str, Any]) -> ET.Element:
    """One entity as an XML element in schema order (``domain``/``sparse``/``status`` as attributes)."""
    element = ET.Element(entity) if parent is None else ET.SubElement(parent, entity)
    for attribute in schema.ENTITY_ATTRIBUTES:
        if attribute in record:
            element.set(attribute, _text(record[attribute]))
    _fill(element, entity, record)
    return element


def _fault_element(parent: ET.Element, fault: dict[str, Any]) -> None:
    node = ET.SubElement(parent, "Fault", type=str(fault.get("type", "")))
    for error in fault.get("Error", []):
        err = ET.SubElement(node, "Error", code=str(error.get("code", "")))
        if error.get("element"):
            err.set("element", str(error["element"]))
        ET.SubElement(err, "Message").text = str(error.get("Message", ""))
        ET.SubElement(err, "Detail").text = str(error.get("Detail", ""))


def _query_response(parent: ET.Element, response: dict[str, Any]) -> None:
    node = ET.SubElement(parent, "QueryResponse")
    for attribute in ("startPosition", "maxResults", "totalCount"):
        if attribute in response:
            node.set(attribute, str(response[attribute]))
    for key, value in response.items():
        if key in schema.ENTITIES:
            for record in value:
                entity_element(node, key, record)


def _content(parent: ET.Element, key: str, value: Any) -> None:
    if key == "Fault":
        _fault_element(parent, value)
    elif key == "QueryResponse":
        _query_response(parent, value)
    elif key == "CDCResponse":
        for cdc in value:
            node = ET.SubElement(parent, "CDCResponse")
            for response in cdc.get("QueryResponse", []):
                _query_response(node, response)
    elif key == "BatchItemResponse":
        for item in value:
            node = ET.SubElement(parent, "BatchItemResponse", bId=str(item.get("bId", "")))
            for inner_key, inner in item.items():
                if inner_key != "bId":
                    _content(node, inner_key, inner)
    elif key in schema.ENTITIES:
        entity_element(parent, key, value)


def to_xml(payload: dict[str, Any]) -> bytes:
    """Serialise a payload as ``<IntuitResponse>`` XML (the ``time`` key becomes the attribute)."""
    ET.register_namespace("", NAMESPACE)
    root = ET.Element("IntuitResponse", xmlns=NAMESPACE)
    if "time" in payload:
        root.set("time", str(payload["time"]))
    for key, value in payload.items():
        if key != "time":
            _content(root, key, value)
    return b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + ET.tostring(root, encoding="utf-8")


def fault_payload(fault: QboFault, time: str) -> dict[str, Any]:
    """A fault response body in Intuit's JSON shape."""
    return {"Fault": fault.to_json(), "time": time}
