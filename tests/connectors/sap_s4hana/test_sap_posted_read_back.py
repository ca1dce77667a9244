"""What arbridge posted to SAP reads back as what it settles, whether SAP cleared it yet or not.

A payment arbridge posts carries each invoice's assignment but no invoice reference (SAP's
journal-entry service has none on a customer line), so until automatic clearing closes it, and
for good when it pays part of an invoice, SAP shows an open credit item like a payment on account.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from connectors.base import BadRecordError, KeyValueStore, MemoryKeyValueStore, OutboundOp
from connectors.sap_s4hana import SapS4HanaConnector
from connectors.sap_s4hana.journal import reference_for
from mapping.models import (
    Allocation,
    CreditMemo,
    Invoice,
    Payment,
    PaymentApplication,
    PaymentStatus,
    Record,
    Stream,
    TargetType,
)
from sandboxes.sap_s4hana.seed import post_payment
from sandboxes.sap_s4hana.server import S4Sandbox
from tests.connectors.sap_s4hana.sap_support import connector_for, open_invoices, payment_for

ITEMS = "A_OperationalAcctgDocItemCube"


def read(conn: SapS4HanaConnector, stream: Stream) -> dict[str, Record]:
    return {r.remote_id: r for p in conn.read(stream, None) for r in p.records}


def posted_lines(sap: S4Sandbox, key: str) -> dict[str, dict[str, object]]:
    """The customer items of the document posted with ``key``, by canonical remote id."""
    reference = reference_for(key)
    return {
        "/".join(
            str(r[k]) for k in ("CompanyCode", "FiscalYear", "AccountingDocument", "AccountingDocumentItem")
        )
        + f"/{r['Customer']}": r
        for r in sap.book.tables[ITEMS].values()
        if r["DocumentReferenceID"] == reference and r["FinancialAccountType"] == "D"
    }


def fresh(sap: S4Sandbox, state: KeyValueStore) -> SapS4HanaConnector:
    """The next cycle's connector: same connection state, nothing cached."""
    return connector_for(sap, state=state)


def test_a_payment_on_account_applied_in_part_keeps_the_rest_on_account_and_lowers_its_invoice(
    sap: S4Sandbox,
) -> None:
    state = MemoryKeyValueStore()
    conn = connector_for(sap, state=state)
    on_account = next(
        p
        for p in read(conn, Stream.PAYMENTS).values()
        if isinstance(p, Payment) and p.unapplied_amount == p.amount > Decimal(100)
    )
    invoice = next(
        i
        for i in open_invoices(conn)
        if i.customer_remote_id == on_account.customer_remote_id
        and i.remote_id.split("/")[0] == on_account.remote_id.split("/")[0]
    )
    part = Decimal("60.00")
    op = PaymentApplication(
        target_type=TargetType.PAYMENT,
        target_id=on_account.remote_id,
        payment_id=on_account.remote_id,
        customer_remote_id=on_account.customer_remote_id,
        amount=on_account.amount,
        currency=on_account.currency,
        date=date(2026, 12, 2),
        allocations=[Allocation(target_type=TargetType.INVOICE, target_id=invoice.remote_id, amount=part)],
    )
    [result] = conn.write([OutboundOp("move-part", op)])
    assert result.ok, result.error

    for clearing_ran in (False, True):
        if clearing_ran:
            sap.run_automatic_clearing()  # a partial application: SAP clears none of it
        later = fresh(sap, state)
        payments = read(later, Stream.PAYMENTS)
        invoices = read(later, Stream.INVOICES)

        moved = payments[on_account.remote_id]
        assert isinstance(moved, Payment)
        assert (moved.unapplied_amount, moved.status) == (
            on_account.amount - part,
            PaymentStatus.PARTIALLY_APPLIED,
        )
        lines = posted_lines(sap, "move-part")
        [credit] = [payments[i] for i in lines if i in payments]
        assert isinstance(credit, Payment)
        assert credit.unapplied_amount == 0 and credit.status is PaymentStatus.APPLIED
        assert [(a.target_id, a.amount) for a in credit.allocations] == [(invoice.remote_id, part)]
        [debit] = [invoices[i] for i in lines if i in invoices]
        assert isinstance(debit, Invoice) and (debit.open_amount, debit.status.value) == (0, "paid")
        paid = invoices[invoice.remote_id]
        assert isinstance(paid, Invoice) and paid.open_amount == invoice.open_amount - part


def test_an_application_settling_more_than_is_left_of_an_invoice_is_refused_before_anything_is_posted(
    sap: S4Sandbox,
) -> None:
    state = MemoryKeyValueStore()
    conn = connector_for(sap, state=state)
    invoice = next(i for i in open_invoices(conn) if i.status.value == "open")
    first = OutboundOp("pay-once", payment_for(invoice))
    # The same cash decided twice, by two keys: in one batch, and again in the next cycle.
    twin = OutboundOp("pay-twin", payment_for(invoice).model_copy(update={"reference": "bank line 4712"}))
    journal = len(sap.book.journal)

    results = conn.write([first, twin])
    [again] = fresh(sap, state).write([OutboundOp("pay-later", payment_for(invoice, invoice.open_amount))])

    assert [r.ok for r in results] == [True, False]
    assert isinstance(results[1].error, BadRecordError) and "left to settle" in str(results[1].error)
    assert not again.ok and "left to settle" in str(again.error)
    assert len(sap.book.journal) == journal + 1


