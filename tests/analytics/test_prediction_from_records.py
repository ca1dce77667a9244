"""The prediction's history read from the store's canonical records, as the forecast and worklist read it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from analytics.prediction.book import OPEN, day
from analytics.prediction.records import books_from_records
from mapping.models import DocumentStatus, Payment, PaymentStatus, TargetType
from tests.rules.dunning.builders import AS_OF, invoice


def _payment(pid: str, on: date, *allocations: tuple[str, str, date | None]) -> Payment:
    return Payment(
        remote_id=pid,
        customer_remote_id="C1",
        status=PaymentStatus.APPLIED,
        date=on,
        amount=sum((Decimal(a) for _, a, _ in allocations), Decimal(0)),
        currency="EUR",
        unapplied_amount=Decimal("0.00"),
        allocations=[
            {"target_type": TargetType.INVOICE, "target_id": t, "amount": a, "applied_date": applied}
            for t, a, applied in allocations
        ],
        remote_modified_at=AS_OF,
    )


def test_a_paid_invoice_is_paid_on_the_day_its_last_payment_was_applied_and_open_ones_on_what_is_left() -> (
    None
):
    paid_in_two = invoice(
        "A", date(2026, 3, 1), "300.00", open_amount=Decimal("0.00"), status=DocumentStatus.PAID
    )
    never_applied = invoice(
        "B", date(2026, 3, 1), "100.00", open_amount=Decimal("0.00"), status=DocumentStatus.PAID
    )
    part_paid = invoice(
        "C",
        date(2026, 4, 1),
        "500.00",
        open_amount=Decimal("200.00"),
        status=DocumentStatus.PARTIALLY_PAID,
        promise_to_pay_date=date(2026, 5, 2),
        disputed=True,
    )
    voided = invoice("D", date(2026, 4, 1), "50.00", status=DocumentStatus.VOID)
    payments = [
        _payment("P1", date(2026, 3, 5), ("A", "100.00", None)),
        _payment("P2", date(2026, 3, 20), ("A", "200.00", date(2026, 3, 18)), ("C", "300.00", None)),
    ]

    paid, still_open = books_from_records([paid_in_two, never_applied, part_paid, voided], payments)

    assert paid.invoice_id.tolist() == ["A"]
    assert day(paid.paid[0]) == date(2026, 3, 18) and paid.amount[0] == 300.0
    assert still_open.invoice_id.tolist() == ["C"]
    assert still_open.amount[0] == 200.0 and still_open.paid[0] == OPEN
    assert bool(still_open.disputed[0]) and day(still_open.promised[0]) == date(2026, 5, 2)
