"""Write-back: custom fields through updateList, payments through upsertList by externalId."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lxml import etree

from connectors.base import OutboundOp
from connectors.errors import BadRecordError, PermanentError
from connectors.netsuite import NetSuiteConnector, external_id_for
from mapping.models import (
    Allocation,
    CollectionStatus,
    CollectionStatusUpdate,
    Invoice,
    PaymentApplication,
    TargetType,
)
from sandboxes.netsuite import NetSuiteSandbox


def _custom(sandbox: NetSuiteSandbox, record_type: str, rid: str) -> dict[str, str | None]:
    rec = sandbox.record(record_type, rid)
    return {
        cf.get("scriptId") or "": cf.findtext("{*}value")
        for cf in rec.iterfind("{*}customFieldList/{*}customField")
    }


def _open_invoice(sandbox: NetSuiteSandbox) -> tuple[str, str, Decimal]:
    for rid in sandbox.ids("invoice"):
        rec = sandbox.record("invoice", rid)
        if rec.findtext("{*}status") == "Open" and rec.findtext("{*}amountPaid") in ("0.00", None):
            entity = rec.find("{*}entity")
            assert entity is not None
            return rid, entity.get("internalId", ""), Decimal(rec.findtext("{*}amountRemaining") or "0")
    raise AssertionError("no open invoice in the demo seed")


def test_collection_status_goes_into_custom_body_and_entity_fields(
    sandbox: NetSuiteSandbox, connector: NetSuiteConnector
) -> None:
    invoice, customer, _ = _open_invoice(sandbox)
    ops = [
        OutboundOp(
            "k-inv",
            CollectionStatusUpdate(
                target_type=TargetType.INVOICE,
                target_id=invoice,
                collection_status=CollectionStatus.ESCALATED,
                dunning_level=2,
                next_action_date=date(2024, 6, 3),
            ),
        ),
        OutboundOp(
            "k-cust",
            CollectionStatusUpdate(
                target_type=TargetType.CUSTOMER,
                target_id=customer,
                collection_status=CollectionStatus.REMINDED,
                dunning_level=1,
            ),
        ),
    ]
    results = connector.write(ops)
    assert [r.ok for r in results] == [True, True]
    assert sandbox.calls("updateList") == 1
    fields = _custom(sandbox, "invoice", invoice)
    assert fields["custbody_arb_collection_status"] == "escalated"
    assert fields["custbody_arb_dunning_level"] == "2"
    assert (fields["custbody_arb_next_action"] or "").startswith("2024-06-03")
    assert _custom(sandbox, "customer", customer)["custentity_arb_collection_status"] == "reminded"
    fetched = connector.fetch(TargetType.INVOICE, invoice)
    assert isinstance(fetched, Invoice) and fetched.collection_status is CollectionStatus.ESCALATED
    assert fetched.dunning_level == 2


def test_per_record_failure_in_update_list_is_a_per_op_result(
    sandbox: NetSuiteSandbox, connector: NetSuiteConnector
) -> None:
    invoice, _, _ = _open_invoice(sandbox)
    good = OutboundOp(
        "good",
        CollectionStatusUpdate(
            target_type=TargetType.INVOICE, target_id=invoice, collection_status=CollectionStatus.PROMISED
        ),
    )
    missing = OutboundOp(
        "missing",
        CollectionStatusUpdate(
            target_type=TargetType.INVOICE, target_id="999999", collection_status=CollectionStatus.PROMISED
        ),
    )
    results = connector.write([good, missing])
    assert sandbox.calls("updateList") == 1
    assert results[0].ok and results[0].remote_id == invoice
    assert not results[1].ok and isinstance(results[1].error, BadRecordError)
    assert results[1].error.erp_code == "RCRD_DSNT_EXIST"


def test_unknown_custom_field_is_a_permanent_per_op_error(sandbox: NetSuiteSandbox, make_connector) -> None:
    conn = make_connector(invoice_status_field="custbody_not_defined_here")
    invoice, _, _ = _open_invoice(sandbox)
    [result] = conn.write(
        [
            OutboundOp(
                "k",
                CollectionStatusUpdate(
                    target_type=TargetType.INVOICE,
                    target_id=invoice,
                    collection_status=CollectionStatus.DISPUTED,
                ),
            )
        ]
    )
    assert isinstance(result.error, PermanentError) and result.error.erp_code == "INVALID_CSTM_FIELD_REF"


def test_upsert_with_the_same_external_id_never_makes_a_second_payment(
    sandbox: NetSuiteSandbox, connector: NetSuiteConnector
) -> None:
    invoice, customer, due = _open_invoice(sandbox)
    part = (due / 2).quantize(Decimal("0.01"))
    op = OutboundOp(
        "outbox:ns:payment:abc123",
        PaymentApplication(
            target_type=TargetType.CUSTOMER,
            target_id=customer,
            customer_remote_id=customer,
            amount=part,
            currency="USD",
            date=date(2024, 5, 2),
            reference="ACH 7781",
            allocations=[Allocation(target_type=TargetType.INVOICE, target_id=invoice, amount=part)],
        ),
    )
    before = len(sandbox.ids("customerPayment"))
    first = connector.write([op])
    second = connector.write([op])  # the confirmation was lost; the engine sends the row again
    assert first[0].ok and second[0].ok and first[0].remote_id == second[0].remote_id
    assert len(sandbox.ids("customerPayment")) == before + 1
    payment = sandbox.record("customerPayment", first[0].remote_id or "")
    assert payment.get("externalId") == external_id_for(op.key)
    remaining = Decimal(sandbox.record("invoice", invoice).findtext("{*}amountRemaining") or "0")
    assert remaining == due - part  # applied once, not twice
    assert sandbox.calls("upsertList") == 2
    found = connector.find_written(op)
    assert found is not None and found.remote_id == first[0].remote_id


def test_payment_over_the_open_amount_is_rejected_for_that_op_only(
    sandbox: NetSuiteSandbox, connector: NetSuiteConnector
) -> None:
    invoice, customer, due = _open_invoice(sandbox)
    too_much = OutboundOp(
        "k",
        PaymentApplication(
            target_type=TargetType.CUSTOMER,
            target_id=customer,
            customer_remote_id=customer,
            amount=due + 100,
            currency="USD",
            date=date(2024, 5, 2),
            allocations=[Allocation(target_type=TargetType.INVOICE, target_id=invoice, amount=due + 100)],
        ),
    )
    [result] = connector.write([too_much])
    assert not result.ok and result.error is not None and result.error.erp_code == "INVALID_TRANS_AMT"


def test_write_envelope_carries_the_external_id(
    sandbox: NetSuiteSandbox, connector: NetSuiteConnector
) -> None:
    invoice, customer, due = _open_invoice(sandbox)
    op = OutboundOp(
        "row-42",
        PaymentApplication(
            target_type=TargetType.CUSTOMER,
            target_id=customer,
            customer_remote_id=customer,
            amount=due,
            currency="USD",
            date=date(2024, 5, 2),
            allocations=[Allocation(target_type=TargetType.INVOICE, target_id=invoice, amount=due)],
        ),
    )
    connector.write([op])
    sent = next(r for r in sandbox.requests_log if r.operation == "upsertList")
    body = etree.fromstring(sent.body)
    records = body.findall(".//{*}upsertList/{*}record")
    assert [r.get("externalId") for r in records] == [external_id_for("row-42")]
