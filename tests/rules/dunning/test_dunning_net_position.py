"""Unapplied cash and open credits count: reminders ask for the customer's net position only."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from mapping.models import Payment
from rules.dunning import plan, render
from rules.dunning.recheck import why_not_send
from tests.rules.dunning.builders import (
    AS_OF,
    actions,
    credit_memo,
    customer,
    invoice,
    make_policy,
    pdf_text,
    skips,
)

TODAY = date(2026, 11, 23)
DUE = TODAY - timedelta(days=10)


def payment(pid: str, unapplied: str, cid: str = "C1", **kw: Any) -> Payment:
    data: dict[str, Any] = {
        "remote_id": pid,
        "customer_remote_id": cid,
        "date": TODAY - timedelta(days=3),
        "amount": Decimal(unapplied),
        "unapplied_amount": Decimal(unapplied),
        "currency": "EUR",
        "reference": f"wire {pid}",
        "remote_modified_at": AS_OF,
    }
    data.update(kw)
    return Payment.model_validate(data)


def test_a_customer_with_unapplied_cash_is_asked_only_for_what_it_still_owes() -> None:
    invs = [invoice("1", DUE, "12000.00"), invoice("2", DUE, "505.00")]
    [action] = actions(
        plan(make_policy(), [customer()], invs, [], [], AS_OF, payments=[payment("P9", "499.50")])
    )
    assert action.total_open == Decimal("12505.00")
    assert action.total_credit == Decimal("499.50")
    assert action.total_due == Decimal("12005.50")  # what the ERP shows as the balance
    [credit] = action.credits
    assert (credit.kind, credit.label, credit.amount) == ("payment", "wire P9", Decimal("499.50"))
    text = render(action, customer()).text
    assert "Payment received wire P9 (2026-11-20): -499.50 EUR" in text
    assert "Already paid or credited: -499.50 EUR" in text
    assert "Total now due: 12,005.50 EUR" in text


def test_an_open_credit_note_is_a_credit_line_on_the_letter_too() -> None:
    general = credit_memo("M1", applies_to="paid-long-ago", amount="30.00")
    [action] = actions(
        plan(make_policy(), [customer(email=None)], [invoice("1", DUE, "100.00")], [general], [], AS_OF)
    )
    assert action.channel.value == "letter" and action.total_due == Decimal("70.00")
    rendered = render(action, customer(email=None))
    assert "Credit note CM-M1 (2026-11-01): -30.00 EUR" in rendered.text
    assert rendered.pdf is not None and "Credit note CM-M1 (2026-11-01): -30.00 EUR" in pdf_text(rendered.pdf)


def test_a_customer_whose_credits_cover_the_overdue_invoices_gets_nothing() -> None:
    results = list(
        plan(
            make_policy(),
            [customer()],
            [invoice("1", DUE, "400.00")],
            [],
            [],
            AS_OF,
            payments=[payment("P1", "250.00"), payment("P2", "150.00")],
        )
    )
    assert actions(results) == []
    [skip] = skips(results)
    assert skip.skipped == "covered_by_credit"
    assert "covered by 400.00 EUR of unapplied payments and open credits" in skip.reason


def test_credits_count_against_the_minimum_amount() -> None:
    policy = make_policy(std__minimum_amount={"EUR": "50.00"})
    results = list(
        plan(
            policy,
            [customer()],
            [invoice("1", DUE, "100.00")],
            [],
            [],
            AS_OF,
            payments=[payment("P", "60.00")],
        )
    )
    [skip] = skips(results)
    assert skip.skipped == "below_minimum"
    assert (
        "overdue total 40.00 EUR (100.00 EUR less 60.00 EUR of credits) is below the minimum 50.00 EUR"
        in (skip.reason)
    )


def test_credits_in_another_currency_do_not_reduce_a_reminder() -> None:
    [action] = actions(
        plan(
            make_policy(),
            [customer()],
            [invoice("1", DUE, "100.00")],
            [],
            [],
            AS_OF,
            payments=[payment("P", "100.00", currency="USD")],
        )
    )
    assert action.total_due == Decimal("100.00") and action.credits == ()


def test_a_credit_memo_raised_against_an_open_invoice_pauses_it_and_is_no_general_credit() -> None:
    pending = credit_memo("M1", applies_to="1", amount="20.00")
    results = list(
        plan(
            make_policy(), [customer()], [invoice("1", DUE), invoice("2", DUE, "80.00")], [pending], [], AS_OF
        )
    )
    [action] = actions(results)
    assert action.invoice_ids == ("2",) and action.credits == ()
    assert [s.skipped for s in skips(results)] == ["credit_memo_pending"]


def test_a_payment_arriving_between_planning_and_sending_cancels_the_reminder() -> None:
    cust = customer()
    inv = invoice("1", DUE, "100.00")
    [action] = actions(plan(make_policy(), [cust], [inv], [], [], AS_OF))
    reason = why_not_send(action, cust, {"1": inv}, TODAY, [], payments=[payment("P", "100.00")])
    assert reason == "the customer's unapplied payments and open credits are 100.00 EUR now, not 0"
    assert why_not_send(action, cust, {"1": inv}, TODAY, [], payments=[]) is None
