"""Every DSO, Best Possible DSO, ADD and CEI figure on the overview links to the documents it is made of,
and those documents, added up by hand, give the figure again."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from service.http import create_app
from store import StateStore
from tests.engine.dunning_fixtures import write_exports
from tests.workspace.seed import CUSTOMERS, INVOICES, PAYMENT, Seeded, seed
from tests.workspace.test_workspace_pages import log_in

# Cash the ERP applied: invoice 8 paid in full in October, 100.00 of invoice 6 in November.
APPLIED = [
    {**PAYMENT, "id": "PMT-8", "status": "Applied", "date": "2026-10-20", "amount": "80.00",
     "unapplied_amount": "0.00", "reference": "INV-8", "payer_name": "BUSY BAKERY"},
    {**PAYMENT, "id": "PMT-6", "status": "Applied", "date": "2026-11-05", "amount": "100.00",
     "unapplied_amount": "0.00", "reference": "INV-6", "payer_name": "MUELLER"},
]  # fmt: skip


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    s = seed(tmp_path)
    write_exports(s.exports, CUSTOMERS, INVOICES, [PAYMENT, *APPLIED])
    s.cycle()
    return s


@pytest.fixture
def store(seeded: Seeded) -> Iterator[StateStore]:
    s = seeded.store()
    yield s
    s.close()


@pytest.fixture
def client(seeded: Seeded, store: StateStore) -> FlaskClient:
    c = create_app(seeded.server(store)).test_client()
    log_in(c, "viewer")
    return c


def added_up(documents: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(d["amount"]) for d in documents), Decimal(0))


def days(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def by_hand(behind: dict[str, Any]) -> dict[str, Decimal | None]:
    """The month's figures from the listed documents alone, with the formulas the overview states."""
    ending = (
        added_up(behind["open_today"]["documents"])
        - added_up(behind["issued_since"]["documents"])
        + added_up(behind["applied_since"]["documents"])
    )
    not_due = max(min(added_up(behind["not_due"]["documents"]), ending), Decimal(0))
    sales = [(added_up(m["documents"]), m["days"]) for m in behind["credit_sales"]]
    window_sales = sum((s for s, _ in sales[:3]), Decimal(0))
    window_days = sum(d for _, d in sales[:3])
    dso = days(ending / window_sales * window_days)
    best = days(not_due / window_sales * window_days)
    left, walked = ending, Decimal(0)
    for month_sales, month_days in sales:
        if left > month_sales:
            left, walked = left - month_sales, walked + month_days
        else:
            walked += left / month_sales * month_days
            break
    collected = added_up(behind["collected"]["documents"])
    beginning = ending - sales[0][0] + collected
    cei = (beginning + sales[0][0] - ending) / (beginning + sales[0][0] - not_due) * 100
    return {
        "ending_ar": ending,
        "overdue_ar": ending - not_due,
        "dso_simple": dso,
        "dso_count_back": days(walked),
        "best_possible_dso": best,
        "average_days_delinquent": days(dso - best),
        "cei": cei.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP),
    }


@pytest.mark.parametrize("month", ["2026-09", "2026-10", "2026-11"])
def test_each_months_figures_are_the_sums_of_the_documents_they_link_to(
    client: FlaskClient, month: str
) -> None:
    [eur] = client.get("/overview.json").get_json()["together"]
    shown = next(m for m in eur["months"] if m["month"] == month)
    behind = client.get(f"/overview/month.json?month={month}&currency=EUR").get_json()
    assert all(
        part["complete"] for part in [behind["open_today"], behind["not_due"], *behind["credit_sales"]]
    )
    for figure, value in by_hand(behind).items():
        assert value == Decimal(shown[figure]), figure


def test_the_documents_are_the_invoices_and_payments_of_the_store(client: FlaskClient) -> None:
    october = client.get("/overview/month.json?month=2026-10&currency=EUR").get_json()
    # October's CEI collected what the ERP applied in October: the payment of invoice 8.
    assert [(d["id"], d["amount"]) for d in october["collected"]["documents"]] == [("PMT-8", "80.00")]
    # Its AR is rolled back over November's 100.00 on invoice 6; no invoice was issued since.
    assert [(d["id"], d["amount"]) for d in october["applied_since"]["documents"]] == [("PMT-6", "100.00")]
    assert october["issued_since"]["documents"] == []
    # Not yet due at October's end: invoices 1 (due 13 Nov), 7 (23 Nov) and 3 (28 Nov).
    assert sorted(d["id"] for d in october["not_due"]["documents"]) == ["1", "3", "7"]
    assert [d["id"] for d in october["credit_sales"][0]["documents"]] == ["1", "7", "3"]
    page = client.get("/overview/month?month=2026-10&currency=EUR").get_data(as_text=True)
    assert "payment PMT-8" in page and 'id="figure-cei"' in page and "× 100" in page


def test_every_figure_on_the_overview_links_to_its_month(client: FlaskClient) -> None:
    page = client.get("/overview").get_data(as_text=True)
    section = page[page.index('data-scope="together"') :]
    for anchor in ("count-back", "dso", "best-possible", "add", "cei"):
        assert f'href="/overview/month?month=2026-11&amp;currency=EUR#figure-{anchor}"' in section
    # The 12-month trend links every month's figures; a connection's links keep the connection.
    assert 'href="/overview/month?month=2026-10&amp;currency=EUR#figure-cei"' in section
    shop = "/overview/month?month=2026-10&amp;currency=EUR&amp;connection=shop"
    assert f'href="{shop}#figure-dso"' in page
    linked = client.get("/overview/month?month=2026-10&currency=EUR&connection=shop")
    assert linked.status_code == 200 and "shop" in linked.get_data(as_text=True)


def test_where_the_roll_back_fell_below_zero_the_page_says_the_overview_took_zero(tmp_path: Path) -> None:
    # Without the payments: 100.00 of invoice 6 and all of invoice 8 were paid, but the ERP reports
    # no payment for them, so before April (nothing issued yet) the roll-back comes to -180.00.
    seeded = seed(tmp_path)
    store = seeded.store()
    try:
        client = create_app(seeded.server(store)).test_client()
        log_in(client, "viewer")
        [eur] = client.get("/overview.json").get_json()["together"]
        march = next(m for m in eur["months"] if m["month"] == "2026-03")
        behind = client.get("/overview/month.json?month=2026-03&currency=EUR").get_json()
        assert (march["ending_ar"], behind["figures"]["ending_ar"]) == ("0.00", "-180.00")
        page = client.get("/overview/month?month=2026-03&currency=EUR").get_data(as_text=True)
        assert "The overview shows the AR at this month's end as 0.00" in page
        april = client.get("/overview/month?month=2026-04&currency=EUR").get_data(as_text=True)
        assert 'id="clamped"' not in april
    finally:
        store.close()


def test_a_month_outside_the_overview_is_not_found(client: FlaskClient) -> None:
    assert client.get("/overview/month?month=2026-12&currency=EUR").status_code == 404
    assert client.get("/overview/month?month=last&currency=EUR").status_code == 400
