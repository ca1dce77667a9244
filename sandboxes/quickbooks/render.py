"""Turning response payloads (Intuit's JSON shape) into JSON or IntuitResponse XML bytes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree as ET

from sandboxes.quickbooks.faults import QboFault
from sandboxes.quickbooks.schema import ENTITIES, NAMESPACE, IntuitSchema

__all__ = ["NAMESPACE", "entity_element", "fault_payload", "to_json", "to_xml"]


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


def _fill(intuit: IntuitSchema, element: ET.Element, type_name: str, value: dict[str, Any]) -> None:
    for name, spec in intuit.fields_of(type_name).items():
        if name not in value or value[name] is None:
            continue
        items = value[name] if spec.repeated else [value[name]]
        for item in items:
            if spec.kind == "any":
                continue  # extension blobs stay JSON-only
            child = ET.SubElement(element, name)
            if spec.kind == "value":
                for attribute in spec.attributes:
                    if item.get(attribute) not in (None, ""):
                        child.set(attribute, _text(item[attribute]))
                child.text = _text(item.get("value", ""))
            elif spec.is_complex:
                _fill(intuit, child, spec.type, item)
            else:
                child.text = _text(item)


def entity_element(
    intuit: IntuitSchema, parent: ET.Element | None, entity: str, record: dict[str, Any]
) -> ET.Element:
    """One entity as an XML element in schema order (``domain``/``sparse``/``status`` as attributes)."""
    element = ET.Element(entity) if parent is None else ET.SubElement(parent, entity)
    for attribute in intuit.entity_attributes:
        if attribute in record:
            element.set(attribute, _text(record[attribute]))
    _fill(intuit, element, entity, record)
    return element


def _fault_element(parent: ET.Element, fault: dict[str, Any]) -> None:
    node = ET.SubElement(parent, "Fault", type=str(fault.get("type", "")))
    for error in fault.get("Error", []):
        err = ET.SubElement(node, "Error", code=str(error.get("code", "")))
        if error.get("element"):
            err.set("element", str(error["element"]))
        ET.SubElement(err, "Message").text = str(error.get("Message", ""))
        ET.SubElement(err, "Detail").text = str(error.get("Detail", ""))


def _query_response(intuit: IntuitSchema, parent: ET.Element, response: dict[str, Any]) -> None:
    node = ET.SubElement(parent, "QueryResponse")
    for attribute in ("startPosition", "maxResults", "totalCount"):
        if attribute in response:
            node.set(attribute, str(response[attribute]))
    for key, value in response.items():
        if key in ENTITIES:
            for record in value:
                entity_element(intuit, node, key, record)


def _content(intuit: IntuitSchema, parent: ET.Element, key: str, value: Any) -> None:
    if key == "Fault":
        _fault_element(parent, value)
    elif key == "QueryResponse":
        _query_response(intuit, parent, value)
    elif key == "CDCResponse":
        for cdc in value:
            node = ET.SubElement(parent, "CDCResponse")
            for response in cdc.get("QueryResponse", []):
                _query_response(intuit, node, response)
    elif key == "BatchItemResponse":
        for item in value:
            node = ET.SubElement(parent, "BatchItemResponse", bId=str(item.get("bId", "")))
            for inner_key, inner in item.items():
                if inner_key != "bId":
                    _content(intuit, node, inner_key, inner)
    elif key in ENTITIES:
        entity_element(intuit, parent, key, value)


def to_xml(payload: dict[str, Any], intuit: IntuitSchema) -> bytes:
    """Serialise a payload as ``<IntuitResponse>`` XML (the ``time`` key becomes the attribute)."""
    ET.register_namespace("", NAMESPACE)
    root = ET.Element("IntuitResponse", xmlns=NAMESPACE)
    if "time" in payload:
        root.set("time", str(payload["time"]))
    for key, value in payload.items():
        if key != "time":
            _content(intuit, root, key, value)
    return b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + ET.tostring(root, encoding="utf-8")


def fault_payload(fault: QboFault, time: str) -> dict[str, Any]:
    """A fault response body in Intuit's JSON shape."""
    return {"Fault": fault.to_json(), "time": time}
