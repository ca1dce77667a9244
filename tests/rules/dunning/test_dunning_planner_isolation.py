"""One customer's records that the planner cannot reason with stop that customer only.

A date beyond the calendar (an ERP typing slip: issued in 9999, no due date, so the policy's terms
run past year 9999) makes that customer a ``planning_failed`` skip naming it and the error; every
other customer is planned as if it were not there, whichever of the planner's paths meets it.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from mapping.models import DocumentStatus, Payment, PaymentStatus, TargetType
from rules.dunning import SkipCode, plan
from tests.rules.dunning.builders import AS_OF, actions, customer, invoice, make_policy, skips

TODAY = AS_OF.date()
SLIP = date(9999, 12, 20)


def test_a_customer_with_a_date_beyond_the_calendar_is_reported_by_name_and_the_others_are_planned() -> None:
    pol = make_policy()
    results = list(
        plan(
            pol,
            [customer("A"), customer("B"), customer("C")],
            [
                invoice("A1", TODAY - timedelta(days=20), cid="A"),
                invoice("B1", TODAY - timedelta(days=20), cid="B"),
                invoice("B2", TODAY - timedelta(days=20), cid="B", issue_date=SLIP, due_date=None),
                invoice("C1", TODAY - timedelta(days=20), cid="C"),
            ],
            [],
            [],
            AS_OF,
        )
    )

    assert sorted(a.customer_id for a in actions(results)) == ["A", "C"]
    [failed] = [s for s in skips(results) if s.skipped == SkipCode.PLANNING_FAILED]
    assert failed.customer_id == "B" and failed.invoice_ids == ("B1", "B2")
    assert failed.reason.startswith("customer B (Customer B) could not be planned: OverflowError")


def test_a_paid_invoice_beyond_the_calendar_does_not_stop_reading_payment_behaviour() -> None:
    courtesy = {"days_before_due": 5, "channels": ["email"], "template": "courtesy", "only_likely_late": 0.5}
    pol = make_policy(std__courtesy=courtesy)
    slip = invoice("B0", TODAY, cid="B", issue_date=SLIP, due_date=None, open_amount=Decimal("0.00"))
    slip = slip.model_copy(update={"status": DocumentStatus.PAID})
    paid = Payment(
        remote_id="P1",
        customer_remote_id="B",
        status=PaymentStatus.APPLIED,
        date=TODAY - timedelta(days=3),
        amount=Decimal("100.00"),
        currency="EUR",
        unapplied_amount=Decimal("0.00"),
        allocations=[{"target_type": TargetType.INVOICE, "target_id": "B0", "amount": "100.00"}],
        remote_modified_at=AS_OF,
    )

    results = list(
        plan(
            pol,
            [customer("A"), customer("B")],
            [
                invoice("A1", TODAY - timedelta(days=20), cid="A"),
                slip,
                invoice("B1", TODAY - timedelta(days=9), cid="B"),
            ],
            [],
            [],
            AS_OF,
            presorted=True,
            payments=[paid],
        )
    )

    assert sorted(a.customer_id for a in actions(results)) == ["A", "B"]
