"""The worklist line tells the collector what stops the call and counts only what is really at risk.

A disputed invoice and an invoice under a promise to pay are shown on the line and left out of the
amount at risk; the customer's unapplied payments and open credits are set against the rest.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from mapping.models import Payment, PaymentStatus
from rules.dunning import worklist
from tests.rules.dunning.builders import AS_OF, credit_memo, customer, invoice

TODAY = date(2026, 11, 23)


def test_disputes_promises_and_credits_are_named_on_the_line_and_left_out_of_the_amount_at_risk() -> None:
    invoices = [
        invoice("1", TODAY - timedelta(days=40), "500.00", disputed=True),
        invoice("2", TODAY - timedelta(days=30), "300.00", promise_to_pay_date=TODAY + timedelta(days=5)),
        invoice("3", TODAY - timedelta(days=20), "400.00"),
    ]
    on_account = Payment(
        remote_id="P1",
        customer_remote_id="C1",
        date=TODAY - timedelta(days=3),
        amount=Decimal("150.00"),
        unapplied_amount=Decimal("150.00"),
        currency="EUR",
        status=PaymentStatus.UNAPPLIED,
        remote_modified_at=AS_OF,
    )
    memo = credit_memo("M1", applies_to="", amount="50.00", applies_to_invoice_id=None)  # a general credit

    [entry] = worklist([customer("C1")], invoices, [], AS_OF, payments=[on_account], credit_memos=[memo])

    # 400.00 overdue and neither disputed nor promised, less 150.00 on account and 50.00 credited.
    assert entry.amount_at_risk == {"EUR": Decimal("200.00")}
    assert entry.disputed == {"EUR": Decimal("500.00")} and entry.promised == {"EUR": Decimal("300.00")}
    assert entry.credits == {"EUR": Decimal("200.00")}
    assert "INV-1 (500.00 EUR) is disputed" in entry.held
    assert f"INV-2 (300.00 EUR) is promised by {(TODAY + timedelta(days=5)).isoformat()}" in entry.held


def test_an_invoice_dated_beyond_the_calendar_is_shown_for_correction_and_the_worklist_goes_on() -> None:
    invoices = [
        invoice("1", TODAY - timedelta(days=30), "300.00"),
        invoice("2", TODAY, "80.00", issue_date=date(9999, 12, 20), due_date=None),
        invoice("3", TODAY - timedelta(days=30), "500.00", cid="C2"),
    ]

    entries = {e.customer_id: e for e in worklist([customer("C1"), customer("C2")], invoices, [], AS_OF)}

    assert entries["C1"].amount_at_risk == {"EUR": Decimal("300.00")}
    assert (
        "INV-2: issued 9999-12-20, its due date is beyond the calendar; correct it in the ERP"
        in entries["C1"].held
    )
    assert entries["C2"].amount_at_risk == {"EUR": Decimal("500.00")}
