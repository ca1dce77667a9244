"""Check JSON request bodies against Intuit's own XSD (element names, nesting, repetition, simple types).

Intuit's JSON format mirrors its XML schema: keys are element names or attribute names, ``value``
carries the text of simple-content types such as ``ReferenceType``. Sparse updates omit required
elements by design, so completeness is not checked; everything that is present must be Intuit's.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import xmlschema


@lru_cache(maxsize=1)
def load(xsd_dir: str) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(Path(xsd_dir) / "IntuitRestServiceDef.xsd"))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | int | Decimal):
        return str(value)
    return str(value)


def _simple_ok(xsd_type: Any, value: Any) -> bool:
    if isinstance(value, dict | list):
        return False
    try:
        xsd_type.decode(_text(value))
    except Exception:
        return False
    return True


def check(xsd_type: Any, value: Any, path: str) -> list[str]:
    """Every problem of ``value`` as an instance of ``xsd_type`` (empty when it conforms)."""
    problems: list[str] = []
    if xsd_type.is_simple():
        if not _simple_ok(xsd_type, value):
            problems.append(f"{path}: {value!r} is not a valid {xsd_type.local_name or xsd_type}")
        return problems
    attributes = {name.rsplit("}", 1)[-1]: attr for name, attr in xsd_type.attributes.items() if name}
    if xsd_type.has_simple_content():
        if not isinstance(value, dict):
            return [f"{path}: {xsd_type.local_name} must be an object with 'value'"]
        for key, item in value.items():
            if key == "value":
                if not _simple_ok(xsd_type.content, item):
                    problems.append(f"{path}.value: {item!r} is not valid")
            elif key in attributes:
                if not _simple_ok(attributes[key].type, item):
                    problems.append(f"{path}.{key}: {item!r} is not valid")
            else:
                problems.append(f"{path}.{key}: {xsd_type.local_name} has no attribute {key!r}")
        return problems
    if not isinstance(value, dict):
        return [f"{path}: expected an object for {xsd_type.local_name}"]
    children = {e.local_name: e for e in xsd_type.content.iter_elements()}
    for key, item in value.items():
        if key in attributes:
            if not _simple_ok(attributes[key].type, item):
                problems.append(f"{path}.{key}: attribute value {item!r} is not valid")
            continue
        element = children.get(key)
        if element is None:
            problems.append(f"{path}.{key}: {xsd_type.local_name} defines no element {key!r}")
            continue
        if isinstance(item, list):
            if element.max_occurs is not None and element.max_occurs <= 1:
                problems.append(f"{path}.{key}: not repeatable in Intuit's schema")
            for i, entry in enumerate(item):
                problems += check(element.type, entry, f"{path}.{key}[{i}]")
        else:
            problems += check(element.type, item, f"{path}.{key}")
    return problems


def check_entity(schema: xmlschema.XMLSchema, name: str, body: Any) -> list[str]:
    """Problems of ``body`` as Intuit entity ``name`` (``Invoice``, ``Payment`` …)."""
    element = schema.elements.get(name)
    if element is None:
        return [f"{name}: not an Intuit entity"]
    return check(element.type, body, name)


def check_batch(schema: xmlschema.XMLSchema, body: Any) -> list[str]:
    """Problems of a ``/batch`` request body (``IntuitBatchRequest`` with entity items)."""
    batch_type = schema.types["IntuitBatchRequest"]
    item_type = schema.types["BatchItemRequest"]
    if set(body) != {"BatchItemRequest"}:
        return [f"batch: unexpected keys {sorted(set(body) - {'BatchItemRequest'})}"]
    element = next(e for e in batch_type.content.iter_elements() if e.local_name == "BatchItemRequest")
    assert element.max_occurs is None
    problems: list[str] = []
    substitutes = {e.local_name for e in schema.elements["IntuitObject"].iter_substitutes()}
    attributes = {name.rsplit("}", 1)[-1]: attr for name, attr in item_type.attributes.items()}
    for i, item in enumerate(body["BatchItemRequest"]):
        for key, value in item.items():
            where = f"BatchItemRequest[{i}].{key}"
            if key in attributes:
                if not _simple_ok(attributes[key].type, value):
                    problems.append(f"{where}: {value!r} is not a valid {attributes[key].type.local_name}")
            elif key in substitutes:
                problems += check_entity(schema, key, value)
            else:
                problems.append(f"{where}: not an attribute or entity of BatchItemRequest")
    return problems
