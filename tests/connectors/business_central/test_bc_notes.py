"""A collector's notes reach Business Central as the customer's comment lines, once each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConnectorContext, MemoryKeyValueStore, OutboundOp
from connectors.business_central import BusinessCentralConnector
from connectors.business_central.notes import comment_code_for
from connectors.errors import BadRecordError, PermanentError
from mapping.models import Note, TargetType
from sandboxes.business_central import BusinessCentralSandbox
from sandboxes.business_central.entities import EXTENSION
from tests.connectors.business_central.bc_target import onprem_settings
from tests.workspace.erp_story import erp_story


@pytest.fixture
def bc() -> Iterator[BusinessCentralSandbox]:
    with BusinessCentralSandbox(seed="demo", notification_delay=0) as sandbox:
        yield sandbox


def _connector(bc: BusinessCentralSandbox, **settings: Any) -> BusinessCentralConnector:
    made = BusinessCentralConnector.create(
        onprem_settings(bc, **settings), ConnectorContext("bc", state=MemoryKeyValueStore())
    )
    assert isinstance(made, BusinessCentralConnector)
    return made


def _customer_with_open_invoices(bc: BusinessCentralSandbox) -> dict[str, Any]:
    owing = {
        e["customerId"] for e in bc.company.entries.values() if e["documentType"] == "Invoice" and e["open"]
    }
    return bc.company.customers[sorted(owing)[0]]


def _customer_with_overdue_invoices(bc: BusinessCentralSandbox) -> dict[str, Any]:
    """The first customer by number with an invoice open two days past its due date and no credit
    memo against it: one the dunning planner pauses for a promise at once.

    An invoice not yet due is outside dunning: a promise on it reaches BC as "Promised" only once
    the invoice comes within the planner's reach, so a customer owing only such invoices tells the
    story of a later cycle. Two days keep it overdue in every customer's time zone, and the day is
    the sandbox's own, the one its due dates were seeded from.
    """
    today = bc.company.clock().date()
    credited = {m["invoiceNumber"] for m in bc.company.credit_memos.values()}
    owing = {
        e["customerId"]
        for e in bc.company.entries.values()
        if e["documentType"] == "Invoice"
        and e["open"]
        and e["dueDate"] <= today - timedelta(days=2)
        and e["documentNumber"] not in credited
    }
    return min((bc.company.customers[c] for c in owing), key=lambda c: c["number"])


def _note(target: TargetType, target_id: str, text: str) -> Note:
    return Note(target_type=target, target_id=target_id, text=text, decided_on=date(2026, 11, 23))


def test_a_call_note_becomes_the_customers_comment_lines_once_however_often_it_is_sent(
    bc: BusinessCentralSandbox,
) -> None:
    customer = _customer_with_open_invoices(bc)
    text = (
        "Call 2026-11-23 by anna: promised to pay 103001, 103004 by 2026-11-30. "
        "Pays Monday from the new account; the old mandate is cancelled."
    )
    op = OutboundOp("k-note-1", _note(TargetType.CUSTOMER, customer["id"], text))
    connector = _connector(bc)

    lookup = connector.find_written(op)
    assert lookup is not None and not lookup.ok
    [first] = connector.write([op])
    [again] = _connector(bc).write([op])  # the answer was lost: the same outbox row goes out again

    assert first.ok and again.ok and again.duplicate
    lines = bc.company.customer_comments(customer["number"])
    assert [line["comment"] for line in lines] == [
        "Call 2026-11-23 by anna: promised to pay 103001, 103004 by 2026-11-30. Pays",
        "Monday from the new account; the old mandate is cancelled.",
    ]
    assert all(len(line["comment"]) <= 80 for line in lines)
    assert {line["commentCode"] for line in lines} == {comment_code_for("k-note-1")}
    assert [line["lineNumber"] for line in lines] == [10000, 20000]
    assert {line["commentDate"] for line in lines} == {date(2026, 11, 23)}
    found = connector.find_written(op)
    assert found is not None and found.ok and found.duplicate


def test_a_note_goes_below_the_comment_a_user_typed_on_the_customer_card(bc: BusinessCentralSandbox) -> None:
    customer = _customer_with_open_invoices(bc)
    bc.company.add_comment({"customerNumber": customer["number"], "comment": "Ask for Mr. Weber"})

    [result] = _connector(bc).write(
        [OutboundOp("k-b", _note(TargetType.CUSTOMER, customer["id"], "left a message"))]
    )

    assert result.ok, result.error
    lines = bc.company.customer_comments(customer["number"])
    assert [(line["lineNumber"], line["comment"]) for line in lines] == [
        (10000, "Ask for Mr. Weber"),
        (20000, "left a message"),
    ]


def test_a_note_on_an_invoice_is_refused_saying_comment_lines_belong_to_customers(
    bc: BusinessCentralSandbox,
) -> None:
    invoice = next(e for e in bc.company.entries.values() if e["documentType"] == "Invoice")
    [result] = _connector(bc).write([OutboundOp("k-inv", _note(TargetType.INVOICE, invoice["id"], "x"))])
    assert not result.ok and isinstance(result.error, BadRecordError)
    assert "comment lines on customers" in str(result.error)
    assert bc.company.comments == {}


def test_with_notes_off_a_note_is_parked_with_the_reason_and_nothing_is_written(
    bc: BusinessCentralSandbox,
) -> None:
    customer = _customer_with_open_invoices(bc)
    [result] = _connector(bc, note_mode="off").write(
        [OutboundOp("k-off", _note(TargetType.CUSTOMER, customer["id"], "x"))]
    )
    assert not result.ok and isinstance(result.error, PermanentError)
    assert "note_mode: off" in str(result.error)
    assert bc.company.comments == {}


def test_an_older_extension_without_the_comments_page_is_named_by_check_and_parks_notes(
    bc: BusinessCentralSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The company runs extension 1.1: it serves no customerComments page.
    monkeypatch.delitem(EXTENSION.entity_sets, "customerComments")
    customer = _customer_with_open_invoices(bc)
    connector = _connector(bc)

    check = connector.check()
    [result] = connector.write([OutboundOp("k-old", _note(TargetType.CUSTOMER, customer["id"], "x"))])

    assert check.ok and "install version 1.2 or later" in check.message
    assert not result.ok and isinstance(result.error, PermanentError)
    assert "version 1.2 or later" in str(result.error)
    assert "note_mode: off" not in _connector(bc, note_mode="off").check().message
    assert "customerComments" not in _connector(bc, note_mode="off").check().message


@pytest.mark.slow
def test_a_promise_logged_in_the_workspace_reaches_business_central_as_the_customers_comment_lines(
    tmp_path: Path, bc: BusinessCentralSandbox
) -> None:
    customer = _customer_with_open_invoices(bc)
    story = erp_story(tmp_path, "business_central", onprem_settings(bc))
    promised = date.today() + timedelta(days=7)

    page = story.log_promise(customer["id"], promised, "pays Monday")
    assert "a note goes to the ERP at the next cycle" in page
    assert story.cycle().status == "ok"
    assert story.cycle().status == "ok"

    lines = bc.company.customer_comments(customer["number"])
    text = " ".join(line["comment"] for line in lines)
    assert len({line["commentCode"] for line in lines}) == 1  # one note, written once
    assert "by collector: promised to pay" in text and text.endswith(
        f"by {promised.isoformat()}. pays Monday"
    )


@pytest.mark.slow
def test_with_notes_off_the_workspace_promises_no_note_and_business_central_gets_none(
    tmp_path: Path, bc: BusinessCentralSandbox
) -> None:
    customer = _customer_with_overdue_invoices(bc)
    story = erp_story(tmp_path, "business_central", onprem_settings(bc, note_mode="off"))

    page = story.log_promise(customer["id"], date.today() + timedelta(days=7), "pays Monday")
    assert story.cycle().status == "ok"

    assert "promised to pay" in page and "a note goes to the ERP" not in page
    assert bc.company.comments == {}
    # The promise itself still reaches BC, as the collection status of the promised invoices.
    invoices = [
        (e["documentNumber"], e["dueDate"].isoformat(), e["collectionStatus"])
        for e in bc.company.entries.values()
        if e["customerId"] == customer["id"] and e["documentType"] == "Invoice" and e["open"]
    ]
    assert "Promised" in {status for _, _, status in invoices}, invoices
