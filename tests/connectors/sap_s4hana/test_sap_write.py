"""Write-back to SAP: CSRF expiry, stale ETags, payments posted once, payments whose items stay open."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from connectors.base import ConflictError, MemoryKeyValueStore, OutboundOp
from connectors.sap_s4hana.journal import reference_for
from mapping.models import Stream, TargetType
from sandboxes.sap_s4hana.server import S4Sandbox
from tests.connectors.sap_s4hana.sap_support import (
    connector_for,
    dunning_key,
    open_invoices,
    payment_for,
    reminder,
)


def test_csrf_token_expiring_mid_cycle_is_fetched_again_and_the_write_lands_once(sap: S4Sandbox) -> None:
    conn = connector_for(sap)
    first, second = open_invoices(conn)[:2]
    [done] = conn.write([OutboundOp("dun-1", reminder(first, level=1))])
    assert done.ok
    fetches = conn.session.csrf_fetches

    sap.expire_sessions()  # SAP's security session timed out between two writes of one cycle
    [again] = conn.write([OutboundOp("dun-2", reminder(second, level=2))])

    assert again.ok, again.error
    assert conn.session.csrf_fetches == fetches + 1
    assert sap.book.tables["A_CustomerDunning"][dunning_key(second.remote_id)]["DunningLevel"] == "2"
    refused = [r for r in sap.requests_log if r.status == 403]
    assert len(refused) == 1, "exactly one refused attempt, then one retry"
    assert sum(1 for w in sap.writes_log if w["key"] == dunning_key(second.remote_id)) == 1


def test_dunning_level_on_a_record_a_clerk_changed_meanwhile_is_a_conflict_not_an_overwrite(
    sap: S4Sandbox,
) -> None:
    conn = connector_for(sap)
    invoice = open_invoices(conn)[0]
    fresh = conn.fetch(TargetType.INVOICE, invoice.remote_id)
    assert fresh is not None and fresh.version
    # The clerk blocks dunning in SAP after arbridge read the record.
    sap.book.update("A_CustomerDunning", dunning_key(invoice.remote_id), {"DunningBlock": "X"})
    op = reminder(invoice, level=3).model_copy(update={"base_version": fresh.version})

    [result] = conn.write([OutboundOp("dun-stale", op)])

    assert not result.ok and isinstance(result.error, ConflictError)
    record = sap.book.tables["A_CustomerDunning"][dunning_key(invoice.remote_id)]
    assert record["DunningBlock"] == "X" and record["DunningLevel"] == "0"
    # The engine re-reads and decides once more: with the fresh ETag the write goes through.
    reread = conn.fetch(TargetType.INVOICE, invoice.remote_id)
    assert reread is not None
    [retry] = conn.write([OutboundOp("dun-stale", op.model_copy(update={"base_version": reread.version}))])
    assert retry.ok, retry.error
    assert sap.book.tables["A_CustomerDunning"][dunning_key(invoice.remote_id)]["DunningLevel"] == "3"


def test_one_failed_change_set_does_not_undo_the_other_customers_write_backs(sap: S4Sandbox) -> None:
    conn = connector_for(sap)
    invoices = open_invoices(conn)
    by_customer = {dunning_key(i.remote_id): i for i in invoices}
    first, second = list(by_customer.values())[:2]
    conn.fetch(TargetType.INVOICE, first.remote_id)
    sap.book.update("A_CustomerDunning", dunning_key(first.remote_id), {"DunningClerk": "02"})

    results = conn.write(
        [OutboundOp("a", reminder(first, level=1)), OutboundOp("b", reminder(second, level=1))]
    )

    assert [r.ok for r in results] == [False, True]
    assert sap.book.tables["A_CustomerDunning"][dunning_key(second.remote_id)]["DunningLevel"] == "1"
    assert sap.calls("batch") == 1


def test_a_payment_resent_after_a_lost_answer_is_found_by_its_reference_and_posted_once(
    sap: S4Sandbox,
) -> None:
    state = MemoryKeyValueStore()
    conn = connector_for(sap, state=state)
    invoice = open_invoices(conn)[0]
    op = OutboundOp("pay-lost-answer", payment_for(invoice))
    [first] = conn.write([op])
    assert first.ok
    # The daemon died before storing SAP's answer: the ledger still says "sending".
    state.put("sap_s4hana.posted.pay-lost-answer", "sending")

    [again] = connector_for(sap, state=state).write([op])
    found = connector_for(sap).find_written(op)

    assert again.ok and again.duplicate
    assert found is not None and found.ok and found.remote_id == first.remote_id
    assert len(sap.book.documents_with_reference(reference_for(op.key))) == 1
    assert [j["message_id"] for j in sap.book.journal].count(op.key) == 1


def test_sap_itself_posts_a_resent_message_twice_which_is_why_the_lookup_exists(sap: S4Sandbox) -> None:
    conn = connector_for(sap)
    invoice = open_invoices(conn)[0]
    entry, _, _ = conn._entry(
        OutboundOp("pay-twice", payment_for(invoice)),
        {
            invoice.remote_id: next(
                r
                for r in sap.book.tables["A_OperationalAcctgDocItemCube"].values()
                if "/".join(
                    [
                        r["CompanyCode"],
                        r["FiscalYear"],
                        r["AccountingDocument"],
                        r["AccountingDocumentItem"],
                        r["Customer"],
                    ]
                )
                == invoice.remote_id
            )
        },
        {},
    )
    conn.journal.post([entry])
    conn.journal.post([entry])  # the same message ID, sent again without looking

    documents = sap.book.documents_with_reference(reference_for("pay-twice"))
    assert len(documents) == 2
    assert {j["message_id"] for j in sap.book.journal[-2:]} == {"pay-twice"}


def test_payment_clears_the_invoice_when_sap_runs_automatic_clearing(sap: S4Sandbox) -> None:
    conn = connector_for(sap)
    invoice = next(i for i in open_invoices(conn) if i.status.value == "open")
    [result] = conn.write([OutboundOp("pay-clear", payment_for(invoice))])
    assert result.ok

    run = sap.run_automatic_clearing()

    cleared = {k for keys in run.documents.values() for k in keys}
    assert tuple(invoice.remote_id.split("/")[:4]) in cleared
    again = conn.fetch(TargetType.INVOICE, invoice.remote_id)
    assert again is not None and again.open_amount == 0 and again.status.value == "paid"


def test_posted_payment_whose_items_stay_open_is_reported_and_never_posted_again(
    sap: S4Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    state = MemoryKeyValueStore()
    clock = [datetime.now(UTC)]
    conn = connector_for(sap, state=state)
    conn._now = lambda: clock[0]
    invoice = next(i for i in open_invoices(conn) if i.status.value == "open")
    op = OutboundOp("pay-stays-open", payment_for(invoice))
    [posted] = conn.write([op])
    assert posted.ok
    # Automatic clearing does not match it (someone changed the invoice's assignment in SAP).
    key = tuple(invoice.remote_id.split("/")[:4])
    sap.book.tables["A_OperationalAcctgDocItemCube"][key]["AssignmentReference"] = "CHANGED"
    sap.run_automatic_clearing()
    clock[0] += timedelta(hours=49)
    caplog.set_level(logging.WARNING, logger="arbridge.connectors.sap_s4hana")

    list(conn.read(Stream.INVOICES, None))
    [again] = conn.write([op])

    assert [w["key"] for w in conn.unsettled()] == [op.key]
    assert "still open" in caplog.text and op.key in caplog.text
    assert again.ok and again.duplicate
    assert len(sap.book.documents_with_reference(reference_for(op.key))) == 1


def test_partial_payment_is_posted_without_waiting_for_a_clearing(sap: S4Sandbox) -> None:
    conn = connector_for(sap)
    invoice = next(i for i in open_invoices(conn) if i.status.value == "open")
    [posted] = conn.write([OutboundOp("pay-part", payment_for(invoice, Decimal("10.00")))])
    assert posted.ok
    assert conn._watch() == []


def test_payment_to_a_document_of_another_customer_is_refused_before_anything_is_posted(
    sap: S4Sandbox,
) -> None:
    conn = connector_for(sap)
    invoices = open_invoices(conn)
    a = invoices[0]
    b = next(i for i in invoices if i.customer_remote_id != a.customer_remote_id and i.currency == a.currency)
    op = payment_for(a).model_copy(update={"customer_remote_id": b.customer_remote_id})
    journal = len(sap.book.journal)

    [result] = conn.write([OutboundOp("pay-wrong", op)])

    assert not result.ok and "belongs to customer" in str(result.error)
    assert len(sap.book.journal) == journal


def test_an_invoices_payment_reference_travels_with_its_payment_so_clearing_can_match_on_it(
    sap: S4Sandbox,
) -> None:
    conn = connector_for(sap)
    invoice = next(i for i in open_invoices(conn) if i.status.value == "open")
    # The invoice was billed with a structured creditor reference the customer quotes when paying.
    key = tuple(invoice.remote_id.split("/")[:4])
    sap.book.tables["A_OperationalAcctgDocItemCube"][key]["PaymentReference"] = "RF18539007547034"

    [posted] = conn.write([OutboundOp("pay-with-reference", payment_for(invoice))])

    assert posted.ok, posted.error
    [customer_line] = [line for line in sap.book.journal[-1]["posting"].lines if line.customer]
    assert customer_line.payment_reference == "RF18539007547034"
    sap.book.clearing_criteria = ("PaymentReference",)
    cleared = {k for keys in sap.run_automatic_clearing().documents.values() for k in keys}
    assert key in cleared
