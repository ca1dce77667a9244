"""A collector's notes reach NetSuite as user notes on the customer or the invoice, once each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from lxml import etree

from connectors.base import OutboundOp
from connectors.errors import BadRecordError, PermanentError
from connectors.netsuite import NetSuiteConnector, external_id_for
from mapping.models import Note, TargetType
from sandboxes.netsuite import NetSuiteSandbox
from tests.connectors.netsuite.conftest import settings_for
from tests.workspace.erp_story import erp_story


def _open_invoice(sandbox: NetSuiteSandbox) -> tuple[str, str]:
    for rid in sandbox.ids("invoice"):
        rec = sandbox.record("invoice", rid)
        entity = rec.find("{*}entity")
        if rec.findtext("{*}status") == "Open" and entity is not None:
            return rid, entity.get("internalId", "")
    raise AssertionError("no open invoice in the demo seed")


def _note(target: TargetType, target_id: str, text: str) -> Note:
    return Note(target_type=target, target_id=target_id, text=text, decided_on=date(2026, 11, 23))


def test_a_call_note_becomes_a_user_note_on_the_customer_once_however_often_it_is_sent(
    sandbox: NetSuiteSandbox, connector: NetSuiteConnector
) -> None:
    _, customer = _open_invoice(sandbox)
    text = "Call 2026-11-23 by anna: promised to pay 1042 by 2026-11-30.\nPays Monday."
    op = OutboundOp("k-note-1", _note(TargetType.CUSTOMER, customer, text))

    assert connector.find_written(op) is not None and not connector.find_written(op).ok  # type: ignore[union-attr]
    [first] = connector.write([op])
    [again] = connector.write([op])  # the answer was lost: the same outbox row goes out again

    assert first.ok and again.ok and again.remote_id == first.remote_id
    [note] = sandbox.user_notes("customer", customer)
    assert note == {
        "title": "Call 2026-11-23 by anna: promised to pay 1042 by 2026-11-30.",
        "note": text,
        "externalId": external_id_for("k-note-1"),
    }
    found = connector.find_written(op)
    assert found is not None and found.ok and found.remote_id == first.remote_id
    stored = sandbox.record("note", first.remote_id or "")
    assert (stored.findtext("{*}noteDate") or "").startswith("2026-11-23")


def test_a_note_on_an_invoice_is_shown_on_the_invoices_user_notes(
    sandbox: NetSuiteSandbox, connector: NetSuiteConnector
) -> None:
    invoice, customer = _open_invoice(sandbox)
    [result] = connector.write(
        [OutboundOp("k-inv-note", _note(TargetType.INVOICE, invoice, "disputed: damaged"))]
    )
    assert result.ok
    assert [n["note"] for n in sandbox.user_notes("invoice", invoice)] == ["disputed: damaged"]
    assert sandbox.user_notes("customer", customer) == []


def test_a_note_on_a_customer_netsuite_does_not_have_is_refused_for_that_note_only(
    sandbox: NetSuiteSandbox, connector: NetSuiteConnector
) -> None:
    _, customer = _open_invoice(sandbox)
    ops = [
        OutboundOp("k-gone", _note(TargetType.CUSTOMER, "999999", "nobody")),
        OutboundOp("k-there", _note(TargetType.CUSTOMER, customer, "somebody")),
    ]
    gone, there = connector.write(ops)
    assert not gone.ok and gone.error is not None and "999999" in str(gone.error)
    assert there.ok
    assert [n["note"] for n in sandbox.user_notes("customer", customer)] == ["somebody"]


def test_a_note_on_a_payment_is_refused_naming_what_notes_go_to(
    sandbox: NetSuiteSandbox, connector: NetSuiteConnector
) -> None:
    [result] = connector.write([OutboundOp("k-pay", _note(TargetType.PAYMENT, "1", "x"))])
    assert not result.ok and isinstance(result.error, BadRecordError)
    assert "customers, invoices and credit memos" in str(result.error)
    assert sandbox.ids("note") == []


def test_the_note_envelope_is_oracles_note_record_under_the_outbox_key(
    sandbox: NetSuiteSandbox, connector: NetSuiteConnector
) -> None:
    _, customer = _open_invoice(sandbox)
    connector.write([OutboundOp("k-env", _note(TargetType.CUSTOMER, customer, "left a message"))])
    sent = etree.fromstring(sandbox.requests_log[-1].body)
    [record] = sent.iter("{*}record")
    assert record.get("{http://www.w3.org/2001/XMLSchema-instance}type", "").endswith(":Note")
    assert record.get("externalId") == external_id_for("k-env")
    entity = record.find("{*}entity")
    assert entity is not None and entity.get("internalId") == customer


def test_with_notes_off_a_note_is_parked_with_the_reason_and_netsuite_is_not_asked(
    sandbox: NetSuiteSandbox, make_connector: Callable[..., NetSuiteConnector]
) -> None:
    _, customer = _open_invoice(sandbox)
    connector = make_connector(note_mode="off")
    before = sandbox.calls()
    [result] = connector.write([OutboundOp("k-off", _note(TargetType.CUSTOMER, customer, "x"))])
    assert not result.ok and isinstance(result.error, PermanentError)
    assert "note_mode: off" in str(result.error)
    assert sandbox.calls() == before and sandbox.user_notes("customer", customer) == []


@pytest.mark.slow
def test_a_promise_logged_in_the_workspace_reaches_netsuite_as_one_user_note(
    tmp_path: Path, sandbox: NetSuiteSandbox
) -> None:
    _, customer = _open_invoice(sandbox)
    story = erp_story(tmp_path, "netsuite", settings_for(sandbox))
    promised = date.today() + timedelta(days=7)

    page = story.log_promise(customer, promised, "pays Monday")
    assert "a note goes to the ERP at the next cycle" in page
    assert story.cycle().status == "ok"
    assert story.cycle().status == "ok"

    [note] = sandbox.user_notes("customer", customer)
    assert "by collector: promised to pay" in (note["note"] or "")
    assert f"by {promised.isoformat()}. pays Monday" in (note["note"] or "")
