"""Writing back to GP through eConnect: receipts, applications, the collection status, each key once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import ConflictError, OutboundOp
from connectors.dynamics_gp.writer import GpWriter, receipt_number, status_text
from mapping.models import (
    Allocation,
    CollectionStatus,
    CollectionStatusUpdate,
    PaymentApplication,
    TargetType,
)
from sandboxes.dynamics_gp import GpSandbox
from tests.connectors.dynamics_gp.conftest import connector_for

TODAY = date.today()


def open_amount(gp: GpSandbox, number: str) -> Decimal:
    return Decimal(gp.rows(f'SELECT "CURTRXAM" FROM {gp.t("RM20101")} WHERE "DOCNUMBR" = ?', number)[0][0])


def payment(customer: str, amount: str, *allocations: tuple[str, str], **extra: Any) -> PaymentApplication:
    return PaymentApplication(
        target_type=TargetType.CUSTOMER,
        target_id=customer,
        customer_remote_id=customer,
        amount=Decimal(amount),
        currency="USD",
        date=TODAY,
        reference="bank 2026-1204-17",
        allocations=[
            Allocation(
                target_type=TargetType.CREDIT_MEMO if target.startswith(("7:", "8:")) else TargetType.INVOICE,
                target_id=target,
                amount=Decimal(value),
                **extra.get(target, {}),
            )
            for target, value in allocations
        ],
    )


def test_a_payment_of_two_invoices_lowers_both_once_and_a_resend_is_a_duplicate(
    gp: GpSandbox, login: str
) -> None:
    before = {n: open_amount(gp, n) for n in ("STDINV2010", "STDINV2020")}
    item = OutboundOp(
        "key-two-invoices",
        payment("AARONFIT0001", "150.00", ("1:STDINV2010", "100.00"), ("1:STDINV2020", "50.00")),
    )

    [first] = connector_for(gp, login).write([item])
    [again] = connector_for(gp, login).write([item])

    assert first.ok and not first.duplicate and first.remote_id == f"9:{receipt_number(item.key)}"
    assert again.ok and again.duplicate
    assert open_amount(gp, "STDINV2010") == before["STDINV2010"] - 100
    assert open_amount(gp, "STDINV2020") == before["STDINV2020"] - 50
    [receipt] = gp.rows(
        f'SELECT "ORTRXAMT", "CURTRXAM", "BACHNUMB", "CHEKNMBR" FROM {gp.t("RM20101")} WHERE "DOCNUMBR" = ?',
        receipt_number(item.key),
    )
    assert receipt[0] == Decimal("150") and receipt[1] == 0
    assert receipt[2].rstrip() == "ARBRIDGE" and receipt[3].rstrip() == "bank 2026-1204-17"
    assert gp.calls(item.key, "taRMCashReceiptInsert") == 1 and gp.calls(item.key, "taRMApply") == 2


def test_a_credit_memo_netted_into_a_payment_is_applied_to_the_invoice_before_the_cash(
    gp: GpSandbox, login: str
) -> None:
    invoice_before, credit_before = open_amount(gp, "STDINV2010"), open_amount(gp, "CM1000")
    item = OutboundOp(
        "key-netted", payment("AARONFIT0001", "25.00", ("1:STDINV2010", "100.00"), ("7:CM1000", "-75.00"))
    )

    [result] = connector_for(gp, login).write([item])

    assert result.ok, result.error
    assert open_amount(gp, "STDINV2010") == invoice_before - 100
    assert open_amount(gp, "CM1000") == credit_before - 75
    applies = gp.rows(
        f'SELECT "APFRDCTY", "APFRDCNM", "APPTOAMT" FROM {gp.t("RM20201")} WHERE "APTODCNM" = \'STDINV2010\' '
        'ORDER BY "APFRDCTY"'
    )
    assert [(t, n.rstrip(), a) for t, n, a in applies] == [
        (7, "CM1000", Decimal("75")),
        (9, receipt_number(item.key), Decimal("25")),
    ]


def test_a_discount_and_a_write_off_ride_on_the_cash_application(gp: GpSandbox, login: str) -> None:
    before = open_amount(gp, "STDINV2012")
    extra = {"1:STDINV2012": {"discount": Decimal("5.00"), "writeoff": Decimal("0.40")}}
    item = OutboundOp("key-discount", payment("ADVANCED0001", "94.60", ("1:STDINV2012", "94.60"), **extra))

    [result] = connector_for(gp, login).write([item])

    assert result.ok, result.error
    assert open_amount(gp, "STDINV2012") == before - 100
    [(discount, writeoff)] = gp.rows(
        f'SELECT "DISTKNAM", "WROFAMNT" FROM {gp.t("RM20201")} WHERE "APFRDCNM" = ?', receipt_number(item.key)
    )
    assert (discount, writeoff) == (Decimal("5"), Decimal("0.4"))


def test_over_application_is_refused_with_the_amount_open_and_nothing_lands(
    gp: GpSandbox, login: str
) -> None:
    before = open_amount(gp, "STDINV2010")
    too_much = str(before + 1)
    item = OutboundOp("key-over", payment("AARONFIT0001", too_much, ("1:STDINV2010", too_much)))

    [result] = connector_for(gp, login).write([item])

    assert not result.ok and result.error is not None and result.error.kind.value == "bad_record"
    assert "STDINV2010" in str(result.error) and "open" in str(result.error)
    assert open_amount(gp, "STDINV2010") == before
    assert gp.calls(item.key) == 0


def test_an_econnect_refusal_after_the_receipt_rolls_the_receipt_back(
    gp: GpSandbox, login: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GP changes under the connector's checks: the invoice seems to have more open than it has.
    real = GpWriter.document

    def stale(self: GpWriter, cursor: Any, remote_id: str, *, open_only: bool) -> Any:
        found = real(self, cursor, remote_id, open_only=open_only)
        return found and (found[0], {**found[1], "CURTRXAM": Decimal("1000000")})

    monkeypatch.setattr(GpWriter, "document", stale)
    before = open_amount(gp, "STDINV2010")
    too_much = str(before + 1)
    item = OutboundOp("key-refused", payment("AARONFIT0001", too_much, ("1:STDINV2010", too_much)))

    [result] = connector_for(gp, login).write([item])

    assert not result.ok and result.error is not None
    assert result.error.erp_code == "taRMApply:2010"
    assert "eConnect taRMApply refused" in str(result.error)
    assert not gp.rows(f'SELECT 1 FROM {gp.t("RM20101")} WHERE "DOCNUMBR" = ?', receipt_number(item.key))
    assert open_amount(gp, "STDINV2010") == before and gp.calls(item.key) == 0


def test_an_unknown_invoice_is_refused_before_any_econnect_call(gp: GpSandbox, login: str) -> None:
    item = OutboundOp("key-unknown", payment("AARONFIT0001", "10.00", ("1:NOSUCHINV", "10.00")))

    [result] = connector_for(gp, login).write([item])

    assert not result.ok and "1:NOSUCHINV is not open in GP" in str(result.error)
    assert gp.calls(item.key) == 0


def test_find_written_tells_a_landed_receipt_from_one_that_never_arrived(gp: GpSandbox, login: str) -> None:
    landed = OutboundOp("key-landed", payment("AARONFIT0001", "10.00", ("1:STDINV2010", "10.00")))
    never = OutboundOp("key-never", payment("AARONFIT0001", "10.00", ("1:STDINV2010", "10.00")))
    connector = connector_for(gp, login)
    connector.write([landed])

    found, missing = connector.find_written(landed), connector.find_written(never)

    assert found is not None and found.ok and found.remote_id == f"9:{receipt_number(landed.key)}"
    assert missing is not None and not missing.ok


def test_an_unapplied_payment_in_gp_is_applied_once_on_its_version(gp: GpSandbox, login: str) -> None:
    connector = connector_for(gp, login)
    current = connector.fetch(TargetType.PAYMENT, "9:PYMNT3006")
    assert current is not None and current.version
    before = open_amount(gp, "STDINV2006")
    op = PaymentApplication(
        target_type=TargetType.PAYMENT,
        target_id="9:PYMNT3006",
        payment_id="9:PYMNT3006",
        customer_remote_id="ATMORERE0001",
        amount=Decimal("40.00"),
        currency="USD",
        date=TODAY,
        base_version=current.version,
        allocations=[
            Allocation(target_type=TargetType.INVOICE, target_id="1:STDINV2006", amount=Decimal("40.00"))
        ],
    )
    item = OutboundOp("key-existing", op)

    [first] = connector.write([item])
    [replay] = connector_for(gp, login).write([item])

    assert first.ok and replay.ok and replay.duplicate
    assert open_amount(gp, "STDINV2006") == before - 40
    assert open_amount(gp, "PYMNT3006") == Decimal(current.unapplied_amount) - 40  # type: ignore[attr-defined]


def test_the_collection_status_of_an_invoice_lands_on_its_customer_once(gp: GpSandbox, login: str) -> None:
    connector = connector_for(gp, login, collection_status_field="COMMENT1")
    invoice = connector.fetch(TargetType.INVOICE, "1:STDINV2004")
    assert invoice is not None
    op = CollectionStatusUpdate(
        target_type=TargetType.INVOICE,
        target_id="1:STDINV2004",
        collection_status=CollectionStatus.ESCALATED,
        dunning_level=3,
        next_action_date=date(2026, 12, 18),
        base_version=invoice.version,
    )
    items = [OutboundOp("key-status-a", op), OutboundOp("key-status-a", op)]

    results = connector.write(items)

    assert [r.ok for r in results] == [True, True] and results[1].duplicate
    [(comment,)] = gp.rows(f'SELECT "COMMENT1" FROM {gp.t("RM00101")} WHERE "CUSTNMBR" = \'AMERICAN0001\'')
    assert comment.rstrip() == "ESCALATED L3 2026-12-18"
    assert gp.calls("key-status-a", "taUpdateCreateCustomerRcd") == 1


def test_a_status_decided_on_an_invoice_that_changed_since_is_a_conflict(gp: GpSandbox, login: str) -> None:
    connector = connector_for(gp, login)
    invoice = connector.fetch(TargetType.INVOICE, "1:STDINV2004")
    assert invoice is not None
    gp.post_payment(
        "AMERICAN0001", "PAY-MEANWHILE", Decimal("5.00"), TODAY, [(1, "STDINV2004", Decimal("5.00"))]
    )
    op = CollectionStatusUpdate(
        target_type=TargetType.INVOICE,
        target_id="1:STDINV2004",
        collection_status=CollectionStatus.REMINDED,
        dunning_level=1,
        base_version=invoice.version,
    )

    [result] = connector.write([OutboundOp("key-stale", op)])

    assert not result.ok and isinstance(result.error, ConflictError)
    assert gp.calls("key-stale") == 0


def test_a_status_too_long_for_the_field_drops_the_date_then_the_level() -> None:
    op = CollectionStatusUpdate(
        target_type=TargetType.CUSTOMER,
        target_id="C",
        collection_status=CollectionStatus.COLLECTIONS_AGENCY,
        dunning_level=4,
        next_action_date=date(2026, 12, 18),
    )
    assert status_text(op, 30) == "AGENCY L4 2026-12-18"
    assert status_text(op, 12) == "AGENCY L4"
    assert status_text(op, 6) == "AGENCY"
