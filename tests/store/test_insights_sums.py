"""The overview's sums come from the database and equal what the invoices themselves add up to."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from analytics.aging import age_invoices, due_date_ranges
from mapping.models import CreditMemo, Invoice, Payment, Stream
from store import StateStore
from store.insights import ar_aggregates

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


def test_aging_sums_from_the_database_equal_the_invoices_aged_one_by_one(store: StateStore) -> None:
    store.save_page("acme", Stream.INVOICES, invoices())
    agg = ar_aggregates(
        store, "acme", as_of=AS_OF, since=date(2025, 12, 1), due_ranges=due_date_ranges(AS_OF)
    )
    expected = age_invoices(invoices(), AS_OF)
    got: dict[str, dict[str, Decimal]] = {}
    counts: dict[str, dict[str, int]] = {}
    for (cur, label), (n, amount) in agg.aging.items():
        got.setdefault(cur, {})[label] = amount
        counts.setdefault(cur, {})[label] = n
    assert got == {c: {k: v for k, v in row.items() if v} for c, row in expected.amounts.items()}
    assert counts == {c: {k: v for k, v in row.items() if v} for c, row in expected.counts.items()}


def test_invoiced_and_collected_are_summed_by_day(store: StateStore) -> None:
    store.save_page(
        "acme",
        Stream.INVOICES,
        [
            inv("a", date(2026, 10, 5), date(2026, 11, 4), "100.10", "0"),
            inv("b", date(2026, 10, 5), date(2026, 11, 4), "0.20", "0.20"),
            inv("old", date(2024, 1, 5), date(2024, 2, 4), "5", "5"),
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
    agg = ar_aggregates(
        store, "acme", as_of=AS_OF, since=date(2025, 12, 1), due_ranges=due_date_ranges(AS_OF)
    )
    assert agg.invoiced == {("EUR", date(2026, 10, 5), date(2026, 11, 4)): Decimal("100.30")}
    assert agg.collected == {("EUR", date(2026, 11, 2)): Decimal("106.10")}  # 100.10 applied + 6 credited
