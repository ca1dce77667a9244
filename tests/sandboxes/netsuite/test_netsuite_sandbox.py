"""The sandbox's schema subset and its envelope checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from lxml import etree

from sandboxes.netsuite import NetSuiteSandbox
from sandboxes.netsuite.schema import HERE, XSD

_S = f"{{{XSD}}}"


def _components(path: Path) -> dict[tuple[str, str], etree._Element]:
    root = etree.parse(str(path)).getroot()
    tns = root.get("targetNamespace", "")
    return {(tns, f"{etree.QName(c).localname}:{c.get('name')}"): c for c in root if c.get("name")}


def _resolve(el: etree._Element, value: str | None) -> str | None:
    if not value:
        return None
    prefix, _, name = value.rpartition(":")
    return f"{{{el.nsmap.get(prefix or None, '')}}}{name}"


def _shape(el: etree._Element) -> dict[str, object]:
    """Names and resolved types of a component's elements, attributes, bases and enumerations."""
    return {
        "elements": [
            (e.get("name"), _resolve(e, e.get("type")), _resolve(e, e.get("ref")), e.get("maxOccurs"))
            for e in el.iter(_S + "element")
        ],
        "attributes": [(a.get("name"), _resolve(a, a.get("type"))) for a in el.iter(_S + "attribute")],
        "bases": [_resolve(b, b.get("base")) for b in el.iter(_S + "extension", _S + "restriction")],
        "enums": [e.get("value") for e in el.iter(_S + "enumeration")],
        "type": _resolve(el, el.get("type")),
        "abstract": el.get("abstract"),
    }


def test_sandbox_subset_agrees_with_oracle_xsd(specs_dir: Path) -> None:
    oracle_dir = specs_dir / "netsuite" / "2023_2" / "xsd"
    checked = 0
    for ours_path in sorted((HERE / "xsd").glob("*.xsd")):
        ours = _components(ours_path)
        theirs = _components(oracle_dir / ours_path.name)
        for key, comp in ours.items():
            assert key in theirs, f"{ours_path.name}: {key} is not in Oracle's schema"
            mine, oracle = _shape(comp), _shape(theirs[key])
            assert mine["bases"] == oracle["bases"] and mine["type"] == oracle["type"], key
            assert mine["abstract"] == oracle["abstract"], key
            assert mine["attributes"] == oracle["attributes"], key
            # A subset: every element we declare is Oracle's, with its type, in Oracle's order.
            order = [e for e in oracle["elements"] if e in mine["elements"]]  # type: ignore[attr-defined]
            assert mine["elements"] == order, key
            assert set(mine["enums"]) <= set(oracle["enums"]), key  # type: ignore[arg-type]
            checked += 1
    assert checked > 100
    wsdl = etree.parse(str(HERE / "netsuite.wsdl")).getroot()
    oracle_wsdl = etree.parse(str(specs_dir / "netsuite" / "2023_2" / "netsuite.wsdl")).getroot()
    assert wsdl.get("targetNamespace") == oracle_wsdl.get("targetNamespace")
    parts = {
        (p.getparent().get("name"), p.get("name"), p.get("element")) for p in oracle_wsdl.iter("{*}part")
    }
    assert {
        (p.getparent().get("name"), p.get("name"), p.get("element")) for p in wsdl.iter("{*}part")
    } <= parts


@pytest.fixture
def sandbox() -> NetSuiteSandbox:
    sb = NetSuiteSandbox(seed="empty").start()
    yield sb  # type: ignore[misc]
    sb.stop()


def _post(sb: NetSuiteSandbox, body: bytes) -> requests.Response:
    return requests.post(
        sb.url, data=body, headers={"Content-Type": "text/xml", "SOAPAction": '"get"'}, timeout=10
    )


ENVELOPE = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:m="urn:messages_2023_2.platform.webservices.netsuite.com" '
    'xmlns:c="urn:core_2023_2.platform.webservices.netsuite.com" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'
)


def test_sandbox_rejects_an_envelope_that_violates_the_schema(sandbox: NetSuiteSandbox) -> None:
    # getDeleted with an element SuiteTalk does not define, and a get with no baseRef.
    for body in (
        "<m:getDeleted><m:pageNumber>1</m:pageNumber></m:getDeleted>",
        "<m:get/>",
        '<m:get><m:baseRef xsi:type="c:RecordRef" type="salesOrder" internalId="1"/></m:get>',
    ):
        answer = _post(sandbox, ENVELOPE.format(body=body).encode())
        assert answer.status_code == 500
        fault = etree.fromstring(answer.content).find(".//{*}Fault")
        assert fault is not None and fault.findtext("faultcode") == "soapenv:Client"
        assert "SAXException" in (fault.findtext("faultstring") or "")
    assert [r.fault_code for r in sandbox.requests_log] == ["soapenv:Client"] * 3


def test_sandbox_rejects_an_older_wsdl_version(sandbox: NetSuiteSandbox) -> None:
    body = ENVELOPE.replace("2023_2", "2019_1").format(
        body="<m:getDeleted><m:pageIndex>1</m:pageIndex></m:getDeleted>"
    )
    answer = _post(sandbox, body.encode())
    assert answer.status_code == 500 and b"SAXException" in answer.content


def test_sandbox_requires_a_token_passport(sandbox: NetSuiteSandbox) -> None:
    body = ENVELOPE.format(
        body="<m:searchMoreWithId><m:searchId>x</m:searchId><m:pageIndex>1</m:pageIndex></m:searchMoreWithId>"
    )
    answer = _post(sandbox, body.encode())
    assert answer.status_code == 500
    assert b"invalidSessionFault" in answer.content and b"WS_LOG_IN_REQD" in answer.content


def test_sandbox_refuses_a_replayed_token_passport(sandbox: NetSuiteSandbox) -> None:
    from pydantic import SecretStr

    from connectors.netsuite.client import Credentials, SuiteTalkClient

    client = SuiteTalkClient(
        Credentials(
            sandbox.account,
            sandbox.consumer_key,
            SecretStr(sandbox.consumer_secret),
            sandbox.token_id,
            SecretStr(sandbox.token_secret),
        ),
        wsdl_url=sandbox.wsdl_url,
        endpoint=sandbox.url,
    )
    envelope = client.envelope("searchMoreWithId", searchId="x", pageIndex=1)
    first, second = _post(sandbox, envelope), _post(sandbox, envelope)
    assert first.status_code == 200 and second.status_code == 500
    assert b"invalidCredentialsFault" in second.content


def test_sandbox_answers_list_operations_over_the_limit_with_a_record_count_fault(
    sandbox: NetSuiteSandbox,
) -> None:
    from pydantic import SecretStr

    from connectors.netsuite.client import Credentials, SuiteTalkClient

    client = SuiteTalkClient(
        Credentials(
            sandbox.account,
            sandbox.consumer_key,
            SecretStr(sandbox.consumer_secret),
            sandbox.token_id,
            SecretStr(sandbox.token_secret),
        ),
        wsdl_url=sandbox.wsdl_url,
        endpoint=sandbox.url,
    )
    invoice = client.type("sales", "Invoice")
    envelope = client.envelope("updateList", record=[invoice(internalId=str(i)) for i in range(101)])
    answer = _post(sandbox, envelope)
    assert answer.status_code == 500 and b"exceededRecordCountFault" in answer.content
