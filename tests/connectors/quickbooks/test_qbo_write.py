"""Write-back: batch requests with requestid from the outbox keys, SyncToken conflicts, reconciliation."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import intuit_schema
import pytest
import responses
from qbo_fakes import FakeQbo, Sent, invoice, json_answer, make_connector

from connectors.base import MemoryKeyValueStore, OutboundOp
from connectors.errors import BadRecordError, ConflictError, PermanentError
from connectors.quickbooks.connector import (
    batch_id_for,
    format_collection_status,
    marker_for,
    parse_collection_status,
    request_id_for,
)
from mapping.models import (
    Allocation,
    CollectionStatus,
    CollectionStatusUpdate,
    Note,
    PaymentApplication,
    TargetType,
)

STATUS = OutboundOp(
    "conn/collection_status/invoice/130/6f1c",
    CollectionStatusUpdate(
        target_type=TargetType.INVOICE,
        target_id="130",
        base_version="3",
        collection_status=CollectionStatus.ESCALATED,
        dunning_level=2,
        next_action_date=date(2026, 12, 1),
    ),
)
NOTE = OutboundOp(
    "conn/note/invoice/130/99ab",
    Note(target_type=TargetType.INVOICE, target_id="130", text="Customer promised payment by Friday."),
)
NEW_PAYMENT = OutboundOp(
    "conn/payment_application/customer/7/e3d0",
    PaymentApplication(
        target_type=TargetType.CUSTOMER,
        target_id="7",
        customer_remote_id="7",
        amount=Decimal("150.00"),
        currency="USD",
        date=date(2026, 5, 3),
        reference="BANK-REF-2026-05-03-000123",
        allocations=[
            Allocation(target_type=TargetType.INVOICE, target_id="130", amount=Decimal("180.00")),
            Allocation(target_type=TargetType.CREDIT_MEMO, target_id="140", amount=Decimal("30.00")),
        ],
    ),
)
EXISTING_PAYMENT = OutboundOp(
    "conn/payment_application/payment/88/a1b2",
    PaymentApplication(
        target_type=TargetType.PAYMENT,
        target_id="88",
        payment_id="88",
        customer_remote_id="7",
        amount=Decimal("40.00"),
        currency="USD",
        date=date(2026, 5, 3),
        allocations=[Allocation(target_type=TargetType.INVOICE, target_id="131", amount=Decimal("40.00"))],
    ),
)
UNAPPLIED = {
    "Id": "88",
    "SyncToken": "4",
    "MetaData": {"LastUpdatedTime": "2026-05-03T09:00:00-07:00"},
    "TxnDate": "2026-05-02",
    "CustomerRef": {"value": "7", "name": "Sunset Bakery"},
    "TotalAmt": 100.0,
    "UnappliedAmt": 40.0,
    "PrivateNote": "Lockbox deposit",
    "Line": [
        {
            "Amount": 60.0,
            "LinkedTxn": [{"TxnId": "129", "TxnType": "Invoice"}],
            "LineEx": {"any": [{"name": "{http://schema.intuit.com/finance/v3}NameValue"}]},
        }
    ],
}


def _fake_store(fake: FakeQbo, *, stale: set[str] | None = None) -> None:
    """Answer reads of invoice 130 / payment 88 and apply batch items, with 5010 for ``stale`` ids."""
    current = {
        ("Invoice", "130"): invoice(130, SyncToken="3", PrivateNote="Sent reminder 1"),
        ("Payment", "88"): UNAPPLIED,
    }

    def query(sent: Sent) -> tuple[int, dict[str, str], str]:
        entity = sent.body.split(" FROM ")[1].split()[0]
        rows = [v for (e, _), v in current.items() if e == entity]
        return json_answer({"QueryResponse": {entity: rows} if rows else {}})

    def batch(sent: Sent) -> tuple[int, dict[str, str], str]:
        answers = []
        for item in sent.json()["BatchItemRequest"]:
            entity = next(k for k in item if k not in ("bId", "operation"))
            body = item[entity]
            if body.get("Id") in (stale or set()):
                fault = {
                    "Error": [
                        {
                            "Message": "Stale Object Error",
                            "Detail": "Stale Object Error : You and "
                            "Sandbox User were working on this at the same time.",
                            "code": "5010",
                            "element": "SyncToken",
                        }
                    ],
                    "type": "ValidationFault",
                }
                answers.append({"bId": item["bId"], "Fault": fault})
                continue
            saved = dict(
                body, Id=body.get("Id") or "901", SyncToken=str(int(body.get("SyncToken") or -1) + 1)
            )
            answers.append({"bId": item["bId"], entity: saved})
        return json_answer({"BatchItemResponse": answers, "time": "2026-05-04T05:00:00.000-07:00"})

    fake.handlers["query"] = query
    fake.handlers["batch"] = batch


def _write(ops: list[OutboundOp], **settings: Any) -> tuple[FakeQbo, list[Any]]:
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        _fake_store(fake, stale=settings.pop("stale", None))
        results = make_connector(fake, **settings).write(ops)
    return fake, results


def test_every_write_carries_requestid_from_the_outbox_key() -> None:
    ops = [STATUS, NOTE, NEW_PAYMENT, EXISTING_PAYMENT]
    fake, results = _write(ops)
    (batch,) = fake.api_calls("batch")
    assert batch.params["requestid"] == request_id_for([op.key for op in ops])
    assert batch.params["minorversion"] == "75"
    items = batch.json()["BatchItemRequest"]
    # The status and the note of invoice 130 travel as one update (under the status's bId).
    assert [i["bId"] for i in items] == [
        batch_id_for(op.key) for op in (STATUS, NEW_PAYMENT, EXISTING_PAYMENT)
    ]
    assert items[0]["Invoice"]["CustomField"] and marker_for(NOTE.key) in items[0]["Invoice"]["PrivateNote"]
    assert [r.key for r in results] == [op.key for op in ops]
    assert all(r.ok for r in results), [r.error for r in results]
    # The same operations resent produce the same requestid: Intuit answers the retry from its log.
    fake_again, _ = _write(list(reversed(ops)))
    assert fake_again.api_calls("batch")[0].params["requestid"] == batch.params["requestid"]


def test_collection_status_is_a_sparse_invoice_update_with_the_custom_field_and_sync_token() -> None:
    fake, (result,) = _write([STATUS])
    assert fake.api_calls("query") == [], "base_version is the SyncToken: no read needed"
    (item,) = fake.api_calls("batch")[0].json()["BatchItemRequest"]
    assert item["operation"] == "update"
    assert item["Invoice"] == {
        "Id": "130",
        "SyncToken": "3",
        "sparse": True,
        "CustomField": [
            {"DefinitionId": "1", "Type": "StringType", "StringValue": "escalated · L2 · 2026-12-01"}
        ],
    }
    assert result.ok and result.version == "4"


def test_dunning_level_goes_to_its_own_custom_field_when_configured() -> None:
    fake, _ = _write([STATUS], dunning_level_field_id="2")
    body = fake.api_calls("batch")[0].json()["BatchItemRequest"][0]["Invoice"]
    assert body["CustomField"] == [
        {"DefinitionId": "1", "Type": "StringType", "StringValue": "escalated · 2026-12-01"},
        {"DefinitionId": "2", "Type": "StringType", "StringValue": "2"},
    ]


def test_collection_status_text_fits_the_31_character_custom_field_and_reads_back() -> None:
    for status in CollectionStatus:
        text = format_collection_status(status, 12, date(2026, 12, 1))
        assert len(text) <= 31
        assert parse_collection_status(text) == (status, 12)


def test_note_is_appended_to_the_private_note_with_its_marker() -> None:
    fake, (result,) = _write([NOTE])
    body = fake.api_calls("batch")[0].json()["BatchItemRequest"][0]["Invoice"]
    assert (
        body["PrivateNote"] == f"Sent reminder 1\n{marker_for(NOTE.key)} Customer promised payment by Friday."
    )
    assert body["SyncToken"] == "3" and body["sparse"] is True
    assert "CustomerMemo" not in body, "collections notes are internal, never printed on the invoice"
    assert result.ok


def test_new_payment_links_invoices_and_credit_memos() -> None:
    fake, (result,) = _write([NEW_PAYMENT])
    item = fake.api_calls("batch")[0].json()["BatchItemRequest"][0]
    assert item["operation"] == "create"
    payment = item["Payment"]
    assert payment["CustomerRef"] == {"value": "7"}
    assert payment["TotalAmt"] == 150
    assert payment["PaymentRefNum"] == "BANK-REF-2026-05-03-0"
    assert payment["Line"] == [
        {"Amount": 180, "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]},
        {"Amount": 30, "LinkedTxn": [{"TxnId": "140", "TxnType": "CreditMemo"}]},
    ]
    assert marker_for(NEW_PAYMENT.key) in payment["PrivateNote"]
    assert result.ok and result.remote_id == "901"


def test_adding_to_an_unapplied_payment_sends_all_its_lines() -> None:
    fake, (result,) = _write([EXISTING_PAYMENT])
    body = fake.api_calls("batch")[0].json()["BatchItemRequest"][0]["Payment"]
    assert body["Id"] == "88" and body["SyncToken"] == "4" and body["sparse"] is True
    assert body["Line"] == [
        {"Amount": 60, "LinkedTxn": [{"TxnId": "129", "TxnType": "Invoice"}]},
        {"Amount": 40, "LinkedTxn": [{"TxnId": "131", "TxnType": "Invoice"}]},
    ]
    assert result.ok


def test_over_applying_a_payment_is_refused_before_sending() -> None:
    too_much = OutboundOp(
        "conn/payment_application/payment/88/ffff",
        EXISTING_PAYMENT.op.model_copy(
            update={
                "allocations": [
                    Allocation(target_type=TargetType.INVOICE, target_id="131", amount=Decimal(41))
                ]
            }
        ),
    )
    fake, (result,) = _write([too_much])
    assert not result.ok and isinstance(result.error, BadRecordError)
    assert fake.api_calls("batch") == []


def test_stale_sync_token_is_a_conflict() -> None:
    _fake, results = _write([STATUS, NEW_PAYMENT], stale={"130"})
    status, payment = results
    assert not status.ok and isinstance(status.error, ConflictError)
    assert status.error.erp_code == "5010"
    assert payment.ok, "one stale item does not sink the rest of the batch"


def test_status_write_back_without_a_configured_field_is_a_permanent_error() -> None:
    fake, (result,) = _write([STATUS], collection_status_field_id=None)
    assert isinstance(result.error, PermanentError) and "collection_status_field_id" in result.error.message
    assert fake.api_calls("batch") == []


def test_more_operations_than_batch_max_are_split_into_several_batches() -> None:
    ops = [
        OutboundOp(
            f"conn/collection_status/invoice/{n}/k", STATUS.op.model_copy(update={"target_id": str(n)})
        )
        for n in range(1, 26)
    ]
    fake, results = _write(ops, batch_max=10)
    assert [len(b.json()["BatchItemRequest"]) for b in fake.api_calls("batch")] == [10, 10, 5]
    assert len(results) == 25 and all(r.ok for r in results)


def test_find_written_finds_a_created_payment_by_its_marker() -> None:
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        stored = {"Id": "901", "SyncToken": "0", "PrivateNote": f"{marker_for(NEW_PAYMENT.key)} applied"}
        fake.handlers["query"] = lambda sent: json_answer({"QueryResponse": {"Payment": [stored]}})
        conn = make_connector(fake)
        found = conn.find_written(NEW_PAYMENT)
        missing = conn.find_written(OutboundOp("conn/payment_application/customer/7/other", NEW_PAYMENT.op))
    assert "CustomerRef = '7'" in fake.api_calls("query")[0].body
    assert "TxnDate = '2026-05-03'" in fake.api_calls("query")[0].body
    assert found is not None and found.ok and found.duplicate and found.remote_id == "901"
    assert missing is not None and not missing.ok and missing.error is None


def test_request_bodies_use_only_intuit_schema_elements(specs_dir: Path) -> None:
    schema = intuit_schema.load(str(specs_dir / "quickbooks" / "xsd"))
    fake, _ = _write([STATUS, NOTE, NEW_PAYMENT, EXISTING_PAYMENT], dunning_level_field_id="2")
    bodies = [s for s in fake.sent if s.path == "batch"]
    assert bodies
    for sent in bodies:
        assert intuit_schema.check_batch(schema, sent.json()) == []
    # The checker itself refuses what Intuit's schema does not define.
    bad = {
        "BatchItemRequest": [
            {"bId": "1", "operation": "upsert", "Invoice": {"Id": "1", "Colour": "red", "TotalAmt": "lots"}}
        ]
    }
    problems = intuit_schema.check_batch(schema, bad)
    assert any("upsert" in p for p in problems)
    assert any("Colour" in p for p in problems)
    assert any("TotalAmt" in p for p in problems)


@pytest.mark.parametrize("entity", ["Customer", "Invoice", "CreditMemo", "Payment"])
def test_query_statements_name_only_intuit_fields(specs_dir: Path, entity: str) -> None:
    schema = intuit_schema.load(str(specs_dir / "quickbooks" / "xsd"))
    names = {e.local_name for e in schema.elements[entity].type.content.iter_elements()}
    meta = {e.local_name for e in schema.types["ModificationMetaData"].content.iter_elements()}
    statement = make_connector()._statement(entity, ["MetaData.LastUpdatedTime >= 'x'"], 1)
    fields = re.findall(r"(?:WHERE|AND|ORDERBY)\s+([A-Za-z.]+)", statement)
    assert fields
    for name in fields:
        head, *rest = name.split(".")
        assert head in names, f"{entity} has no {head}"
        assert not rest or rest[0] in meta


def test_an_operation_an_admin_put_back_leaves_under_a_new_request_id_and_keeps_it_for_resends() -> None:
    state = MemoryKeyValueStore()
    fake, _ = _write([STATUS], state=state)
    first = fake.api_calls("batch")[0].params["requestid"]
    fake, _ = _write([OutboundOp(STATUS.key, STATUS.op, new_request=True)], state=state)
    renewed = fake.api_calls("batch")[0].params["requestid"]
    fake, _ = _write([STATUS], state=state)  # a resend after a lost answer
    assert first == request_id_for([STATUS.key]) and renewed != first
    assert fake.api_calls("batch")[0].params["requestid"] == renewed


def test_a_request_refused_as_a_whole_is_not_sent_again_under_its_id() -> None:
    state = MemoryKeyValueStore()
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        _fake_store(fake)
        fake.handlers["batch"] = lambda sent: json_answer(
            {
                "Fault": {
                    "Error": [{"Message": "Request has invalid or unsupported property", "code": "2010"}],
                    "type": "ValidationFault",
                }
            },
            status=400,
        )
        with pytest.raises(BadRecordError):
            make_connector(fake, state=state).write([STATUS])
        refused = fake.api_calls("batch")[0].params["requestid"]
    fake, [result] = _write([STATUS], state=state)
    assert result.ok and fake.api_calls("batch")[0].params["requestid"] != refused


def test_two_status_updates_of_one_invoice_are_not_merged() -> None:
    later = OutboundOp(
        "conn/collection_status/invoice/130/77aa",
        STATUS.op.model_copy(update={"collection_status": CollectionStatus.ON_HOLD}),
    )
    fake, _ = _write([STATUS, later])
    assert len(fake.api_calls("batch")[0].json()["BatchItemRequest"]) == 2
