"""DSO, Best Possible DSO, ADD and CEI on examples worked by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from analytics.cei import collection_effectiveness_index
from analytics.dso import (
    Period,
    average_days_delinquent,
    best_possible_dso,
    count_back_dso,
    simple_dso,
)
from analytics.trends import MonthFlows, monthly_figures, roll_back

D = Decimal


def test_count_back_walks_months_until_their_sales_account_for_the_ar() -> None:
    # AR 212k; sales 100k, 80k, 70k in 30-day months: 100k and 80k used up (60 days), then 32k of 70k.
    walk = count_back_dso(D(212_000), [Period(30, D(100_000)), Period(30, D(80_000)), Period(30, D(70_000))])
    assert walk.days == D("73.71")  # 30 + 30 + 32/70 × 30
    assert walk.complete
    assert [s.ar_before for s in walk.steps] == [D(212_000), D(112_000), D(32_000)]
    assert [s.days for s in walk.steps] == [D(30), D(30), D("13.71")]


def test_count_back_over_calendar_months_uses_each_months_own_days() -> None:
    periods = [
        Period(30, D(100_000), "2026-11"),
        Period(31, D(80_000), "2026-10"),
        Period(30, D(70_000), "2026-09"),
    ]
    assert count_back_dso(D(212_000), periods).days == D("74.71")  # 30 + 31 + 13.71


def test_count_back_stops_in_the_first_month_when_it_alone_covers_the_ar() -> None:
    assert count_back_dso(D(50_000), [Period(30, D(100_000)), Period(31, D(80_000))]).days == D("15.00")


def test_count_back_says_when_the_history_is_too_short() -> None:
    walk = count_back_dso(D(300_000), [Period(30, D(100_000)), Period(31, D(80_000))])
    assert walk.days == D("61.00") and not walk.complete


def test_simple_dso_best_possible_and_days_delinquent() -> None:
    # Sep–Nov: 91 days, 250k of credit sales; AR 212k of which 150k not yet due.
    dso = simple_dso(D(212_000), D(250_000), 91)
    best = best_possible_dso(D(150_000), D(250_000), 91)
    assert dso == D("77.17")  # 212/250 × 91 = 77.168
    assert best == D("54.60")  # 150/250 × 91
    assert average_days_delinquent(dso, best) == D("22.57")


def test_dso_without_sales_is_not_a_number_of_days() -> None:
    assert simple_dso(D(1000), D(0), 30) is None
    assert average_days_delinquent(None, D(3)) is None


def test_cei_compares_what_was_collected_with_what_could_be() -> None:
    # Begin 100k + sales 50k; end 90k, of which 40k not yet due: 60k of 110k collected.
    assert collection_effectiveness_index(D(100_000), D(50_000), D(90_000), D(40_000)) == D("54.5")
    assert collection_effectiveness_index(D(100), D(0), D(0), D(0)) == D("100.0")
    assert collection_effectiveness_index(D(0), D(0), D(0), D(0)) is None


def test_ar_at_earlier_month_ends_is_todays_rolled_back_through_invoices_and_collections() -> None:
    flows = {
        date(2026, 11, 1): MonthFlows(invoiced=D(100_000), collected=D(60_000)),
        date(2026, 10, 1): MonthFlows(invoiced=D(80_000), collected=D(90_000)),
        date(2026, 9, 1): MonthFlows(invoiced=D(70_000), collected=D(50_000)),
    }
    not_due = {date(2026, 10, 1): D(70_000), date(2026, 9, 1): D(500_000)}
    totals = roll_back(date(2026, 11, 15), D(212_000), D(100_000), flows, not_due, months=3)
    assert [t.month for t in totals] == [date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)]
    assert [t.ending_ar for t in totals] == [D(182_000), D(172_000), D(212_000)]  # 212-100+60, 172-80+90
    assert [t.days for t in totals] == [30, 31, 15]
    # Not yet due at a month's end is at most that month's AR.
    assert [t.ending_current_ar for t in totals] == [D(182_000), D(70_000), D(100_000)]

    figures = monthly_figures(totals, shown=2, dso_months=2)
    november = figures[-1]
    assert november.credit_sales == D(100_000)
    assert november.overdue_ar == D(112_000)
    assert november.dso == simple_dso(D(212_000), D(180_000), 46)
    # 15 days of November and 31 of October used up whole, then 212 − 100 − 80 = 32k of September's 70k.
    assert november.count_back.days == D("59.71")  # 15 + 31 + 32/70 × 30
    assert [s.label for s in november.count_back.steps] == ["2026-11", "2026-10", "2026-09"]
    october = figures[0]
    # CEI for October: begin 182k + 80k sales; end 172k, 70k of it not yet due.
    assert october.cei == collection_effectiveness_index(D(182_000), D(80_000), D(172_000), D(70_000))
    assert october.cei == D("46.9")  # (262 − 172) / (262 − 70) = 90/192 = 46.875 %
