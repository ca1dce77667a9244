"""Writes: validation against Intuit's schema, SyncToken, requestid, payments and balances, deletes."""

from __future__ import annotations

import json
import socket
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from qbo_sandbox_support import Api, fault_of

from sandboxes.quickbooks import QuickBooksSandbox


def _open_invoice(api: Api) -> dict[str, Any]:
    rows = api.rows("SELECT * FROM Invoice MAXRESULTS 1000", "Invoice")
    return next(r for r in rows if r["Balance"] == r["TotalAmt"] and r["Balance"] > 100)


def _new_invoice(api: Api, customer: str = "2", amount: float = 300.0) -> dict[str, Any]:
    body = {
        "CustomerRef": {"value": customer},
        "Line": [
            {
                "Amount": amount,
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Consulting"}},
            }
        ],
    }
    response = api.post("Invoice", body)
    assert response.status_code == 200, response.text
    invoice: dict[str, Any] = response.json()["Invoice"]
    return invoice


def test_created_invoice_gets_id_synctoken_totals_and_due_date_from_terms(api: Api) -> None:
    invoice = _new_invoice(api, amount=250.5)
    assert invoice["SyncToken"] == "0"
    assert invoice["TotalAmt"] == 250.5
    assert invoice["Balance"] == 250.5
    assert invoice["DocNumber"]
    assert invoice["DueDate"] > invoice["TxnDate"]
    assert [cf["DefinitionId"] for cf in invoice["CustomField"]] == ["1", "2", "3"]


def test_sparse_update_with_current_synctoken_bumps_it(api: Api) -> None:
    invoice = _open_invoice(api)
    response = api.post(
        "Invoice",
        {
            "Id": invoice["Id"],
            "SyncToken": invoice["SyncToken"],
            "sparse": True,
            "PrivateNote": "Promised to pay Friday",
        },
    )
    assert response.status_code == 200, response.text
    updated = response.json()["Invoice"]
    assert updated["SyncToken"] == str(int(invoice["SyncToken"]) + 1)
    assert updated["PrivateNote"] == "Promised to pay Friday"
    assert updated["MetaData"]["LastUpdatedTime"] >= invoice["MetaData"]["LastUpdatedTime"]
    assert updated["Line"] == invoice["Line"]


