"""Grouping per customer and currency, minimum amounts, fees, compensation and interest."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from rules.dunning import SkipCode, interest_for, plan
from rules.dunning.policy import RateTable, load_policy
from tests.rules.dunning.builders import (
    AS_OF,
    actions,
    as_history,
    customer,
    invoice,
    make_policy,
    run,
    skips,
)

TODAY = date(2026, 11, 23)


def test_one_communication_per_customer_and_currency_lists_all_overdue_invoices() -> None:
    invs = [
        invoice("1", TODAY - timedelta(days=40), "100.00"),
        invoice("2", TODAY - timedelta(days=9), "250.50"),
        invoice("3", TODAY - timedelta(days=2), "10.00"),  # overdue, younger than level 1: still listed
        invoice("4", TODAY - timedelta(days=10), "70.00", currency="USD"),
        invoice("5", TODAY + timedelta(days=10), "999.00"),  # not due yet: not listed
    ]
    results = run(make_policy(), [customer()], invs)
    by_currency = {a.currency: a for a in actions(results)}
    assert set(by_currency) == {"EUR", "USD"}
    assert by_currency["EUR"].invoice_ids == ("1", "2", "3")  # oldest due date first
    assert by_currency["EUR"].total_open == Decimal("360.50")
    assert by_currency["USD"].invoice_ids == ("4",)
    assert len(actions(results)) == 2


def test_minimum_overdue_amount_is_per_currency() -> None:
    pol = make_policy(std__minimum_amount={"EUR": "50.00", "*": "5.00"})
    invs = [
        invoice("1", TODAY - timedelta(days=10), "30.00"),
        invoice("2", TODAY - timedelta(days=10), "19.99"),
        invoice("3", TODAY - timedelta(days=10), "6.00", currency="USD"),
        invoice("4", TODAY - timedelta(days=10), "4.99", currency="GBP"),
    ]
    results = run(pol, [customer()], invs)
    assert [a.currency for a in actions(results)] == ["USD"]
    [eur] = [s for s in skips(results) if s.currency == "EUR"]
    assert eur.skipped == SkipCode.BELOW_MINIMUM
    assert eur.reason == "overdue total 49.99 EUR is below the minimum 50.00 EUR"
    [gbp] = [s for s in skips(results) if s.currency == "GBP"]
    assert "4.99 GBP is below the minimum 5.00 GBP" in gbp.reason


def test_level_fee_is_charged_in_the_invoice_currency() -> None:
    pol = make_policy()
    invs = [
        invoice("1", TODAY - timedelta(days=30)),
        invoice("2", TODAY - timedelta(days=30), currency="USD"),
    ]
    history = as_history(run(pol, [customer()], invs, as_of=AS_OF - timedelta(days=10)))
    results = run(pol, [customer()], invs, history=history)
    fees = {a.currency: (a.level, a.fees) for a in actions(results)}
    assert fees == {"EUR": (2, Decimal("5.00")), "USD": (2, Decimal("6.00"))}
    eur = next(a for a in actions(results) if a.currency == "EUR")
    assert eur.total_due == Decimal("105.00")
    assert "fee 5.00 EUR" in eur.reason


def test_fixed_compensation_is_charged_once_per_invoice() -> None:
    pol = make_policy(std__compensation_per_invoice={"EUR": "40.00"})
    old = invoice("1", TODAY - timedelta(days=30))
    first = actions(run(pol, [customer()], [old], as_of=AS_OF - timedelta(days=10)))
    assert first[0].fees == Decimal("40.00")
    # Ten days later a second invoice is overdue too: it owes its 40, the first does not again.
    new = invoice("2", TODAY - timedelta(days=8))
    [second] = actions(run(pol, [customer()], [old, new], history=as_history(first)))
    assert second.level == 2
    assert {ln.invoice_id: ln.compensation for ln in second.lines} == {"1": Decimal(0), "2": Decimal("40.00")}
    assert second.fees == Decimal("45.00")  # 5.00 level fee + 40.00 for the new invoice


def _table(periods: list[tuple[str, str]], margin: str = "8") -> RateTable:
    return RateTable.model_validate(
        {"margin_percent": margin, "periods": [{"from": d, "reference_percent": r} for d, r in periods]}
    )


def test_interest_follows_the_rate_table_per_day() -> None:
    table = _table([("2025-01-01", "3.15"), ("2025-07-01", "2.15")])
    # 16–30 June: 15 days at 11.15 %; 1–10 July: 10 days at 10.15 %.
    # 1000 × (15 × 11.15 + 10 × 10.15) / 100 / 365 = 1000 × 268.75 / 36500 = 7.3630… → 7.36
    got = interest_for(Decimal("1000.00"), date(2025, 6, 15), date(2025, 7, 10), table, "EUR")
    assert got == Decimal("7.36")


def test_interest_starts_the_day_after_the_due_date() -> None:
    table = _table([("2026-01-01", "2.15")])
    due = date(2026, 9, 30)
    assert interest_for(Decimal("1000.00"), due, due, table, "EUR") == Decimal("0.00")
    # One day at 10.15 %: 1000 × 10.15 / 36500 = 0.27808… → 0.28
    assert interest_for(Decimal("1000.00"), due, due + timedelta(days=1), table, "EUR") == Decimal("0.28")
    # Days before the table starts earn nothing rather than a guessed rate.
    assert interest_for(Decimal("1000.00"), date(2025, 12, 30), date(2026, 1, 1), table, "EUR") == Decimal(
        "0.28"
    )


def test_interest_rounds_to_the_currency_minor_unit() -> None:
    table = _table([("2026-01-01", "2.15")])
    # 100000 JPY × 10.15 % × 10 / 365 = 278.08… → 278 (yen have no minor unit)
    assert interest_for(Decimal("100000"), date(2026, 3, 1), date(2026, 3, 11), table, "JPY") == Decimal(
        "278"
    )


def test_eu_late_payment_example_charges_ecb_plus_8_and_40_eur() -> None:
    pol = load_policy("config/dunning-policy.eu-late-payment.yaml")
    inv = invoice("1", date(2026, 9, 30), "1000.00")
    cust = customer(time_zone="Europe/Brussels")
    # Level 1 (no interest in this policy, from_level 2) carries the EUR 40 compensation.
    first = list(plan(pol, [cust], [inv], [], [], AS_OF - timedelta(days=18)))
    [reminder] = actions(first)
    assert (reminder.level, reminder.fees, reminder.interest) == (1, Decimal("40.00"), Decimal("0.00"))
    # Level 2, 18 days later: interest from 1 October to 23 November = 54 days at 2.15 + 8 = 10.15 %:
    # 1000 × 10.15 × 54 / 36500 = 15.0164… → 15.02; the 40 is not charged again.
    [demand] = actions(plan(pol, [cust], [inv], [], as_history(first), AS_OF))
    assert (demand.level, demand.fees, demand.interest) == (2, Decimal("0.00"), Decimal("15.02"))
    assert demand.lines[0].days_overdue == 54
    assert demand.total_due == Decimal("1015.02")
    assert "interest 15.02 EUR to 2026-11-23" in demand.reason


@pytest.mark.parametrize("presorted", [True, False])
def test_invoices_of_unknown_customers_are_reported(presorted: bool) -> None:
    invs = [invoice("1", TODAY - timedelta(days=10), cid="A0"), invoice("2", TODAY - timedelta(days=10))]
    results = list(plan(make_policy(), [customer("C1")], invs, [], [], AS_OF, presorted=presorted))
    assert [a.customer_id for a in actions(results)] == ["C1"]
    [unknown] = skips(results)
    assert (unknown.customer_id, unknown.skipped, unknown.invoice_ids) == (
        "A0",
        SkipCode.UNKNOWN_CUSTOMER,
        ("1",),
    )


def test_presorted_streams_give_the_same_plan_as_grouping_in_memory() -> None:
    custs = [customer(f"C{i:02d}") for i in range(20)]
    invs = [
        invoice(f"{i:02d}-{j}", TODAY - timedelta(days=5 + 7 * j), cid=f"C{i:02d}")
        for i in range(0, 20, 3)
        for j in range(3)
    ]
    sorted_run = [r.to_json() for r in plan(make_policy(), custs, invs, [], [], AS_OF, presorted=True)]
    grouped_run = [r.to_json() for r in plan(make_policy(), custs, invs, [], [], AS_OF)]
    assert sorted_run == grouped_run
    assert len(actions(plan(make_policy(), custs, invs, [], [], AS_OF))) == 7


def test_presorted_streams_out_of_order_are_an_error() -> None:
    custs = [customer("C2"), customer("C1")]
    with pytest.raises(ValueError, match="not sorted"):
        list(plan(make_policy(), custs, [], [], [], AS_OF, presorted=True))


def test_plan_groups_gives_the_same_plan_from_assembled_groups() -> None:
    from rules.dunning import CustomerGroup, plan_groups, summarize_history

    invs = [invoice("1", TODAY - timedelta(days=40)), invoice("2", TODAY - timedelta(days=9), disputed=True)]
    expected = [r.to_json() for r in plan(make_policy(), [customer()], invs, [], [], AS_OF)]
    groups = [CustomerGroup(customer(), invs)]
    got = [r.to_json() for r in plan_groups(make_policy(), groups, summarize_history([]), AS_OF)]
    assert got == expected and len(got) == 2
