"""A credit memo raised against an invoice (InvoiceReference) lowers what the customer owes once.

SAP shows both items open until they are cleared together: the invoice with its full amount, the
credit memo (DG) naming it in InvoiceReference. Read as the canonical model has it, the memo is an
open credit raised against that invoice (``applies_to_invoice_id``) and the invoice keeps SAP's
open amount; a partial payment naming its invoice, by contrast, is cash already applied to it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from connectors.sap_s4hana import SapS4HanaConnector
from mapping.models import CreditMemo, Invoice, Payment, Record, Stream
from rules.dunning.credits import credit_lines
from rules.dunning.planner import memo_pending
from sandboxes.sap_s4hana.seed import add_customer, post_invoice, post_payment
from sandboxes.sap_s4hana.server import S4Sandbox
from tests.connectors.sap_s4hana.sap_support import connector_for

CUSTOMER = "17100999"
CODE = "1010"


def read(conn: SapS4HanaConnector, stream: Stream) -> list[Record]:
    return [r for p in conn.read(stream, None) for r in p.records if r.customer_remote_id == CUSTOMER]


def test_a_credit_memo_against_an_invoice_lowers_the_customers_balance_once_not_twice(sap: S4Sandbox) -> None:
    add_customer(sap.book, CUSTOMER, "Credit Once GmbH", [CODE])
    day = sap.book.today() - timedelta(days=40)
    invoice_key = post_invoice(sap.book, CUSTOMER, CODE, Decimal("1000.00"), day, billing="91999001")
    post_payment(
        sap.book,
        CUSTOMER,
        CODE,
        Decimal("300.00"),
        day + timedelta(days=2),
        assignment="91999002",
        invoice=invoice_key,
        document_type="DG",
    )
    conn = connector_for(sap)

    [invoice] = read(conn, Stream.INVOICES)
    [memo] = read(conn, Stream.CREDIT_MEMOS)
    assert isinstance(invoice, Invoice) and isinstance(memo, CreditMemo)
    # SAP's own open items: the invoice is owed in full until cleared with the memo ...
    assert (invoice.open_amount, invoice.status.value) == (Decimal("1000.00"), "open")
    # ... and the memo is an open credit raised against that invoice.
    assert memo.open_amount == Decimal("300.00")
    assert memo.applies_to_invoice_id == invoice.remote_id
    # What the customer owes, all told: 700.00, the credit counted once.
    assert invoice.open_amount - memo.open_amount == Decimal("700.00")
    # The dunning planner holds the invoice for the memo instead of also listing it as a credit.
    assert memo_pending(memo)
    assert credit_lines(invoice.currency, [memo], [], {invoice.remote_id}) == []


def test_a_partial_payment_naming_its_invoice_still_lowers_that_invoice(sap: S4Sandbox) -> None:
    add_customer(sap.book, CUSTOMER, "Credit Once GmbH", [CODE])
    day = sap.book.today() - timedelta(days=40)
    invoice_key = post_invoice(sap.book, CUSTOMER, CODE, Decimal("1000.00"), day, billing="91999003")
    post_payment(
        sap.book,
        CUSTOMER,
        CODE,
        Decimal("400.00"),
        day + timedelta(days=5),
        assignment="91999003",
        invoice=invoice_key,
    )
    conn = connector_for(sap)

    [invoice] = read(conn, Stream.INVOICES)
    [payment] = read(conn, Stream.PAYMENTS)
    assert isinstance(invoice, Invoice) and isinstance(payment, Payment)
    assert (invoice.open_amount, invoice.status.value) == (Decimal("600.00"), "partially_paid")
    assert payment.unapplied_amount == 0
    assert [a.target_id for a in payment.allocations] == [invoice.remote_id]
