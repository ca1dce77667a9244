"""The collectors' worklist: ranked by amount at risk, age and payment behaviour, every rank explained."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from conftest import AS_OF, customer, invoice

from rules.dunning import HistoryEntry, worklist

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
        f"score {entry.score}: 2600.00 EUR overdue in 2 invoice(s) (+34.15); oldest 40 days overdue (+6.67); "
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


def test_amounts_in_several_currencies_use_the_given_rates() -> None:
    custs = [customer("C1")]
    invs = [
        invoice("1", TODAY - timedelta(days=20), "100.00"),
        invoice("2", TODAY - timedelta(days=20), "100.00", currency="JPY"),
    ]
    [at_par] = worklist(custs, invs, [], AS_OF)
    assert "[no FX rate for EUR, JPY: added at par]" in at_par.explanation
    [converted] = worklist(custs, invs, [], AS_OF, fx_rates={"EUR": Decimal(1), "JPY": Decimal("0.006")})
    assert "no FX rate" not in converted.explanation
    assert converted.components["amount"] < at_par.components["amount"]


def test_worklist_entries_serialise_to_json() -> None:
    [entry] = worklist([customer()], [invoice("1", TODAY - timedelta(days=3))], [], AS_OF, limit=5)
    data = entry.to_json()
    assert (
        data["rank"] == 1
        and data["amount_at_risk"] == {"EUR": "100.00"}
        and data["average_days_late"] is None
    )
