"""Fidelity: the sandbox's embedded field table and everything it emits agree with Intuit's own schema.

Intuit's XSD (``../shared/specs/quickbooks/xsd``) is loaded here only; the sandbox never reads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from qbo_sandbox_support import Api, FakeClock

from sandboxes.quickbooks import QuickBooksSandbox, render, schema

XS = "{http://www.w3.org/2001/XMLSchema}"
NS = "{http://schema.intuit.com/finance/v3}"


@pytest.fixture(scope="module")
def intuit(specs_dir: Path) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(specs_dir / "quickbooks" / "xsd" / "IntuitRestServiceDef.xsd"))


def _local(name: str | None) -> str:
    return (name or "").replace(NS, "").replace(XS, "")


def _xsd_fields(intuit: xmlschema.XMLSchema, type_name: str) -> dict[str, Any]:
    xsd_type = intuit.types[type_name]
    return {_local(e.name): e for e in xsd_type.content.iter_elements() if e.name}


def _base_simple(xsd_type: Any) -> str:
    """The XSD built-in a simple type derives from (``IdType`` → ``string``)."""
    while xsd_type is not None and xsd_type.name and not xsd_type.name.startswith(XS):
        if getattr(xsd_type, "enumeration", None):
            return _local(xsd_type.name)
        xsd_type = xsd_type.base_type
    return _local(xsd_type.name) if xsd_type is not None and xsd_type.name else ""


def test_every_type_in_the_table_is_an_intuit_type(intuit: xmlschema.XMLSchema) -> None:
    missing = [name for name in schema.TYPES if name not in intuit.types]
    assert missing == []


@pytest.mark.parametrize("type_name", sorted(schema.TYPES))
def test_every_field_exists_in_intuits_type_with_a_compatible_type_and_order(
    intuit: xmlschema.XMLSchema, type_name: str
) -> None:
    xsd_fields = _xsd_fields(intuit, type_name)
    order = list(xsd_fields)
    positions = []
    for name, field in schema.fields_of(type_name).items():
        assert name in xsd_fields, f"{type_name}.{name} is not in Intuit's {type_name}"
        element = xsd_fields[name]
        assert field.repeated == (element.max_occurs != 1), f"{type_name}.{name}: repetition differs"
        xsd_type = element.type
        if field.type in schema.SIMPLE_TYPES:
            expected = "string" if field.type == "id" else field.type
            actual = "id" if _local(xsd_type.name) == "id" else _base_simple(xsd_type)
            assert actual in (field.type, expected), f"{type_name}.{name}: {field.type} vs {actual}"
        else:
            assert _local(xsd_type.name) == field.type, f"{type_name}.{name}: {field.type} vs {xsd_type.name}"
        positions.append(order.index(name))
    assert positions == sorted(positions), f"{type_name}: fields out of Intuit's sequence order"


def test_enum_values_are_intuits(intuit: xmlschema.XMLSchema) -> None:
    for name, values in schema.ENUMS.items():
        assert values <= set(intuit.types[name].enumeration), name


def test_value_types_and_entity_attributes_are_intuits(intuit: xmlschema.XMLSchema) -> None:
    for name, attributes in schema.VALUE_TYPES.items():
        xsd_type = intuit.types[name]
        assert xsd_type.has_simple_content()
        assert set(attributes) <= set(xsd_type.attributes), name
    entity_attributes = intuit.types["IntuitEntity"].attributes
    for name, type_name in schema.ENTITY_ATTRIBUTES.items():
        assert name in entity_attributes
        assert _local(entity_attributes[name].type.name) in (type_name, f"{type_name}")


def _assert_valid(intuit: xmlschema.XMLSchema, document: str) -> None:
    """Valid against Intuit's schema, except where Intuit's own answers break it the same way.

    QuickBooks lists every custom-field definition on a transaction, leaving out ``StringValue``
    when it is unset (``change_data_capture_response.xml`` does), although the schema requires a
    value; ``test_intuit_itself_emits_custom_fields_without_a_value`` pins that down.
    """
    errors = [e for e in intuit.iter_errors(document) if not _is_unset_custom_field(e)]
    assert errors == [], errors[0] if errors else None


def _is_unset_custom_field(error: Any) -> bool:
    element = getattr(error, "elem", None)
    return (
        element is not None
        and _local(element.tag) == "CustomField"
        and element.find(f"{NS}StringValue") is None
        and element.find(f"{NS}Type") is not None
    )


def test_intuit_itself_emits_custom_fields_without_a_value(
    intuit: xmlschema.XMLSchema, specs_dir: Path
) -> None:
    sample = specs_dir / "quickbooks/samples/ruckus-quickbooks-ruby-xml/change_data_capture_response.xml"
    errors = list(intuit.iter_errors(sample.read_text()))
    assert errors
    assert any(_is_unset_custom_field(e) for e in errors)


def _all_records(sandbox: QuickBooksSandbox) -> dict[str, list[dict[str, Any]]]:
    return {entity: [table[key] for key in table] for entity, table in sandbox.db.items()}


def test_every_record_of_the_demo_company_validates_against_intuits_schema(
    intuit: xmlschema.XMLSchema, sandbox: QuickBooksSandbox
) -> None:
    records = _all_records(sandbox)
    assert sum(len(v) for v in records.values()) > 200
    for entity, rows in records.items():
        payload = {
            "QueryResponse": {entity: rows, "startPosition": 1, "maxResults": len(rows)},
            "time": sandbox.response_time(),
        }
        _assert_valid(intuit, render.to_xml(payload).decode())


def test_every_json_field_the_sandbox_emits_is_in_its_proven_table(sandbox: QuickBooksSandbox) -> None:
    for entity, rows in _all_records(sandbox).items():
        for row in rows:
            schema.validate(entity, json.loads(render.to_json(row)), entity=True)


def test_large_seed_records_validate_too(intuit: xmlschema.XMLSchema, clock: FakeClock) -> None:
    with QuickBooksSandbox(clock=clock, seed="large", records=200) as big:
        rows = [big.db["Invoice"][key] for key in list(big.db["Invoice"])[:50]]
        customers = [big.db["Customer"][key] for key in list(big.db["Customer"])[:10]]
        for entity, data in (("Invoice", rows), ("Customer", customers)):
            payload = {"QueryResponse": {entity: data}, "time": big.response_time()}
            _assert_valid(intuit, render.to_xml(payload).decode())
            for row in data:
                schema.validate(entity, json.loads(render.to_json(row)), entity=True)


def _xml(api: Api, method: str, path: str, **kwargs: Any) -> str:
    response = api.http.request(method, api.url(path), headers={"Accept": "application/xml"}, **kwargs)
    assert response.headers["Content-Type"].startswith("application/xml"), response.text
    return response.text


def test_xml_answers_of_every_endpoint_validate(
    intuit: xmlschema.XMLSchema, api: Api, sandbox: QuickBooksSandbox, clock: FakeClock
) -> None:
    invoice_id = next(iter(sandbox.db["Invoice"]))
    invoice = sandbox.db["Invoice"][invoice_id]
    since = sandbox.company.stamp(clock.now.replace(day=1))
    sandbox.touch("Customer", "1")
    documents = [
        _xml(api, "GET", f"invoice/{invoice_id}"),
        _xml(api, "GET", "companyinfo/1"),
        _xml(api, "GET", "query", params={"query": "SELECT * FROM Payment MAXRESULTS 20"}),
        _xml(api, "GET", "query", params={"query": "SELECT COUNT(*) FROM Invoice"}),
        _xml(api, "GET", "query", params={"query": "SELECT * FROM Nothing"}),
        _xml(
            api,
            "POST",
            "invoice",
            json={"Id": invoice_id, "SyncToken": invoice["SyncToken"]},
            params={"operation": "delete"},
        ),
        _xml(api, "GET", "cdc", params={"entities": "Customer,Invoice,Payment", "changedSince": since}),
        _xml(
            api,
            "POST",
            "batch",
            json={
                "BatchItemRequest": [
                    {"bId": "1", "Query": "SELECT * FROM Term"},
                    {"bId": "2", "operation": "create", "Customer": {"Bogus": 1}},
                    {"bId": "3", "operation": "create", "Customer": {"DisplayName": "Batch Made Ltd"}},
                ]
            },
        ),
    ]
    sandbox.set_throttle(0)
    throttled = api.query("SELECT * FROM Term")
    assert throttled.status_code == 429
    documents.append(throttled.text)
    for document in documents:
        _assert_valid(intuit, document)


def test_fault_json_has_the_shape_of_intuits_fixture(specs_dir: Path, api: Api) -> None:
    fixture = json.loads((specs_dir / "quickbooks/samples/tax_service_error_dup.json").read_text())
    ours = api.query("SELECT * FROM Nothing").json()
    assert set(ours) == set(fixture)
    assert set(ours["Fault"]) == set(fixture["Fault"])
    assert set(ours["Fault"]["Error"][0]) == set(fixture["Fault"]["Error"][0])


def test_throttle_fault_matches_intuits_429_fixture(
    specs_dir: Path, api: Api, sandbox: QuickBooksSandbox
) -> None:
    from xml.etree import ElementTree as ET

    fixture = ET.parse(
        specs_dir / "quickbooks/samples/ruckus-quickbooks-ruby-xml/too_many_requests_error.xml"
    )
    sandbox.set_throttle(0)
    ours = ET.fromstring(api.query("SELECT * FROM Term").content)

    def error(root: ET.Element) -> tuple[str | None, str | None, str | None, str | None]:
        node = root.find(f"{NS}Fault/{NS}Error")
        assert node is not None
        fault = root.find(f"{NS}Fault")
        assert fault is not None
        return (
            fault.get("type"),
            node.get("code"),
            node.findtext(f"{NS}Message"),
            node.findtext(f"{NS}Detail"),
        )

    assert error(ours) == error(fixture.getroot())
