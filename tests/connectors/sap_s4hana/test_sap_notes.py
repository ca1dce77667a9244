"""A collector's notes reach SAP as lines of the customer's long text, once each."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from connectors.base import OutboundOp
from connectors.errors import BadRecordError, PermanentError
from connectors.sap_s4hana.notes import marker_for
from mapping.models import Note, TargetType
from sandboxes.sap_s4hana.server import S4Sandbox
from tests.connectors.sap_s4hana.sap_support import connector_for, open_invoices, settings_for
from tests.workspace.erp_story import erp_story


def _note(target: TargetType, target_id: str, text: str) -> Note:
    return Note(target_type=target, target_id=target_id, text=text, decided_on=date(2026, 11, 23))


def test_a_call_note_becomes_a_line_of_the_customers_text_once_however_often_it_is_sent(
    sap: S4Sandbox,
) -> None:
    conn = connector_for(sap)
    customer = open_invoices(conn)[0].customer_remote_id
    op = OutboundOp("k-note-1", _note(TargetType.CUSTOMER, customer, "Call 2026-11-23 by anna: pays Monday."))

    lookup = conn.find_written(op)
    assert lookup is not None and not lookup.ok  # nothing there yet: certainly not written
    [first] = conn.write([op])
    [again] = conn.write([op])  # the answer was lost: the same outbox row goes out again

    assert first.ok and again.ok and again.duplicate
    [text] = sap.customer_texts(customer)
    assert text["entity_set"] == "A_CustomerText"
    assert (text["Language"], text["LongTextID"]) == ("EN", "0001")
    assert text["LongText"] == f"{marker_for('k-note-1')} Call 2026-11-23 by anna: pays Monday."
    found = conn.find_written(op)
    assert found is not None and found.ok and found.duplicate


def test_a_second_note_is_appended_below_the_text_a_user_wrote_in_sap(sap: S4Sandbox) -> None:
    conn = connector_for(sap)
    customer = open_invoices(conn)[0].customer_remote_id
    conn.write([OutboundOp("k-a", _note(TargetType.CUSTOMER, customer, "first call"))])
    key = (customer, "EN", "0001")
    sap.book.update(
        "A_CustomerText",
        key,
        {"LongText": sap.book.tables["A_CustomerText"][key]["LongText"] + "\nask for Mr. Weber"},
    )

    [second] = conn.write([OutboundOp("k-b", _note(TargetType.CUSTOMER, customer, "second call"))])

    assert second.ok
    assert sap.book.tables["A_CustomerText"][key]["LongText"].splitlines() == [
        f"{marker_for('k-a')} first call",
        "ask for Mr. Weber",
        f"{marker_for('k-b')} second call",
    ]


def test_a_note_on_an_invoice_goes_to_the_customers_text_in_the_invoices_company_code(
    sap: S4Sandbox,
) -> None:
    conn = connector_for(sap)
    invoice = open_invoices(conn)[0]
    company_code = invoice.remote_id.split("/")[0]

    [result] = conn.write(
        [OutboundOp("k-inv", _note(TargetType.INVOICE, invoice.remote_id, "disputed: damaged"))]
    )

    assert result.ok, result.error
    [text] = sap.customer_texts(invoice.customer_remote_id)
    assert text["entity_set"] == "A_CustomerCompanyText" and text["CompanyCode"] == company_code
    assert text["LongText"].endswith("disputed: damaged")


def test_a_note_for_a_customer_sap_does_not_have_is_refused_for_that_note_only(sap: S4Sandbox) -> None:
    conn = connector_for(sap)
    customer = open_invoices(conn)[0].customer_remote_id
    gone, there = conn.write(
        [
            OutboundOp("k-gone", _note(TargetType.CUSTOMER, "NOBODY", "nobody")),
            OutboundOp("k-there", _note(TargetType.CUSTOMER, customer, "somebody")),
        ]
    )
    assert not gone.ok and gone.error is not None
    assert there.ok
    assert sap.customer_texts("NOBODY") == []


def test_a_text_id_longer_than_sap_allows_is_refused_by_the_configuration() -> None:
    from pydantic import ValidationError

    from connectors.sap_s4hana.settings import SapS4HanaSettings

    with pytest.raises(ValidationError):
        SapS4HanaSettings(base_url="https://sap", company_codes=["1010"], note_text_id="TOOLONG")


def test_with_notes_off_a_note_is_parked_with_the_reason_and_sap_is_not_asked(sap: S4Sandbox) -> None:
    conn = connector_for(sap, note_mode="off")
    customer = open_invoices(conn)[0].customer_remote_id
    before = len(sap.requests_log)
    [result] = conn.write([OutboundOp("k-off", _note(TargetType.CUSTOMER, customer, "x"))])
    assert not result.ok and isinstance(result.error, PermanentError)
    assert "note_mode: off" in str(result.error)
    assert len(sap.requests_log) == before and sap.customer_texts(customer) == []


def test_a_note_on_a_payment_is_refused_naming_what_notes_go_to(sap: S4Sandbox) -> None:
    conn = connector_for(sap)
    [result] = conn.write([OutboundOp("k-pay", _note(TargetType.PAYMENT, "1010/2026/1400000001/1", "x"))])
    assert not result.ok and isinstance(result.error, BadRecordError)
    assert "customers, invoices and credit memos" in str(result.error)


@pytest.mark.slow
def test_a_promise_logged_in_the_workspace_reaches_sap_as_one_line_of_the_customers_text(
    tmp_path: Path, sap: S4Sandbox
) -> None:
    customer = open_invoices(connector_for(sap))[0].customer_remote_id
    story = erp_story(tmp_path, "sap-s4hana", settings_for(sap))
    promised = date.today() + timedelta(days=7)

    page = story.log_promise(customer, promised, "pays Monday")
    assert "a note goes to the ERP at the next cycle" in page
    assert story.cycle().status == "ok"
    assert story.cycle().status == "ok"

    [text] = sap.customer_texts(customer)
    [line] = text["LongText"].splitlines()
    assert "by collector: promised to pay" in line and line.endswith(
        f"by {promised.isoformat()}. pays Monday"
    )


def test_notes_for_several_customers_cost_one_read_and_one_batch(sap: S4Sandbox) -> None:
    conn = connector_for(sap)
    customers = sorted({i.customer_remote_id for i in open_invoices(conn)})[:5]
    conn.write([OutboundOp("k-first", _note(TargetType.CUSTOMER, customers[0], "first call"))])
    sent_before = len(sap.requests_log)

    results = conn.write(
        [OutboundOp(f"k-{c}", _note(TargetType.CUSTOMER, c, f"call {c}")) for c in customers]
    )

    assert all(r.ok for r in results) and len(customers) == 5
    assert [r.kind for r in sap.requests_log[sent_before:]] == ["odata", "batch"]
    assert [len(sap.customer_texts(c)[0]["LongText"].splitlines()) for c in customers] == [2, 1, 1, 1, 1]
