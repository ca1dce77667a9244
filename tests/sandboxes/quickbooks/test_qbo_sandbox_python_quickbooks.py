"""A widely used third-party client (python-quickbooks, with intuitlib for OAuth) against the sandbox."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator

import pytest
from intuitlib.client import AuthClient
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.payment import Payment, PaymentLine

from sandboxes.quickbooks import QuickBooksSandbox


@pytest.fixture
def qb(sandbox: QuickBooksSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[QuickBooks]:
    # The sandbox speaks plain http on localhost; oauthlib allows that only when told to.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    # intuitlib reads its endpoints from a discovery document when given its URL as environment.
    auth = AuthClient(
        sandbox.client_id,
        sandbox.client_secret,
        "http://localhost/callback",
        environment=sandbox.discovery_url,
    )
    refresh_token = sandbox.issue_refresh_token()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = QuickBooks(
            auth_client=auth, refresh_token=refresh_token, company_id=sandbox.realm_id, minorversion=75
        )
    client.api_url_v3 = f"{sandbox.base_url}/v3"
    assert client.refresh_token != refresh_token  # the refresh rotated it
    yield client


def test_python_quickbooks_lists_customers_and_invoices(qb: QuickBooks) -> None:
    customers = Customer.all(max_results=1000, qb=qb)
    invoices = Invoice.filter(max_results=1000, qb=qb)
    assert len(customers) == 22
    assert len(invoices) == 120
    assert all(invoice.CustomerRef.value for invoice in invoices)
    assert Customer.count(qb=qb) == 22


def test_python_quickbooks_queries_with_where_clause(qb: QuickBooks) -> None:
    invoice = Invoice.all(max_results=1, qb=qb)[0]
    found = Invoice.filter(DocNumber=invoice.DocNumber, qb=qb)
    assert [i.Id for i in found] == [invoice.Id]
    assert Invoice.get(invoice.Id, qb=qb).DocNumber == invoice.DocNumber


def test_python_quickbooks_creates_a_payment_that_pays_an_invoice(qb: QuickBooks) -> None:
    invoice = next(i for i in Invoice.all(max_results=1000, qb=qb) if float(i.Balance) > 50)
    balance = float(invoice.Balance)
    payment = Payment()
    payment.TotalAmt = 50
    customer = Ref()
    customer.value = invoice.CustomerRef.value
    payment.CustomerRef = customer
    line = PaymentLine()
    line.Amount = 50
    link = LinkedTxn()
    link.TxnId = invoice.Id
    link.TxnType = "Invoice"
    line.LinkedTxn.append(link)
    payment.Line.append(line)
    saved = payment.save(qb=qb, request_id="client-pay-1")
    assert saved.Id
    assert float(saved.UnappliedAmt) == 0
    assert float(Invoice.get(invoice.Id, qb=qb).Balance) == pytest.approx(balance - 50)


def test_python_quickbooks_gets_error_5010_for_a_stale_synctoken(
    qb: QuickBooks, sandbox: QuickBooksSandbox
) -> None:
    customer = Customer.all(max_results=1, qb=qb)[0]
    sandbox.touch("Customer", customer.Id)
    customer.Notes = "called on Monday"
    with pytest.raises(QuickbooksException) as caught:
        customer.save(qb=qb)
    assert caught.value.error_code == 5010
    assert caught.value.message == "Stale Object Error"


def test_python_quickbooks_full_invoice_update_with_tax_inclusive_amounts_is_accepted(
    qb: QuickBooks, sandbox: QuickBooksSandbox
) -> None:
    invoice = next(i for i in Invoice.all(max_results=1000, qb=qb) if not i.LinkedTxn)
    sales_lines = [line for line in invoice.Line if line.DetailType == "SalesItemLineDetail"]
    assert sales_lines
    for line in sales_lines:
        line.SalesItemLineDetail.TaxInclusiveAmt = line.Amount
    invoice.PrivateNote = "full update from python-quickbooks"
    body = json.loads(invoice.to_json())
    assert body.get("sparse") in (None, False)  # a full update, every field sent back
    # An element of Intuit's SalesItemLineDetail (Finance.xsd) that the library always sends.
    assert all(
        "TaxInclusiveAmt" in line["SalesItemLineDetail"]
        for line in body["Line"]
        if "SalesItemLineDetail" in line
    )
    saved = invoice.save(qb=qb)
    assert saved.PrivateNote == "full update from python-quickbooks"
    assert int(saved.SyncToken) == int(body["SyncToken"]) + 1
    stored = sandbox.db["Invoice"][invoice.Id]
    assert stored["PrivateNote"] == "full update from python-quickbooks"
    assert float(stored["TotalAmt"]) == pytest.approx(float(body["TotalAmt"]))


def test_python_quickbooks_invoice_built_from_its_line_objects_is_created(qb: QuickBooks) -> None:
    customer = Customer.all(max_results=1, qb=qb)[0]
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    for amount, description in ((120, "Pallet of widgets"), (80.5, "Delivery")):
        line = SalesItemLine()  # LineNum 0, Qty 0 and UnitPrice 0 unless set, as the library sends them
        line.Amount = amount
        line.Description = description
        line.SalesItemLineDetail = SalesItemLineDetail()
        item = Ref()
        item.value = "1"
        item.name = "Services"
        line.SalesItemLineDetail.ItemRef = item
        invoice.Line.append(line)
    assert json.loads(invoice.to_json())["Line"][0]["LineNum"] == 0
    saved = invoice.save(qb=qb, request_id="client-invoice-1")
    assert saved.Id
    assert float(saved.TotalAmt) == pytest.approx(200.5)
    assert [line.LineNum for line in saved.Line if line.DetailType == "SalesItemLineDetail"] == [1, 2]
    again = invoice.save(qb=qb, request_id="client-invoice-1")
    assert again.Id == saved.Id, "the requestid de-duplicates a resent create"


def test_python_quickbooks_element_intuit_does_not_define_is_refused_with_2010(qb: QuickBooks) -> None:
    customer = Customer.all(max_results=1, qb=qb)[0]
    customer.Nickname = "Big Al"  # not an element of Intuit's Customer
    with pytest.raises(QuickbooksException) as caught:
        customer.save(qb=qb)
    assert caught.value.error_code == 2010
    assert "Nickname" in caught.value.detail
