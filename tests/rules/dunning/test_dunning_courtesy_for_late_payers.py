"""The courtesy notice kept for customers likely to pay late: a nudge before the due date where it pays."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from mapping.models import DocumentStatus, Payment, PaymentStatus, TargetType
from rules.dunning import HistoryEntry, SkipCode, plan
from tests.rules.dunning.builders import AS_OF, actions, customer, invoice, make_policy, run, skips

TODAY = AS_OF.date()
COURTESY = {"days_before_due": 5, "channels": ["email"], "template": "courtesy"}


def _payments(cid: str, late: int, on_time: int) -> list[HistoryEntry]:
    out = []
    for i in range(late + on_time):
        due = date(2026, 1, 5) + timedelta(days=14 * i)
        paid = due + timedelta(days=12 if i < late else -1)
        out.append(
            HistoryEntry("payment", cid, invoice_ids=(f"{cid}-old-{i}",), due_date=due, paid_date=paid)
        )
    return out


def test_by_default_every_customer_gets_the_courtesy_notice() -> None:
    pol = make_policy(std__courtesy=COURTESY)

    results = run(pol, [customer("PROMPT")], [invoice("1", TODAY + timedelta(days=3), cid="PROMPT")])

    [action] = actions(results)
    assert action.level == 0 and action.customer_id == "PROMPT"


def test_only_customers_likely_to_pay_late_get_it_when_asked_and_the_others_are_told_why() -> None:
    pol = make_policy(std__courtesy={**COURTESY, "only_likely_late": 0.5})
    falling_due = TODAY + timedelta(days=3)

    results = run(
        pol,
        [customer("LATE"), customer("NEW"), customer("PROMPT")],
        [
            invoice("L1", falling_due, cid="LATE"),
            invoice("N1", falling_due, cid="NEW"),
            invoice("P1", falling_due, cid="PROMPT"),
        ],
        history=[*_payments("LATE", late=8, on_time=2), *_payments("PROMPT", late=1, on_time=9)],
    )

    [action] = actions(results)
    assert action.customer_id == "LATE" and action.level == 0
    assert "8 of 10 payments after the due date (75% likely to pay late)" in action.reason
    by_customer = {s.customer_id: s for s in skips(results)}
    assert by_customer["PROMPT"].skipped == SkipCode.NOT_LIKELY_LATE
    assert by_customer["PROMPT"].reason == (
        "courtesy notice only for customers at least 50% likely to pay late: "
        "1 of 10 payments after the due date (17% likely to pay late)"
    )
    assert (
        by_customer["NEW"].reason
        == "courtesy notice only for customers likely to pay late: no payment history yet"
    )


def test_without_history_files_the_payment_behaviour_is_read_from_the_paid_invoices() -> None:
    pol = make_policy(std__courtesy={**COURTESY, "only_likely_late": 0.5})
    paid_invoices = []
    payments = []
    for i in range(6):
        due = date(2026, 3, 2) + timedelta(days=14 * i)
        paid_invoices.append(
            invoice(f"old-{i}", due, cid="LATE", open_amount=Decimal("0.00"), status=DocumentStatus.PAID)
        )
        payments.append(
            Payment(
                remote_id=f"P{i}",
                customer_remote_id="LATE",
                status=PaymentStatus.APPLIED,
                date=due + timedelta(days=20),
                amount=Decimal("100.00"),
                currency="EUR",
                unapplied_amount=Decimal("0.00"),
                allocations=[
                    {"target_type": TargetType.INVOICE, "target_id": f"old-{i}", "amount": "100.00"}
                ],
                remote_modified_at=AS_OF,
            )
        )
    still_open = invoice("new", TODAY + timedelta(days=2), cid="LATE")

    results = list(
        plan(
            pol,
            [customer("LATE")],
            [*paid_invoices, still_open],
            [],
            [],
            AS_OF,
            presorted=True,
            payments=payments,
        )
    )

    [action] = actions(results)
    assert action.invoice_ids == ("new",)
    assert "6 of 6 payments after the due date (88% likely to pay late)" in action.reason


def test_a_payment_models_chances_judge_each_invoice_and_the_records_judge_the_rest() -> None:
    pol = make_policy(std__courtesy={**COURTESY, "only_likely_late": 0.5})
    falling_due = TODAY + timedelta(days=3)
    invoices = [
        invoice("BIG", falling_due, "9000.00", cid="PROMPT"),
        invoice("SMALL", falling_due, cid="PROMPT"),
        invoice("UNSEEN", falling_due, cid="PROMPT"),
        invoice("L1", falling_due, cid="LATE"),
    ]
    history = [*_payments("LATE", late=8, on_time=2), *_payments("PROMPT", late=1, on_time=9)]

    results = list(
        plan(
            pol,
            [customer("LATE"), customer("PROMPT")],
            invoices,
            [],
            history,
            AS_OF,
            late_chances={"BIG": 0.8, "SMALL": 0.1, "L1": 0.2},
        )
    )

    [notice] = actions(results)
    assert notice.customer_id == "PROMPT" and notice.invoice_ids == ("BIG",)
    assert "the payment model's chance of payment after the due date: INV-BIG 80%" in notice.reason
    by_customer = {s.customer_id: s for s in skips(results)}
    assert by_customer["LATE"].skipped == SkipCode.NOT_LIKELY_LATE, "the model overrules its late record"
    assert by_customer["PROMPT"].invoice_ids == ("SMALL", "UNSEEN")
    assert by_customer["PROMPT"].reason == (
        "courtesy notice only for invoices at least 50% likely to be paid late: "
        "the payment model's chance of payment after the due date: INV-SMALL 10%; "
        "1 of 10 payments after the due date (17% likely to pay late)"
    )
