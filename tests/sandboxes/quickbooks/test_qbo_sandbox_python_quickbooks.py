"""A widely used third-party client (python-quickbooks, with intuitlib for OAuth) against the sandbox."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from intuitlib.client import AuthClient
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.customer import Customer
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