def test_stale_synctoken_is_5010_and_changes_nothing(api: Api, sandbox: QuickBooksSandbox) -> None:
    invoice = _open_invoice(api)
    sandbox.touch("Invoice", invoice["Id"])  # someone edits it in QuickBooks meanwhile
    response = api.post(
        "Invoice",
        {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"], "sparse": True, "PrivateNote": "mine"},
    )
    assert response.status_code == 400
    error = fault_of(response)
    assert error["code"] == "5010"
    assert error["Message"] == "Stale Object Error"
    assert api.get("Invoice", invoice["Id"]).get("PrivateNote") != "mine"


def test_update_without_synctoken_is_a_validation_fault(api: Api) -> None:
    invoice = _open_invoice(api)
    response = api.post("Invoice", {"Id": invoice["Id"], "sparse": True, "PrivateNote": "x"})
    error = fault_of(response)
    assert error["code"] == "2020"
    assert "SyncToken" in error["Detail"]


def test_same_requestid_twice_has_one_effect_and_the_same_answer(
    api: Api, sandbox: QuickBooksSandbox
) -> None:
    invoice = _open_invoice(api)
    before = len(sandbox.db["Payment"])
    body = {
        "CustomerRef": invoice["CustomerRef"],
        "TotalAmt": 40,
        "Line": [{"Amount": 40, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
    }
    first = api.post("Payment", body, requestid="pay-0001")
    second = api.post("Payment", body, requestid="pay-0001")
    assert first.status_code == second.status_code == 200
    assert first.json()["Payment"]["Id"] == second.json()["Payment"]["Id"]
    assert len(sandbox.db["Payment"]) == before + 1
    assert api.get("Invoice", invoice["Id"])["Balance"] == invoice["Balance"] - 40
    third = api.post("Payment", body, requestid="pay-0002")
    assert third.json()["Payment"]["Id"] != first.json()["Payment"]["Id"]


def test_payment_applied_to_an_invoice_reduces_its_balance_and_links_both(api: Api) -> None:
    invoice = _open_invoice(api)
    customer = api.get("Customer", invoice["CustomerRef"]["value"])
    amount = round(invoice["Balance"] / 2, 2)
    response = api.post(
        "Payment",
        {
            "CustomerRef": invoice["CustomerRef"],
            "TotalAmt": amount + 10,
            "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert response.status_code == 200, response.text
    payment = response.json()["Payment"]
    assert payment["UnappliedAmt"] == 10
    after = api.get("Invoice", invoice["Id"])
    assert Decimal(str(after["Balance"])) == Decimal(str(invoice["Balance"])) - Decimal(str(amount))
    assert {"TxnId": payment["Id"], "TxnType": "Payment"} in after["LinkedTxn"]
    assert after["SyncToken"] == str(int(invoice["SyncToken"]) + 1)
    balance = api.get("Customer", customer["Id"])["Balance"]
    assert Decimal(str(balance)) == Decimal(str(customer["Balance"])) - Decimal(str(amount + 10))


def test_credit_memo_applied_in_a_payment_uses_up_its_remaining_credit(api: Api) -> None:
    memo = api.rows("SELECT * FROM CreditMemo MAXRESULTS 10", "CreditMemo")
    memo = next(m for m in memo if m["RemainingCredit"] > 0)
    invoice = _new_invoice(api, customer=memo["CustomerRef"]["value"], amount=memo["RemainingCredit"] + 100)
    response = api.post(
        "Payment",
        {
            "CustomerRef": memo["CustomerRef"],
            "TotalAmt": 100,
            "Line": [
                {"Amount": invoice["Balance"], "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]},
                {
                    "Amount": memo["RemainingCredit"],
                    "LinkedTxn": [{"TxnId": memo["Id"], "TxnType": "CreditMemo"}],
                },
            ],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["Payment"]["UnappliedAmt"] == 0
    after = api.get("CreditMemo", memo["Id"])
    assert after["RemainingCredit"] == 0
    assert after["Balance"] == 0
    assert api.get("Invoice", invoice["Id"])["Balance"] == 0


def test_applying_more_than_the_open_balance_is_refused(api: Api) -> None:
    invoice = _open_invoice(api)
    response = api.post(
        "Payment",
        {
            "CustomerRef": invoice["CustomerRef"],
            "TotalAmt": invoice["Balance"] + 50,
            "Line": [
                {
                    "Amount": invoice["Balance"] + 50,
                    "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}],
                }
            ],
        },
    )
    assert fault_of(response)["code"] == "6000"
    assert api.get("Invoice", invoice["Id"])["Balance"] == invoice["Balance"]


def test_unknown_field_is_rejected_with_2010(api: Api) -> None:
    response = api.post(
        "Invoice",
        {
            "CustomerRef": {"value": "2"},
            "CollectionsNotes": "call them",
            "Line": [{"Amount": 1, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}],
        },
    )
    assert response.status_code == 400
    error = fault_of(response)
    assert error["code"] == "2010"
    assert error["Message"] == "Request has invalid or unsupported property"
    assert "CollectionsNotes" in error["Detail"]


def test_unknown_field_inside_a_line_is_rejected(api: Api) -> None:
    response = api.post(
        "Invoice",
        {
            "CustomerRef": {"value": "2"},
            "Line": [
                {"Amount": 1, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"Colour": "red"}}
            ],
        },
    )
    error = fault_of(response)
    assert error["code"] == "2010"
    assert "Colour" in error["Detail"]


def test_wrong_types_are_rejected(api: Api) -> None:
    invoice = _open_invoice(api)
    base = {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"], "sparse": True}
    assert fault_of(api.post("Invoice", {**base, "TxnDate": "next tuesday"}))["code"] == "2010"
    assert fault_of(api.post("Invoice", {**base, "Deposit": "lots"}))["code"] == "2010"
    assert fault_of(api.post("Invoice", {**base, "CustomerRef": "2"}))["code"] == "2010"
    assert fault_of(api.post("Invoice", {**base, "AllowIPNPayment": "maybe"}))["code"] == "2010"
    assert fault_of(api.post("Invoice", {**base, "EmailStatus": "Shouted"}))["code"] == "2170"


def test_custom_field_write_back_to_one_of_the_three_string_fields(api: Api) -> None:
    invoice = _open_invoice(api)
    response = api.post(
        "Invoice",
        {
            "Id": invoice["Id"],
            "SyncToken": invoice["SyncToken"],
            "sparse": True,
            "CustomField": [
                {
                    "DefinitionId": "1",
                    "Name": "Collections Status",
                    "Type": "StringType",
                    "StringValue": "reminded",
                }
            ],
        },
    )
    assert response.status_code == 200, response.text
    fields = {cf["DefinitionId"]: cf for cf in api.get("Invoice", invoice["Id"])["CustomField"]}
    assert fields["1"]["StringValue"] == "reminded"
    assert "StringValue" not in fields["2"]


def test_custom_field_that_the_company_does_not_define_is_rejected(api: Api) -> None:
    invoice = _open_invoice(api)
    response = api.post(
        "Invoice",
        {
            "Id": invoice["Id"],
            "SyncToken": invoice["SyncToken"],
            "sparse": True,
            "CustomField": [{"DefinitionId": "7", "Type": "StringType", "StringValue": "x"}],
        },
    )
    assert fault_of(response)["code"] == "2010"


def test_deleting_an_invoice_answers_with_status_deleted_and_read_is_610(api: Api) -> None:
    invoice = _new_invoice(api)
    response = api.post(
        "Invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]}, operation="delete"
    )
    assert response.status_code == 200
    assert response.json()["Invoice"] == {"domain": "QBO", "status": "Deleted", "Id": invoice["Id"]}
    gone = api.http.get(api.url(f"invoice/{invoice['Id']}"))
    assert gone.status_code == 400
    assert fault_of(gone)["code"] == "610"


def test_deleting_an_invoice_leaves_its_payment_unapplied(api: Api) -> None:
    invoice = _new_invoice(api, amount=80)
    payment = api.post(
        "Payment",
        {
            "CustomerRef": invoice["CustomerRef"],
            "TotalAmt": 80,
            "Line": [{"Amount": 80, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    ).json()["Payment"]
    current = api.get("Invoice", invoice["Id"])
    api.post("Invoice", {"Id": invoice["Id"], "SyncToken": current["SyncToken"]}, operation="delete")
    after = api.get("Payment", payment["Id"])
    assert after["UnappliedAmt"] == 80
    assert after["Line"] == []


def test_customers_cannot_be_deleted_only_made_inactive(api: Api) -> None:
    customer = api.get("Customer", "2")
    response = api.post("Customer", {"Id": "2", "SyncToken": customer["SyncToken"]}, operation="delete")
    assert fault_of(response)["code"] == "500"
    inactive = api.post(
        "Customer", {"Id": "2", "SyncToken": customer["SyncToken"], "sparse": True, "Active": False}
    )
    assert inactive.json()["Customer"]["Active"] is False


def test_invoice_for_an_inactive_customer_is_refused(api: Api) -> None:
    inactive = api.rows("SELECT * FROM Customer WHERE Active = false", "Customer")[0]
    response = api.post(
        "Invoice",
        {
            "CustomerRef": {"value": inactive["Id"]},
            "Line": [{"Amount": 5, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}],
        },
    )
    assert fault_of(response)["code"] == "610"


def test_duplicate_customer_display_name_is_6240(api: Api) -> None:
    existing = api.get("Customer", "1")
    assert fault_of(api.post("Customer", {"DisplayName": existing["DisplayName"]}))["code"] == "6240"


def test_xml_is_served_when_asked_for(api: Api) -> None:
    response = api.http.get(api.url("invoice/3"), headers={"Accept": "application/xml"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    assert response.text.lstrip().startswith("<?xml")
    assert "<Invoice " in response.text


def test_a_batch_cut_short_by_a_dying_client_is_never_acted_on_and_its_requestid_stays_free(
    api: Api, sandbox: QuickBooksSandbox
) -> None:
    invoice = _open_invoice(api)
    body = json.dumps(
        {
            "BatchItemRequest": [
                {
                    "bId": "1",
                    "operation": "update",
                    "Invoice": {
                        "Id": invoice["Id"],
                        "SyncToken": invoice["SyncToken"],
                        "sparse": True,
                        "PrivateNote": "sent whole",
                    },
                }
            ]
        }
    ).encode()
    path = urlsplit(api.url("batch")).path + "?requestid=cut-1&minorversion=75"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: {api.http.headers['Authorization']}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", sandbox.port)) as client:
        client.sendall(head + body[: len(body) // 2])
    time.sleep(0.3)
    assert not any(entry["requestid"] == "cut-1" for entry in sandbox.requests_log)
    whole = api.http.post(api.url("batch"), data=body, params={"requestid": "cut-1", "minorversion": "75"})
    assert whole.status_code == 200, whole.text
    assert whole.json()["BatchItemResponse"][0]["Invoice"]["PrivateNote"] == "sent whole"
    assert [w["applied"] for w in sandbox.writes_log if w["requestid"] == "cut-1"] == [True]
