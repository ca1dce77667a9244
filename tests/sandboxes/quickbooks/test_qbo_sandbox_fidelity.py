"""Fidelity: everything the sandbox emits is valid against Intuit's own schema, which it reads at run time.

Intuit's XSD (``../shared/specs/quickbooks/xsd``) is loaded here as an independent check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from qbo_sandbox_support import Api, FakeClock

from sandboxes.quickbooks import QuickBooksSandbox, render

XS = "{http://www.w3.org/2001/XMLSchema}"
NS = "{http://schema.intuit.com/finance/v3}"


@pytest.fixture(scope="module")
def intuit(specs_dir: Path) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(specs_dir / "quickbooks" / "xsd" / "IntuitRestServiceDef.xsd"))


def _local(name: str | None) -> str:
    return (name or "").replace(NS, "").replace(XS, "")


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
        _assert_valid(intuit, render.to_xml(payload, sandbox.intuit).decode())


def test_every_json_record_the_sandbox_emits_reads_back_as_a_valid_request_body(
    sandbox: QuickBooksSandbox,
) -> None:
    for entity, rows in _all_records(sandbox).items():
        for row in rows:
            sandbox.intuit.validate(entity, json.loads(render.to_json(row)), entity=True)


def test_large_seed_records_validate_too(intuit: xmlschema.XMLSchema, clock: FakeClock) -> None:
    with QuickBooksSandbox(clock=clock, seed="large", records=200) as big:
        rows = [big.db["Invoice"][key] for key in list(big.db["Invoice"])[:50]]
        customers = [big.db["Customer"][key] for key in list(big.db["Customer"])[:10]]
        for entity, data in (("Invoice", rows), ("Customer", customers)):
            payload = {"QueryResponse": {entity: data}, "time": big.response_time()}
            _assert_valid(intuit, render.to_xml(payload, big.intuit).decode())
            for row in data:
                big.intuit.validate(entity, json.loads(render.to_json(row)), entity=True)


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
