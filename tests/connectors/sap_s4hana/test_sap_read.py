"""Reading SAP: incremental windows, partial payments, reversals, resumed scans, API management's
spike arrest, and check() naming a missing authorization."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from connectors.base import MemoryKeyValueStore
from mapping.models import Invoice, Stream
from sandboxes.sap_s4hana.seed import post_payment
from sandboxes.sap_s4hana.server import S4Sandbox
from tests.connectors.sap_s4hana.sap_support import connector_for, open_invoices


def test_a_partial_payment_entered_today_redelivers_its_invoice_with_less_open(sap: S4Sandbox) -> None:
    conn = connector_for(sap)
    pages = list(conn.read(Stream.INVOICES, None))
    invoice = next(r for p in pages for r in p.records if isinstance(r, Invoice) and r.status.value == "open")
    cc, year, doc, item, customer = invoice.remote_id.split("/")
    post_payment(
        sap.book,
        customer,
        cc,
        Decimal("25.00"),
        sap.book.today(),
        assignment="PART-1",
        invoice=(cc, year, doc, item),
    )

    changed = [r for p in conn.read(Stream.INVOICES, pages[-1].cursor) for r in p.records]

    assert [r.remote_id for r in changed] == [invoice.remote_id]
    assert isinstance(changed[0], Invoice)
    assert changed[0].open_amount == invoice.open_amount - Decimal("25.00")
    assert changed[0].status.value == "partially_paid"


def test_a_back_dated_clearing_is_still_read_by_its_entry_date(sap: S4Sandbox) -> None:
    conn = connector_for(sap)
    pages = list(conn.read(Stream.INVOICES, None))
    invoice = next(i for i in open_invoices(conn) if i.status.value == "open")
    key = tuple(invoice.remote_id.split("/")[:4])
    # Cleared today, with a clearing (posting) date a month in the past.
    sap.book.clear_items([key], when=sap.book.today().replace(day=1))
    sap.book.tables["A_OperationalAcctgDocItemCube"][key]["ClearingCreationDate"] = sap.book.today()

    changed = [r for p in conn.read(Stream.INVOICES, pages[-1].cursor) for r in p.records]

    assert [r.remote_id for r in changed] == [invoice.remote_id]
    assert changed[0].status.value == "paid"


def test_check_names_the_communication_scenario_the_user_lacks(specs_dir: Path) -> None:
    with S4Sandbox(seed="demo", specs=specs_dir, scenarios={"SAP_COM_0008", "SAP_COM_0002"}) as sap:
        result = connector_for(sap).check()
    assert not result.ok
    assert "SAP_COM_0303" in result.message


def test_check_passes_with_every_scenario_and_makes_a_csrf_round_trip(sap: S4Sandbox) -> None:
    conn = connector_for(sap)
    result = conn.check()
    assert result.ok, result.message
    assert conn.session.csrf_fetches >= 1
    assert sap.calls("batch") == 1


def test_a_customer_scan_resumed_after_a_crash_does_not_deliver_its_first_pages_again(
    sap: S4Sandbox,
) -> None:
    state = MemoryKeyValueStore()
    first = list(connector_for(sap, state=state, page_size=4).read(Stream.CUSTOMERS, None))
    # The daemon died after storing the second page of the next scan; a new process resumes it.
    interrupted = list(connector_for(sap, state=state, page_size=4).read(Stream.CUSTOMERS, first[-1].cursor))
    resumed = list(connector_for(sap, state=state, page_size=4).read(Stream.CUSTOMERS, interrupted[1].cursor))

    later = [
        r.remote_id
        for p in connector_for(sap, state=state).read(Stream.CUSTOMERS, resumed[-1].cursor)
        for r in p.records
    ]

    assert len(first) > 3 and later == []


def test_an_invoice_reversed_in_sap_arrives_void_and_deleted(sap: S4Sandbox) -> None:
    conn = connector_for(sap)
    pages = list(conn.read(Stream.INVOICES, None))
    invoice = next(i for i in open_invoices(conn) if i.status.value == "open")
    cc, year, doc, _, _ = invoice.remote_id.split("/")

    sap.book.reverse(cc, year, doc)  # FB08: the clerk reverses the invoice posted by mistake

    changed = [r for p in conn.read(Stream.INVOICES, pages[-1].cursor) for r in p.records]
    assert [r.remote_id for r in changed] == [invoice.remote_id]
    assert changed[0].deleted and changed[0].status.value == "void" and changed[0].open_amount == 0
    reversal = [
        r for p in conn.read(Stream.CREDIT_MEMOS, None) for r in p.records if r.raw_status == "reversed"
    ]
    assert len(reversal) == 1 and reversal[0].deleted


def test_a_burst_beyond_api_managements_spike_arrest_is_sent_again_and_the_read_completes(
    specs_dir: Path,
) -> None:
    with S4Sandbox(seed="demo", specs=specs_dir, spike_arrest=3) as sap:
        conn = connector_for(sap, page_size=5)

        invoices = [r.remote_id for p in conn.read(Stream.INVOICES, None) for r in p.records]

        assert sap.calls("throttled") > 0 and conn.session.throttled == sap.calls("throttled")
    assert len(invoices) == len(set(invoices)) == 36


def test_an_invoice_due_before_its_document_date_is_read_and_overdue_from_its_due_date(
    sap: S4Sandbox,
) -> None:
    rows = sap.book.tables["A_OperationalAcctgDocItemCube"]
    key, row = next(
        (k, r)
        for k, r in sorted(rows.items())
        if r["FinancialAccountType"] == "D" and r["DebitCreditCode"] == "S" and not r["IsCleared"]
    )
    # Re-issued today, keeping the first invoice's due date: its baseline date lies before it.
    row.update(DocumentDate=sap.book.today(), NetDueDate=sap.book.today() - timedelta(days=30))
    remote_id = "/".join(str(v) for v in key) + f"/{row['Customer']}"

    pages = list(connector_for(sap).read(Stream.INVOICES, None))

    assert not [r for p in pages for r in p.rejects if r.remote_id == remote_id]
    [invoice] = [r for p in pages for r in p.records if r.remote_id == remote_id]
    assert isinstance(invoice, Invoice) and invoice.due_date is not None
    assert (invoice.issue_date - invoice.due_date).days == 30 and invoice.open_amount > 0


def test_an_amount_finer_than_its_currency_is_quarantined_naming_the_sap_property(sap: S4Sandbox) -> None:
    rows = sap.book.tables["A_OperationalAcctgDocItemCube"]
    key, row = next(
        (k, r)
        for k, r in sorted(rows.items())
        if r["FinancialAccountType"] == "D" and r["DebitCreditCode"] == "S" and not r["IsCleared"]
    )
    row.update(AmountInTransactionCurrency=Decimal("1234.567"))  # three decimals in a currency of two
    remote_id = "/".join(str(v) for v in key) + f"/{row['Customer']}"

    pages = list(connector_for(sap).read(Stream.INVOICES, None))

    [reject] = [r for p in pages for r in p.rejects]
    assert (reject.remote_id, reject.field_path) == (remote_id, "AmountInTransactionCurrency")
    assert "more decimals than" in reject.reason
    assert len({r.remote_id for p in pages for r in p.records}) == 35, "the rest of the page syncs"
