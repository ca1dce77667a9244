"""The OData toolkit's multipart ``$batch``: what goes on the wire, and how each answer finds its request."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP

import requests

from connectors.errors import ConflictError, TransientError
from connectors.odata import BatchRequest, ODataClient, multipart_body, parse_multipart
from connectors.rest import MockTransport, RestSession, fake_response

ROOT = "https://b1.example.com:50000/b1s/v2"


def _answer(boundary: str, parts: list[str]) -> bytes:
    return ("\r\n".join(f"--{boundary}\r\n{p}" for p in parts) + f"\r\n--{boundary}--\r\n").encode()


def _changeset(cs: str, cid: str, status_line: str, body: str = "") -> str:
    return (
        f"Content-Type: multipart/mixed;boundary={cs}\r\n\r\n--{cs}\r\n"
        "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        f"Content-ID: {cid}\r\n\r\n{status_line}\r\nContent-Type: application/json\r\n\r\n{body}\r\n--{cs}--"
    )


def test_each_change_travels_in_its_own_change_set_with_its_content_id_under_the_service_root() -> None:
    requests_ = [
        BatchRequest(
            "1", "PATCH", "Invoices(7)", body={"U_ARB_Status": "reminded"}, headers={"If-Match": "W/1"}
        ),
        BatchRequest("r", "GET", "BusinessPartners('C1')"),
    ]
    content_type, body = multipart_body(requests_, "/b1s/v2")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    change, read = list(message.iter_parts())
    assert change.is_multipart()
    [inner] = list(change.iter_parts())
    assert inner["Content-ID"] == "1"
    text = inner.get_payload(decode=True).decode()
    assert text.startswith("PATCH /b1s/v2/Invoices(7) HTTP/1.1")
    assert "If-Match: W/1" in text and json.loads(text.split("\r\n\r\n", 1)[1]) == {
        "U_ARB_Status": "reminded"
    }
    assert read.get_payload(decode=True).decode().startswith("GET /b1s/v2/BusinessPartners('C1') HTTP/1.1")


def test_a_refused_change_stops_the_batch_and_the_changes_after_it_come_back_as_not_executed() -> None:
    sent = [BatchRequest(str(n), "PATCH", f"Invoices({n})", body={"Comments": "x"}) for n in (1, 2, 3)]
    refused = json.dumps(
        {"error": {"code": "-2039", "message": "Another user or another operation modified data"}}
    )
    answer = _answer(
        "batchresponse_1",
        [
            _changeset("changesetresponse_1", "1", "HTTP/1.1 204 No Content"),
            "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            f"HTTP/1.1 412 Precondition Failed\r\nContent-Type: application/json\r\n\r\n{refused}",
        ],
    )
    answers = parse_multipart("multipart/mixed;boundary=batchresponse_1", answer, sent)
    assert answers["1"].ok
    assert isinstance(answers["2"].error(), ConflictError)
    assert isinstance(answers["3"].error(), TransientError), "a change the service never ran is no success"


def test_odata_client_sends_the_multipart_batch_and_reads_each_answer() -> None:
    seen: list[requests.PreparedRequest] = []

    def service(request: requests.PreparedRequest) -> requests.Response:
        seen.append(request)
        body = _answer(
            "batchresponse_9",
            [_changeset("cs", "a", "HTTP/1.1 201 Created", json.dumps({"DocEntry": 41}))],
        )
        return fake_response(
            200, text=body, headers={"Content-Type": "multipart/mixed;boundary=batchresponse_9"}
        )

    client = ODataClient(ROOT, RestSession(transport=MockTransport(service)))
    answers = client.multipart_batch([BatchRequest("a", "POST", "IncomingPayments", body={"CardCode": "C1"})])
    assert answers["a"].status == 201 and answers["a"].body == {"DocEntry": 41}
    assert seen[0].url == f"{ROOT}/$batch"
    assert seen[0].headers["Content-Type"].startswith("multipart/mixed;boundary=batch_")
