"""The overview's sums follow the records that changed and equal what the invoices add up to."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from analytics.aging import age_invoices, bucket_for, days_overdue
from mapping.models import CreditMemo, Invoice, Payment, Stream
from store import StateStore
from store.insights import ArAggregates, ar_aggregates, refresh

AS_OF = date(2026, 11, 20)
STAMP = datetime(2026, 11, 1, tzinfo=UTC)


def inv(
    rid: str, issued: date, due: date | None, total: str, open_: str, cur: str = "EUR", **kw: object
) -> Invoice:
    return Invoice(
        remote_id=rid,
        customer_remote_id="C1",
        currency=cur,
        issue_date=issued,
        due_date=due,
        total=Decimal(total),
        open_amount=Decimal(open_),
        remote_modified_at=STAMP,
        **kw,
    )


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    s = StateStore.open(store_url)
    yield s
    s.close()


def invoices() -> list[Invoice]:
    out = []
    # Amounts with cents that a float would not add up exactly.
    for k in range(40):
        due = AS_OF - timedelta(days=k * 5 - 20)
        out.append(inv(f"I{k}", due - timedelta(days=30), due, "1000.10", f"{k}.{k % 10}1"))
    out.append(inv("no-due", date(2026, 9, 1), None, "50", "50"))
    out.append(inv("usd", date(2026, 10, 1), date(2026, 10, 31), "70.07", "70.07", cur="USD"))
    out.append(inv("paid", date(2026, 10, 1), date(2026, 10, 31), "80", "0"))
    out.append(inv("void", date(2026, 10, 1), date(2026, 10, 31), "80", "80", deleted=True))
    return out


def aged(agg: ArAggregates) -> tuple[dict[str, dict[str, Decimal]], dict[str, dict[str, int]]]:
    amounts: dict[str, dict[str, Decimal]] = {}
    counts: dict[str, dict[str, int]] = {}
    for (cur, due), (n, amount) in agg.open_by_due.items():
        label = bucket_for(days_overdue(due, AS_OF)).label
        amounts.setdefault(cur, {}).setdefault(label, Decimal(0))
        amounts[cur][label] += amount
        counts.setdefault(cur, {}).setdefault(label, 0)
        counts[cur][label] += n
    return amounts, counts


def expected(rows: list[Invoice]) -> tuple[dict[str, dict[str, Decimal]], dict[str, dict[str, int]]]:
    report = age_invoices(rows, AS_OF)
    return (
        {c: {k: v for k, v in row.items() if v} for c, row in report.amounts.items()},
        {c: {k: v for k, v in row.items() if v} for c, row in report.counts.items()},
    )


def test_the_kept_sums_age_like_the_invoices_aged_one_by_one(store: StateStore) -> None:
    store.save_page("acme", Stream.INVOICES, invoices())
    assert refresh(store, "acme", batch=7) == len(invoices())
    assert aged(ar_aggregates(store, "acme")) == expected(invoices())


def test_a_paid_a_changed_and_a_voided_invoice_move_the_sums_once(store: StateStore) -> None:
    rows = invoices()
    store.save_page("acme", Stream.INVOICES, rows)
    refresh(store, "acme")
    later = datetime(2026, 11, 2, tzinfo=UTC)
    paid = rows[3].model_copy(update={"open_amount": Decimal(0), "remote_modified_at": later})
    moved = rows[4].model_copy(update={"due_date": AS_OF + timedelta(days=3), "remote_modified_at": later})
    voided = rows[5].model_copy(update={"deleted": True, "remote_modified_at": later})
    store.save_page("acme", Stream.INVOICES, [paid, moved, voided])
    refresh(store, "acme")
    refresh(store, "acme")  # read again within the margin: nothing counted twice
    now_rows = [r for r in rows if r.remote_id not in {"I3", "I4", "I5"}] + [paid, moved]
    assert aged(ar_aggregates(store, "acme")) == expected(now_rows)


def test_invoiced_and_collected_are_summed_by_day(store: StateStore) -> None:
    store.save_page(
        "acme",
        Stream.INVOICES,
        [
            inv("a", date(2026, 10, 5), date(2026, 11, 4), "100.10", "0"),
            inv("b", date(2026, 10, 5), date(2026, 11, 4), "0.20", "0.20"),
        ],
    )
    store.save_page(
        "acme",
        Stream.PAYMENTS,
        [
            Payment(
                remote_id="P1", customer_remote_id="C1", date=date(2026, 11, 2), amount=Decimal("120.10"),
                unapplied_amount=Decimal("20"), currency="EUR", remote_modified_at=STAMP,
            )
        ],
    )  # fmt: skip
    store.save_page(
        "acme",
        Stream.CREDIT_MEMOS,
        [
            CreditMemo(
                remote_id="M1", customer_remote_id="C1", currency="EUR", issue_date=date(2026, 11, 2),
                total=Decimal("10"), open_amount=Decimal("4"), remote_modified_at=STAMP,
            )
        ],
    )  # fmt: skip
    refresh(store, "acme")
    agg = ar_aggregates(store, "acme")
    assert agg.invoiced == {("EUR", date(2026, 10, 5), date(2026, 11, 4)): Decimal("100.30")}
    assert agg.collected == {("EUR", date(2026, 11, 2)): Decimal("106.10")}  # 100.10 applied + 6 credited
    assert agg.open_by_due == {("EUR", date(2026, 11, 4)): (1, Decimal("0.20"))}


def test_the_invoices_behind_a_bucket_are_found_by_due_date_or_issue_date_plus_terms(
    store: StateStore,
) -> None:
    from analytics.aging import due_date_ranges
    from store.insights import open_invoice_ids

    rows = invoices()
    store.save_page("acme", Stream.INVOICES, rows)
    refresh(store, "acme")
    ranges = {label: (lo, hi) for label, lo, hi in due_date_ranges(AS_OF)}
    lo, hi = ranges["31–60"]
    ids, total = open_invoice_ids(store, "acme", "EUR", due_from=lo, due_to=hi, limit=3)
    report = age_invoices(rows, AS_OF)
    assert total == report.counts["EUR"]["31–60"] and len(ids) == 3
    every, _ = open_invoice_ids(store, "acme", "EUR", due_from=lo, due_to=hi)
    assert "no-due" in every  # issued 1 September, due 30 days later: 50 days past due
    assert (
        sum((r.open_amount for r in rows if r.remote_id in every), Decimal(0))
        == report.amounts["EUR"]["31–60"]
    )


def test_page_views_read_on_exactly_where_the_last_one_stopped_inside_one_page(store: StateStore) -> None:
    rows = invoices()  # one page: every record has the same changed_at
    store.save_page("acme", Stream.INVOICES, rows)
    reads = []
    while True:
        read = refresh(store, "acme", batch=5, max_records=5, margin=timedelta(0))
        if not read:
            break
        reads.append(read)
    assert sum(reads) == len(rows) and set(reads[:-1]) == {5}
    assert aged(ar_aggregates(store, "acme")) == expected(rows)