def test_a_posted_payment_reversed_in_sap_gives_its_invoice_its_open_amount_back(sap: S4Sandbox) -> None:
    state = MemoryKeyValueStore()
    conn = connector_for(sap, state=state)
    invoice = next(i for i in open_invoices(conn) if i.status.value == "open")
    [posted] = conn.write([OutboundOp("pay-part", payment_for(invoice, Decimal("25.00")))])
    assert posted.ok
    pages = list(fresh(sap, state).read(Stream.INVOICES, None))
    lowered = next(r for p in pages for r in p.records if r.remote_id == invoice.remote_id)
    assert isinstance(lowered, Invoice) and lowered.open_amount == invoice.open_amount - Decimal("25.00")

    company_code, year, document = str(posted.remote_id).split("/")
    sap.book.reverse(company_code, year, document)  # FB08: the clerk takes the payment back

    changed = [r for p in fresh(sap, state).read(Stream.INVOICES, pages[-1].cursor) for r in p.records]
    restored = next(r for r in changed if r.remote_id == invoice.remote_id)
    assert isinstance(restored, Invoice)
    assert (restored.open_amount, restored.status.value) == (invoice.open_amount, "open")


def test_a_credit_memo_netted_into_a_posted_payment_reads_back_settled_and_owed_by_no_one(
    sap: S4Sandbox,
) -> None:
    state = MemoryKeyValueStore()
    conn = connector_for(sap, state=state)
    invoice = next(i for i in open_invoices(conn) if i.status.value == "open")
    company_code = invoice.remote_id.split("/")[0]
    post_payment(
        sap.book,
        invoice.customer_remote_id,
        company_code,
        Decimal("100.00"),
        sap.book.today(),
        assignment="GUT-4711",
        document_type="DG",
    )
    memo = next(
        m
        for m in read(conn, Stream.CREDIT_MEMOS).values()
        if isinstance(m, CreditMemo) and m.raw.get("AssignmentReference") == "GUT-4711"
    )
    op = PaymentApplication(
        target_type=TargetType.CUSTOMER,
        target_id=invoice.customer_remote_id,
        customer_remote_id=invoice.customer_remote_id,
        amount=invoice.open_amount - memo.open_amount,
        currency=invoice.currency,
        date=date(2026, 12, 2),
        reference="bank line 4713",
        allocations=[
            Allocation(
                target_type=TargetType.INVOICE, target_id=invoice.remote_id, amount=invoice.open_amount
            ),
            Allocation(
                target_type=TargetType.CREDIT_MEMO, target_id=memo.remote_id, amount=-memo.open_amount
            ),
        ],
    )
    [posted] = conn.write([OutboundOp("pay-net", op)])
    assert posted.ok, posted.error

    for clearing_ran in (False, True):
        if clearing_ran:
            cleared = {k for keys in sap.run_automatic_clearing().documents.values() for k in keys}
            assert tuple(memo.remote_id.split("/")[:4]) in cleared
        later = fresh(sap, state)
        settled = read(later, Stream.CREDIT_MEMOS)[memo.remote_id]
        invoices = read(later, Stream.INVOICES)
        assert isinstance(settled, CreditMemo) and (settled.open_amount, settled.status.value) == (0, "paid")
        paid = invoices[invoice.remote_id]
        assert isinstance(paid, Invoice) and (paid.open_amount, paid.status.value) == (0, "paid")
        [debit] = [invoices[i] for i in posted_lines(sap, "pay-net") if i in invoices]
        assert isinstance(debit, Invoice) and debit.open_amount == 0


def test_a_payment_on_account_someone_else_posted_reads_unapplied_whatever_its_reference(
    sap: S4Sandbox,
) -> None:
    state = MemoryKeyValueStore()
    conn = connector_for(sap, state=state)
    invoice = next(i for i in open_invoices(conn) if i.status.value == "open")
    [posted] = conn.write([OutboundOp("pay-mine", payment_for(invoice, Decimal("10.00")))])
    assert posted.ok
    company_code = invoice.remote_id.split("/")[0]
    # A clerk posts cash on account with a reference of the same shape, and with the invoice's.
    for assignment in ("AR0123456789ABCD", str(invoice.number)):
        post_payment(
            sap.book,
            invoice.customer_remote_id,
            company_code,
            Decimal("42.00"),
            sap.book.today(),
            assignment=assignment,
        )

    payments = [
        p
        for p in read(fresh(sap, state), Stream.PAYMENTS).values()
        if isinstance(p, Payment) and p.amount == Decimal("42.00")
    ]

    assert [(p.unapplied_amount, p.status) for p in payments] == [
        (Decimal("42.00"), PaymentStatus.UNAPPLIED)
    ] * 2
