"""A finance manager's aging: every open invoice in exactly one bucket, by days past its due date."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from analytics.aging import age_invoices, bucket_for, buckets_from_edges, due_date_ranges
from mapping.models import Invoice

AS_OF = date(2026, 6, 30)


def invoice(rid: str, due: date | None, open_amount: str, currency: str = "USD", **extra: object) -> Invoice:
    return Invoice(
        remote_id=rid,
        remote_modified_at=datetime(2026, 6, 1, tzinfo=UTC),
        customer_remote_id="C1",
        currency=currency,
        issue_date=date(2026, 1, 5),
        due_date=due,
        total=Decimal("1000"),
        open_amount=Decimal(open_amount),
        **extra,
    )


def test_default_buckets_are_current_then_thirty_day_steps_to_121_and_more() -> None:
    labels = [b.label for b in buckets_from_edges()]
    assert labels == ["current", "1–30", "31–60", "61–90", "91–120", "121+"]


def test_each_invoice_lands_in_the_bucket_of_its_days_past_due() -> None:
    invoices = [
        invoice("not-due", date(2026, 7, 15), "100"),  # due in 15 days
        invoice("due-today", date(2026, 6, 30), "50"),  # 0 days: still current
        invoice("one-day", date(2026, 6, 29), "10"),  # 1 day
        invoice("thirty", date(2026, 5, 31), "20"),  # 30 days
        invoice("thirty-one", date(2026, 5, 30), "30"),  # 31 days
        invoice("ninety", date(2026, 4, 1), "40"),  # 30 + 31 + 29 = 90 days
        invoice("one-twenty", date(2026, 3, 2), "60"),  # 120 days
        invoice("one-twenty-one", date(2026, 3, 1), "70"),  # 121 days
        invoice("no-due-date", None, "5"),  # issued 2026-01-05, due 30 days later: 146 days
        invoice("paid", date(2026, 5, 1), "0"),
        invoice("voided", date(2026, 5, 1), "999", deleted=True),
        invoice("euro", date(2026, 6, 1), "7.50", currency="EUR"),  # 29 days
    ]
    report = age_invoices(invoices, AS_OF)
    assert report.amounts["USD"] == {
        "current": Decimal("150"),
        "1–30": Decimal("30"),
        "31–60": Decimal("30"),
        "61–90": Decimal("40"),
        "91–120": Decimal("60"),
        "121+": Decimal("75"),
    }
    assert report.counts["USD"]["current"] == 2 and report.counts["USD"]["121+"] == 2
    assert report.amounts["EUR"]["1–30"] == Decimal("7.50")
    assert report.open_total("USD") == Decimal("385")
    assert report.overdue_total("USD") == Decimal("235")


def test_configured_edges_give_other_buckets() -> None:
    buckets = buckets_from_edges((15, 45))
    assert [b.label for b in buckets] == ["current", "1–15", "16–45", "46+"]
    assert bucket_for(16, buckets).label == "16–45"
    assert bucket_for(46, buckets).label == "46+"


@pytest.mark.parametrize("edges", [(), (30, 30), (60, 30), (0, 30)])
def test_edges_that_do_not_increase_are_refused_with_what_is_expected(edges: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="increasing order"):
        buckets_from_edges(edges)


def test_buckets_as_due_date_ranges_hold_the_same_invoices() -> None:
    ranges = dict((label, (lo, hi)) for label, lo, hi in due_date_ranges(AS_OF))
    assert ranges["current"] == (AS_OF, None)  # due today or later
    assert ranges["1–30"] == (date(2026, 5, 31), date(2026, 6, 29))
    assert ranges["31–60"] == (date(2026, 5, 1), date(2026, 5, 30))
    assert ranges["121+"] == (None, date(2026, 3, 1))
