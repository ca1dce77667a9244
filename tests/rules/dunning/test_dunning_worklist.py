"""The collectors' worklist: ranked by amount at risk, age and payment behaviour, every rank explained."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from rules.dunning import (
    CustomerDocuments,
    HistoryEntry,
    history_from_records,
    rank_customers,
    summarize_history,
    worklist,
)
from rules.dunning.fx import FxRate, FxRates
from tests.rules.dunning.builders import AS_OF, customer, invoice

TODAY = date(2026, 11, 23)


def _payments(cid: str, lateness: list[int]) -> list[HistoryEntry]:
    return [
        HistoryEntry(
            kind="payment",
            customer_id=cid,
            due_date=date(2026, 1, 1) + timedelta(days=30 * i),
            paid_date=date(2026, 1, 1) + timedelta(days=30 * i + late),
        )
        for i, late in enumerate(lateness)
    ]


def test_worklist_ranks_by_amount_at_risk_age_and_payment_behaviour() -> None:
    custs = [customer("BIG"), customer("OLD"), customer("LATE"), customer("SMALL")]
    invs = [
        invoice("b", TODAY - timedelta(days=10), "50000.00", cid="BIG"),
        invoice("o", TODAY - timedelta(days=170), "1000.00", cid="OLD"),
        invoice("l", TODAY - timedelta(days=10), "1000.00", cid="LATE"),
        invoice("s", TODAY - timedelta(days=10), "1000.00", cid="SMALL"),
        invoice("n", TODAY + timedelta(days=10), "90000.00", cid="SMALL"),  # not overdue: not at risk
    ]
    history = _payments("LATE", [30, 40, 50, 60])
    ranked = worklist(custs, invs, history, AS_OF)
    # OLD: 30.00 amount + 28.33 age = 58.33; LATE: 30.00 + 1.67 + 15.00 behaviour (45 days late on
    # average) + 6.67 trend (recent 50 vs earlier 30) = 53.34; BIG: 46.99 + 1.67 = 48.66; SMALL: 31.67.
    # A 170-day-old debt and a habitually late payer come before a large but young invoice.
    assert [e.customer_id for e in ranked] == ["OLD", "LATE", "BIG", "SMALL"]
    assert [e.score for e in ranked] == [
        Decimal("58.33"),
        Decimal("53.34"),
        Decimal("48.66"),
        Decimal("31.67"),
    ]
    assert [e.rank for e in ranked] == [1, 2, 3, 4]
    small = ranked[3]
    assert small.amount_at_risk == {"EUR": Decimal("1000.00")}
    # 10 × log10(1001) = 30.00; 10 days / 6 = 1.67; no history.
    assert small.components["amount"] == Decimal("30.00")
    assert small.components["age"] == Decimal("1.67")
    assert small.score == Decimal("31.67")


def test_every_rank_is_explained() -> None:
    custs = [customer("C1")]
    invs = [
        invoice("1", TODAY - timedelta(days=40), "2500.00"),
        invoice("2", TODAY - timedelta(days=5), "100.00"),
    ]
    broken = HistoryEntry(kind="promise", customer_id="C1", promised_date=date(2026, 10, 1), kept=False)
    history = [*_payments("C1", [0, 2, 4, 10, 12, 14]), broken]
    [entry] = worklist(custs, invs, history, AS_OF)
    assert entry.average_days_late == Decimal("7.00")
    assert entry.trend_days == Decimal("10.00")
    assert entry.broken_promises == 1
    assert entry.explanation == (
        f"score {entry.score}: 2600.00 EUR at risk in 2 invoice(s) (+34.15); oldest 40 days overdue (+6.67); "
        "pays 7.00 days late on average (+2.33); recent payments 10.00 days later than before (+3.33); "
        "1 broken promise(s) to pay (+10)"
    )
    assert entry.score == Decimal("56.48")


def test_broken_promises_raise_the_rank() -> None:
    custs = [customer("KEPT"), customer("BROKE")]
    invs = [
        invoice("k", TODAY - timedelta(days=20), "1000.00", cid="KEPT"),
        invoice(
            "b",
            TODAY - timedelta(days=20),
            "1000.00",
            cid="BROKE",
            promise_to_pay_date=TODAY - timedelta(days=2),
        ),
    ]
    ranked = worklist(custs, invs, [], AS_OF)
    assert [e.customer_id for e in ranked] == ["BROKE", "KEPT"]
    assert ranked[0].components["broken_promises"] == Decimal(10)


def test_several_currencies_rank_in_the_reporting_currency_and_the_line_names_each_rate() -> None:
    custs = [customer("C1"), customer("C2")]
    invs = [
        invoice("1", TODAY - timedelta(days=20), "1000.00"),
        invoice("2", TODAY - timedelta(days=20), "100000", currency="JPY"),
        invoice("3", TODAY - timedelta(days=20), "1500.00", cid="C2", currency="USD"),
    ]
    rates = FxRates(
        "USD",
        {
            "EUR": FxRate(Decimal("1.0842"), "fx-rates.csv", date(2026, 11, 20)),
            "JPY": FxRate(Decimal("0.0066"), "fx-rates.csv", date(2026, 11, 20)),
        },
    )
    by_id = {e.customer_id: e for e in worklist(custs, invs, [], AS_OF, fx_rates=rates)}
    # 1,000 EUR = 1,084.20 USD and 100,000 JPY = 660.00 USD: 1,744.20 USD beats C2's 1,500.00 USD.
    assert by_id["C1"].ranked_amount == Decimal("1744.20") and by_id["C1"].reporting_currency == "USD"
    assert by_id["C1"].rank == 1 and by_id["C2"].rank == 2
    assert "= 1744.20 USD at 1.0842 USD per EUR (fx-rates.csv, 2026-11-20)" in by_id["C1"].explanation
    assert "0.0066 USD per JPY (fx-rates.csv, 2026-11-20)" in by_id["C1"].explanation


def test_a_currency_without_a_rate_is_named_on_the_line_never_added_at_par() -> None:
    custs = [customer("C1")]
    invs = [
        invoice("1", TODAY - timedelta(days=20), "100.00"),
        invoice("2", TODAY - timedelta(days=20), "90000", currency="JPY"),
    ]
    [unconfigured] = worklist(custs, invs, [], AS_OF)
    assert unconfigured.ranked_amount == Decimal("90000")
    assert "no FX rates configured: ranked on the 90000 JPY only, EUR not added" in unconfigured.explanation
    [partial] = worklist(custs, invs, [], AS_OF, fx_rates=FxRates("EUR", {}))
    assert partial.ranked_amount == Decimal("100.00")
    assert "no FX rate for JPY: not counted" in partial.explanation


def test_worklist_entries_serialise_to_json() -> None:
    [entry] = worklist([customer()], [invoice("1", TODAY - timedelta(days=3))], [], AS_OF, limit=5)
    data = entry.to_json()
    assert (
        data["rank"] == 1
        and data["amount_at_risk"] == {"EUR": "100.00"}
        and data["average_days_late"] is None
    )


def test_the_top_n_are_the_first_n_of_the_full_ranking() -> None:
    custs = [customer(f"C{i}") for i in range(12)]
    invs = [
        invoice(f"{i}", TODAY - timedelta(days=5 + 7 * (i % 5)), f"{100 * (i + 1)}.00", cid=f"C{i}")
        for i in range(12)
    ]
    full = worklist(custs, invs, [], AS_OF)
    top = worklist(custs, invs, [], AS_OF, limit=3)
    assert len(full) == 12 and top == full[:3]
    assert [e.rank for e in top] == [1, 2, 3]


def test_customers_given_one_at_a_time_rank_as_the_whole_list_does() -> None:
    custs = [customer(f"C{i}") for i in range(6)]
    invs = [invoice(f"{i}", TODAY - timedelta(days=3 + 9 * i), "400.00", cid=f"C{i}") for i in range(6)]
    invs.append(invoice("future", TODAY + timedelta(days=9), "9000.00", cid="C5"))
    invs.append(invoice("x", TODAY - timedelta(days=30), "50.00", cid="NOBODY"))
    groups = [
        CustomerDocuments(c.remote_id, c, [i for i in invs if i.customer_remote_id == c.remote_id])
        for c in custs
    ]
    groups.append(CustomerDocuments("NOBODY", None, [invs[-1]]))
    ranking = rank_customers(groups, AS_OF, limit=4)
    assert ranking.customers == 7
    assert ranking.entries == worklist(custs, invs, [], AS_OF, limit=4)
    assert [e.customer_id for e in ranking.entries][:2] == ["C5", "C4"]


def test_payment_behaviour_and_promises_are_read_from_the_erps_payments() -> None:
    from mapping.models import Allocation, Payment, TargetType

    def paid(iid: str, due: date, on: date, promise: date | None = None) -> tuple[object, Payment]:
        inv = invoice(iid, due, "0.00", total="100.00", status="paid", promise_to_pay_date=promise)
        pay = Payment(
            remote_id=f"P{iid}",
            customer_remote_id="C1",
            date=on,
            amount=Decimal("100.00"),
            currency="EUR",
            unapplied_amount=Decimal(0),
            allocations=[Allocation(target_type=TargetType.INVOICE, target_id=iid, amount=Decimal("100.00"))],
            remote_modified_at=AS_OF,
        )
        return inv, pay

    pairs = [
        paid("1", date(2026, 3, 1), date(2026, 3, 3)),
        paid("2", date(2026, 5, 1), date(2026, 5, 11)),
        paid("3", date(2026, 7, 1), date(2026, 7, 21), promise=date(2026, 7, 15)),  # paid after the promise
        paid("4", date(2026, 9, 1), date(2026, 9, 5), promise=date(2026, 9, 10)),  # kept
    ]
    invs = [inv for inv, _ in pairs]
    entries = list(history_from_records("C1", invs, [pay for _, pay in pairs]))  # type: ignore[arg-type]
    [summary] = summarize_history(entries).values()
    assert summary.payments == 4 and summary.average_days_late == Decimal(36) / 4  # 2 + 10 + 20 + 4 days
    assert (summary.broken_promises, summary.kept_promises) == (1, 1)
    overdue = invoice("5", TODAY - timedelta(days=15), "700.00")
    [entry] = rank_customers(
        [CustomerDocuments("C1", customer("C1"), [*invs, overdue], summary)], AS_OF
    ).entries
    assert "pays 9.00 days late on average" in entry.explanation
    assert "1 broken promise(s) to pay" in entry.explanation
