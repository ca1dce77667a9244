"""The NetSuite sandbox's envelope checks against Oracle's full schema, SOAPAction, searches, getAll."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import requests
from lxml import etree
from pydantic import SecretStr

from connectors.netsuite.client import Credentials, SuiteTalkClient, as_list, to_python
from sandboxes.netsuite import NetSuiteSandbox


@pytest.fixture
def sandbox() -> Iterator[NetSuiteSandbox]:
    with NetSuiteSandbox(seed="empty") as sb:
        yield sb


def _operation(body: bytes) -> str:
    return str(etree.QName(etree.fromstring(body).find(f"{{{SOAP}}}Body")[0]).localname)


def _post(sb: NetSuiteSandbox, body: bytes, action: str | None = None) -> requests.Response:
    headers = {"Content-Type": "text/xml", "SOAPAction": f'"{action or _operation(body)}"'}
    return requests.post(sb.url, data=body, headers=headers, timeout=10)


SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
ENVELOPE = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:m="urn:messages_2023_2.platform.webservices.netsuite.com" '
    'xmlns:c="urn:core_2023_2.platform.webservices.netsuite.com" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'
)


def test_sandbox_rejects_an_envelope_that_violates_the_schema(sandbox: NetSuiteSandbox) -> None:
    # getDeleted with an element SuiteTalk does not define, a get with no baseRef, and a record type
    # Oracle's RecordType does not list.
    for body in (
        "<m:getDeleted><m:pageNumber>1</m:pageNumber></m:getDeleted>",
        "<m:get/>",
        '<m:get><m:baseRef xsi:type="c:RecordRef" type="nonsenseOrder" internalId="1"/></m:get>',
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


def _client(sb: NetSuiteSandbox) -> SuiteTalkClient:
    return SuiteTalkClient(
        Credentials(
            sb.account,
            sb.consumer_key,
            SecretStr(sb.consumer_secret),
            sb.token_id,
            SecretStr(sb.token_secret),
        ),
        wsdl_url=sb.files.wsdl.as_uri(),
        endpoint=sb.url,
    )


def test_a_request_without_soapaction_is_refused_like_axis_refuses_it(sandbox: NetSuiteSandbox) -> None:
    envelope = _client(sandbox).envelope("getAll", record={"recordType": "currency"})
    answer = requests.post(sandbox.url, data=envelope, headers={"Content-Type": "text/xml"}, timeout=10)
    assert answer.status_code == 500
    fault = etree.fromstring(answer.content).find(".//{*}Fault")
    assert fault is not None
    assert fault.findtext("faultcode") == "ns1:Client.NoSOAPAction"
    assert fault.findtext("faultstring") == "no SOAPAction header!"


def test_a_soapaction_naming_another_operation_is_refused(sandbox: NetSuiteSandbox) -> None:
    envelope = _client(sandbox).envelope("getAll", record={"recordType": "currency"})
    answer = _post(sandbox, envelope, action="delete")
    assert answer.status_code == 500
    assert b"does not name the operation in the body (getAll)" in answer.content
    assert sandbox.calls("getAll") == 1 and sandbox.requests_log[-1].status == 500


def test_get_all_currencies_answers_the_accounts_currencies(sandbox: NetSuiteSandbox) -> None:
    client = _client(sandbox)
    answer = client.call("getAll", record={"recordType": "currency"})
    result = to_python(answer)["getAllResult"]
    assert result["status"]["isSuccess"] == "true"
    assert result["totalRecords"] == "3"
    assert {r["symbol"] for r in as_list(result["recordList"])} == {"USD", "EUR", "GBP"}
    states = to_python(client.call("getAll", record={"recordType": "state"}))["getAllResult"]
    assert states["totalRecords"] == "0"


def test_a_search_value_without_a_time_zone_is_answered_not_dropped(sandbox: NetSuiteSandbox) -> None:
    body = (
        '<m:search><m:searchRecord xsi:type="cm:TransactionSearchBasic" '
        'xmlns:cm="urn:common_2023_2.platform.webservices.netsuite.com">'
        '<cm:lastModifiedDate operator="after"><c:searchValue>2024-03-01T10:00:00</c:searchValue>'
        "</cm:lastModifiedDate></m:searchRecord></m:search>"
    )
    client = _client(sandbox)
    header = etree.fromstring(client.envelope("getAll", record={"recordType": "currency"})).find(
        f"{{{SOAP}}}Header"
    )
    envelope = etree.fromstring(ENVELOPE.format(body=body).encode())
    envelope.insert(0, header)
    answer = _post(sandbox, etree.tostring(envelope))
    assert answer.status_code == 200, answer.text
    result = etree.fromstring(answer.content).find(".//{*}searchResult")
    assert result is not None and result.findtext("{*}totalRecords") == "0"


def test_joined_criteria_the_account_cannot_evaluate_are_refused_by_name_not_answered_wrongly(
    sandbox: NetSuiteSandbox,
) -> None:
    client = _client(sandbox)
    search = client.type("relationships", "CustomerSearch")(
        transactionJoin=client.type("common", "TransactionSearchBasic")(
            tranId=client.type("core", "SearchStringField")(searchValue="INV1", operator="is")
        )
    )
    result = to_python(client.call("search", searchRecord=search))["searchResult"]
    assert result["status"]["isSuccess"] == "false"
    detail = result["status"]["statusDetail"]
    assert detail["code"] == "INVALID_SRCH_CRITERIA" and "transactionJoin" in detail["message"]


def test_an_envelope_cut_short_by_a_dying_client_is_never_acted_on(sandbox: NetSuiteSandbox) -> None:
    envelope = _client(sandbox).envelope("getAll", record={"recordType": "currency"})
    head = (
        f"POST /services/NetSuitePort_2023_2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
        f'SOAPAction: "getAll"\r\nContent-Length: {len(envelope)}\r\n\r\n'
    ).encode()
    with socket.create_connection(("127.0.0.1", sandbox.port)) as client:
        client.sendall(head + envelope[: len(envelope) // 2])
    time.sleep(0.3)
    assert sandbox.requests_log == []
    assert _post(sandbox, envelope).status_code == 200
    assert [r.operation for r in sandbox.requests_log] == ["getAll"]


def test_a_user_note_is_checked_against_oracles_note_record_and_its_references(
    sandbox: NetSuiteSandbox,
) -> None:
    # ``memo`` is a field of transactions, not of Oracle's Note (it calls the text ``note``).
    wrong_field = ENVELOPE.format(
        body='<m:add><m:record xsi:type="gc:Note" '
        'xmlns:gc="urn:communication_2023_2.general.webservices.netsuite.com">'
        "<gc:title>call</gc:title><gc:memo>pays Monday</gc:memo></m:record></m:add>"
    )
    refused = _post(sandbox, wrong_field.encode())
    client = _client(sandbox)
    note = client.type("communication", "Note")(
        externalId="arb-note-1",
        title="call",
        note="pays Monday",
        entity=client.type("core", "RecordRef")(internalId="424242"),
    )
    answer = to_python(client.call("upsert", record=note).find("{*}writeResponse"))

    assert refused.status_code == 500 and b"SAXException" in refused.content
    assert answer["status"]["isSuccess"] == "false"
    assert as_list(answer["status"]["statusDetail"])[0]["code"] == "INVALID_KEY_OR_REF"
    assert sandbox.ids("note") == []
