"""The B1 sandbox refuses what SAP Business One's Service Layer refuses, in the Service Layer's error shape.

What a developer relies on when testing against the sandbox instead of a live B1: a session lives
in two cookies and times out, pages follow ``Prefer: odata.maxpagesize``, user-defined fields
exist only once created, incoming payments move the invoices' open amounts and cannot pay more
than is open, and a bad body is answered as B1 answers it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandboxes.sap_business_one import ServiceLayerSandbox


@pytest.fixture
def b1(specs_dir: Path) -> Iterator[ServiceLayerSandbox]:
    with ServiceLayerSandbox(seed="demo", specs=str(specs_dir), throttle=False) as sandbox:
        yield sandbox


def _login(b1: ServiceLayerSandbox) -> requests.Session:
    session = requests.Session()
    answer = session.post(
        f"{b1.service_root}/Login",
        json={"CompanyDB": b1.company_db, "UserName": b1.user, "Password": b1.password},
        timeout=10,
    )
    assert answer.status_code == 200
    return session


def _error(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


def _open_invoice(b1: ServiceLayerSandbox) -> dict[str, Any]:
    return next(d for d in b1.company.tables["Invoices"].values() if d["PaidToDate"] == 0)


def _pay(session: requests.Session, b1: ServiceLayerSandbox, invoice: dict[str, Any], amount: float) -> Any:
    return session.post(
        f"{b1.service_root}/IncomingPayments",
        json={
            "CardCode": invoice["CardCode"],
            "TransferSum": amount,
            "TransferAccount": "_SYS00000000103",
            "PaymentInvoices": [{"DocEntry": invoice["DocEntry"], "SumApplied": amount}],
        },
        timeout=10,
    )


def test_a_request_needs_both_session_cookies_and_a_session_that_has_not_timed_out(
    b1: ServiceLayerSandbox,
) -> None:
    session = _login(b1)
    assert {"B1SESSION", "ROUTEID"} <= set(session.cookies.keys())
    assert session.get(f"{b1.service_root}/BusinessPartners", timeout=10).status_code == 200

    without_route = requests.get(
        f"{b1.service_root}/BusinessPartners", cookies={"B1SESSION": session.cookies["B1SESSION"]}, timeout=10
    )
    assert _error(without_route)[:2] == (401, "301")
    assert _error(requests.get(f"{b1.service_root}/BusinessPartners", timeout=10))[:2] == (401, "301")

    b1.expire_sessions()
    timed_out = session.get(f"{b1.service_root}/BusinessPartners", timeout=10)
    assert _error(timed_out) == (401, "301", "Invalid session or session already timeout.")


def test_a_logged_out_session_is_refused_and_a_wrong_password_opens_none(b1: ServiceLayerSandbox) -> None:
    session = _login(b1)
    assert session.post(f"{b1.service_root}/Logout", timeout=10).status_code == 204
    assert _error(session.get(f"{b1.service_root}/Invoices", timeout=10))[:2] == (401, "301")
    refused = requests.post(
        f"{b1.service_root}/Login",
        json={"CompanyDB": b1.company_db, "UserName": b1.user, "Password": "not it"},
        timeout=10,
    )
    assert refused.status_code == 401 and "B1SESSION" not in refused.cookies


def test_pages_hold_20_records_unless_the_client_prefers_another_size(b1: ServiceLayerSandbox) -> None:
    session = _login(b1)
    invoices = len(b1.company.tables["Invoices"])
    default = session.get(f"{b1.service_root}/Invoices", params={"$select": "DocEntry"}, timeout=10).json()
    assert len(default["value"]) == min(20, invoices)

    seen: list[int] = []
    url: str | None = f"{b1.service_root}/Invoices?$select=DocEntry&$orderby=DocEntry"
    pages = 0
    while url:
        answer = session.get(url, headers={"Prefer": "odata.maxpagesize=4"}, timeout=10)
        assert answer.headers["Preference-Applied"] == "odata.maxpagesize=4"
        body = answer.json()
        assert len(body["value"]) <= 4
        seen += [row["DocEntry"] for row in body["value"]]
        following = body.get("@odata.nextLink")
        url = f"{b1.service_root}/{following}" if following else None
        pages += 1
    assert seen == sorted(b1.company.tables["Invoices"]) and pages == -(-invoices // 4)
    assert all(set(row) - {"@odata.etag"} == {"DocEntry"} for row in default["value"])


def test_a_user_defined_field_is_refused_until_it_is_created_then_stored_and_read(
    b1: ServiceLayerSandbox,
) -> None:
    session = _login(b1)
    invoice = _open_invoice(b1)
    url = f"{b1.service_root}/Invoices({invoice['DocEntry']})"
    before = session.patch(url, json={"U_ARB_CollStatus": "reminded"}, timeout=10)
    assert _error(before) == (400, "-1000", "Property 'U_ARB_CollStatus' of 'Document' is invalid")

    created = session.post(
        f"{b1.service_root}/UserFieldsMD",
        json={"Name": "ARB_CollStatus", "Type": "db_Alpha", "Size": 30, "TableName": "OINV"},
        timeout=10,
    )
    assert created.status_code == 201
    again = session.post(
        f"{b1.service_root}/UserFieldsMD",
        json={"Name": "ARB_CollStatus", "Type": "db_Alpha", "Size": 30, "TableName": "OINV"},
        timeout=10,
    )
    assert _error(again)[:2] == (400, "-10")

    assert session.patch(url, json={"U_ARB_CollStatus": "reminded"}, timeout=10).status_code == 204
    read = session.get(url, params={"$select": "DocEntry,U_ARB_CollStatus"}, timeout=10).json()
    assert read["U_ARB_CollStatus"] == "reminded"
    # Created on one document header, the field is on every one: credit notes take it too.
    note = min(b1.company.tables["CreditNotes"])
    assert (
        session.patch(
            f"{b1.service_root}/CreditNotes({note})", json={"U_ARB_CollStatus": "disputed"}, timeout=10
        ).status_code
        == 204
    )


def test_unknown_properties_and_wrong_types_are_refused_and_read_only_ones_ignored(
    b1: ServiceLayerSandbox,
) -> None:
    session = _login(b1)
    invoice = _open_invoice(b1)
    url = f"{b1.service_root}/Invoices({invoice['DocEntry']})"

    unknown = session.patch(url, json={"DunningStatus": "x"}, timeout=10)
    assert _error(unknown) == (400, "-1000", "Property 'DunningStatus' of 'Document' is invalid")
    wrong_type = session.patch(url, json={"Comments": 42}, timeout=10)
    assert _error(wrong_type)[:2] == (400, "-1000") and "Comments" in _error(wrong_type)[2]
    not_a_member = session.patch(url, json={"BlockDunning": "yes"}, timeout=10)
    assert _error(not_a_member)[:2] == (400, "-1000") and "BoYesNoEnum" in _error(not_a_member)[2]
    assert invoice["Comments"] is None and invoice["BlockDunning"] == "tNO"

    paid_before = invoice["PaidToDate"]
    kept = session.patch(url, json={"PaidToDate": 99.0, "Comments": "called the buyer"}, timeout=10)
    assert kept.status_code == 204
    assert invoice["PaidToDate"] == paid_before and invoice["Comments"] == "called the buyer"
    assert ("Document", "PaidToDate") in b1.ignored


def test_a_stale_etag_is_refused_with_412_and_b1s_code(b1: ServiceLayerSandbox) -> None:
    session = _login(b1)
    invoice = _open_invoice(b1)
    url = f"{b1.service_root}/Invoices({invoice['DocEntry']})"
    etag = session.get(url, timeout=10).headers["ETag"]
    b1.touch("Invoices", invoice["DocEntry"], Comments="edited in B1")
    stale = session.patch(url, json={"Comments": "mine"}, headers={"If-Match": etag}, timeout=10)
    assert _error(stale)[:2] == (412, "-2039") and invoice["Comments"] == "edited in B1"


def test_a_payment_lowers_the_open_amount_closes_a_paid_invoice_and_a_cancel_reopens_it(
    b1: ServiceLayerSandbox,
) -> None:
    session = _login(b1)
    invoice = _open_invoice(b1)
    total = invoice["DocTotal"]
    part = _pay(session, b1, invoice, 10.0)
    assert part.status_code == 201 and part.headers["Location"].endswith(f"({part.json()['DocEntry']})")
    assert invoice["PaidToDate"] == 10.0 and invoice["DocumentStatus"] == "bost_Open"

    rest = _pay(session, b1, invoice, round(total - 10.0, 2))
    assert rest.status_code == 201
    assert invoice["PaidToDate"] == total and invoice["DocumentStatus"] == "bost_Close"

    cancel = session.post(f"{b1.service_root}/IncomingPayments({rest.json()['DocEntry']})/Cancel", timeout=10)
    assert cancel.status_code == 204
    assert invoice["PaidToDate"] == 10.0 and invoice["DocumentStatus"] == "bost_Open"


def test_a_payment_applying_more_than_is_open_is_refused_and_changes_nothing(b1: ServiceLayerSandbox) -> None:
    session = _login(b1)
    invoice = _open_invoice(b1)
    payments = len(b1.company.tables["IncomingPayments"])
    too_much = _pay(session, b1, invoice, round(invoice["DocTotal"] + 0.01, 2))
    status, code, message = _error(too_much)
    assert (status, code) == (400, "-10") and "exceeds the open amount" in message
    assert invoice["PaidToDate"] == 0 and len(b1.company.tables["IncomingPayments"]) == payments


def test_a_batch_stops_at_the_first_refused_change_and_runs_nothing_after_it(b1: ServiceLayerSandbox) -> None:
    session = _login(b1)
    first, second = sorted(b1.company.tables["Invoices"])[:2]
    body = "\r\n".join(
        [
            "--batch_1",
            "Content-Type: multipart/mixed;boundary=changeset_1",
            "",
            "--changeset_1",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "Content-ID: 1",
            "",
            f"PATCH /b1s/v2/Invoices({first}) HTTP/1.1",
            "Content-Type: application/json",
            "",
            '{"NoSuchProperty": 1}',
            "--changeset_1--",
            "--batch_1",
            "Content-Type: multipart/mixed;boundary=changeset_2",
            "",
            "--changeset_2",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "Content-ID: 2",
            "",
            f"PATCH /b1s/v2/Invoices({second}) HTTP/1.1",
            "Content-Type: application/json",
            "",
            '{"Comments": "should not land"}',
            "--changeset_2--",
            "--batch_1--",
            "",
        ]
    )
    answer = session.post(
        f"{b1.service_root}/$batch",
        data=body.encode(),
        headers={"Content-Type": "multipart/mixed;boundary=batch_1"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert "HTTP/1.1 400" in answer.text and "NoSuchProperty" in answer.text
    assert b1.company.tables["Invoices"][second]["Comments"] is None
    assert not any(r["inner"] and r["path"] == f"Invoices({second})" for r in b1.requests_log)


def test_an_activity_takes_the_v2_names_only_belongs_to_a_partner_and_links_one_of_its_invoices(
    b1: ServiceLayerSandbox,
) -> None:
    session = _login(b1)
    invoice = _open_invoice(b1)
    other = next(
        code
        for code, p in b1.company.tables["BusinessPartners"].items()
        if p["CardType"] == "cCustomer" and code != invoice["CardCode"]
    )
    url = f"{b1.service_root}/Activities"

    v1_name = session.post(url, json={"CardCode": invoice["CardCode"], "Activity": "cn_Note"}, timeout=10)
    assert _error(v1_name) == (400, "-1000", "Property 'Activity' of 'Activity' is invalid")
    not_a_kind = session.post(
        url, json={"CardCode": invoice["CardCode"], "ActivityProperty": "cn_Letter"}, timeout=10
    )
    assert _error(not_a_kind)[:2] == (400, "-1000") and "BoActivities" in _error(not_a_kind)[2]
    nobody = session.post(url, json={"CardCode": "NOBODY", "ActivityProperty": "cn_Note"}, timeout=10)
    assert _error(nobody)[:2] == (400, "-10") and "NOBODY" in _error(nobody)[2]
    elsewhere = session.post(
        url,
        json={"CardCode": other, "DocType": "13", "DocEntry": str(invoice["DocEntry"]), "Notes": "x"},
        timeout=10,
    )
    assert _error(elsewhere)[:2] == (400, "-10") and "another partner" in _error(elsewhere)[2]
    assert b1.company.tables["Activities"] == {}

    made = session.post(
        url,
        json={
            "CardCode": invoice["CardCode"],
            "ActivityProperty": "cn_Note",
            "ActivityDate": "2026-11-23",
            "Notes": "promised to pay by Friday",
            "DocType": "13",
            "DocEntry": str(invoice["DocEntry"]),
        },
        timeout=10,
    )
    assert made.status_code == 201
    code = made.json()["ActivityCode"]
    read = session.get(f"{url}({code})", timeout=10)
    assert read.json()["Notes"] == "promised to pay by Friday" and read.headers["ETag"]
    assert [a["ActivityCode"] for a in b1.company.activities_of(invoice["CardCode"])] == [code]
