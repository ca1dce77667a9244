"""A collector's call notes reach SAP Business One as activities of the business partner, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from connectors.base import BadRecordError, OutboundOp, PermanentError
from mapping.models import Note, TargetType
from sandboxes.sap_business_one import ServiceLayerSandbox
from tests.connectors.sap_business_one.b1_target import connector_for, create_fields

CALL = "Call 2026-11-23 by collector: promised to pay 12, 14 by 2026-11-30. pays next Monday"


@pytest.fixture
def b1() -> Iterator[ServiceLayerSandbox]:
    with ServiceLayerSandbox(seed="demo", throttle=False) as sandbox:
        create_fields(sandbox)
        yield sandbox


def _customer(b1: ServiceLayerSandbox) -> str:
    return next(
        k for k, r in sorted(b1.company.tables["BusinessPartners"].items()) if r["CardType"] == "cCustomer"
    )


def _note(target_type: TargetType, target_id: str, text: str = CALL) -> Note:
    return Note(target_type=target_type, target_id=target_id, text=text, decided_on=date(2026, 11, 23))


def test_a_call_note_becomes_one_activity_of_the_business_partner_even_when_sent_again(
    b1: ServiceLayerSandbox,
) -> None:
    card = _customer(b1)
    item = OutboundOp("n" * 64, _note(TargetType.CUSTOMER, card))
    [first] = connector_for(b1).write([item])
    [again] = connector_for(b1).write([item])  # a restart after a lost answer sends it again
    assert first.ok and not first.duplicate
    assert again.ok and again.duplicate and again.remote_id == first.remote_id
    [activity] = b1.company.activities_of(card)
    assert activity["Notes"] == CALL and activity["ActivityProperty"] == "cn_Note"
    assert activity["Details"] == CALL[:100] and activity["ActivityDate"] == "2026-11-23"
    assert activity["U_ARB_OutboxKey"] == item.key and str(activity["ActivityCode"]) == first.remote_id
    assert b1.ignored == [], "the connector sent a property B1 would silently ignore"


def test_a_note_about_an_invoice_is_an_activity_of_its_partner_linked_to_the_invoice(
    b1: ServiceLayerSandbox,
) -> None:
    invoice = next(iter(b1.company.tables["Invoices"].values()))
    [result] = connector_for(b1).write(
        [OutboundOp("i" * 64, _note(TargetType.INVOICE, str(invoice["DocEntry"]), "disputes the freight"))]
    )
    assert result.ok
    [activity] = b1.company.activities_of(invoice["CardCode"])
    assert activity["DocType"] == "13" and activity["DocEntry"] == str(invoice["DocEntry"])
    assert activity["Notes"] == "disputes the freight"


def test_a_note_about_an_invoice_b1_does_not_have_is_refused_alone(b1: ServiceLayerSandbox) -> None:
    card = _customer(b1)
    missing = OutboundOp("m" * 64, _note(TargetType.INVOICE, "999999"))
    fine = OutboundOp("f" * 64, _note(TargetType.CUSTOMER, card))
    refused, landed = connector_for(b1).write([missing, fine])
    assert (
        not refused.ok
        and isinstance(refused.error, BadRecordError)
        and "Invoices(999999)" in refused.error.message
    )
    assert landed.ok and len(b1.company.activities_of(card)) == 1


def test_a_note_whose_answer_was_lost_is_found_by_its_key(b1: ServiceLayerSandbox) -> None:
    card = _customer(b1)
    item = OutboundOp("l" * 80, _note(TargetType.CUSTOMER, card))  # longer than the field: stored hashed
    [written] = connector_for(b1).write([item])
    found = connector_for(b1).find_written(item)
    assert found is not None and found.ok and found.duplicate and found.remote_id == written.remote_id
    never = connector_for(b1).find_written(OutboundOp("x" * 64, _note(TargetType.CUSTOMER, card)))
    assert never is not None and not never.ok


def test_with_notes_off_a_note_is_refused_saying_why_and_check_says_so(b1: ServiceLayerSandbox) -> None:
    connector = connector_for(b1, note_mode="off")
    [result] = connector.write([OutboundOp("o" * 64, _note(TargetType.CUSTOMER, _customer(b1)))])
    assert not result.ok and isinstance(result.error, PermanentError)
    assert "note_mode: off" in result.error.message
    assert b1.company.tables["Activities"] == {}
    check = connector.check()
    assert check.ok and "notes are not written (note_mode: off)" in check.message


def test_without_the_activity_field_check_and_the_note_say_to_run_the_setup() -> None:
    with ServiceLayerSandbox(seed="demo", throttle=False) as b1:
        for field in ("ARB_CollStatus", "ARB_DunLevel", "ARB_NextAction"):
            for table in ("OINV", "OCRD"):
                b1.company.add_udf({"TableName": table, "Name": field, "Type": "db_Alpha", "Size": 30})
        b1.company.add_udf({"TableName": "ORCT", "Name": "ARB_OutboxKey", "Type": "db_Alpha", "Size": 64})
        connector = connector_for(b1)
        check = connector.check()
        assert not check.ok and "OCLG.U_ARB_OutboxKey" in check.message and "arbridge setup" in check.message
        [result] = connector.write([OutboundOp("s" * 64, _note(TargetType.CUSTOMER, _customer(b1)))])
        assert not result.ok and "arbridge setup sap-business-one" in result.error.message
        assert b1.company.tables["Activities"] == {}
