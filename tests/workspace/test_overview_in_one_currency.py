"""A finance manager with books in several currencies sees them apart, and together at stated rates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from mapping.models import Invoice, Stream
from rules.dunning.fx import FxRates
from service.workspace.overview import build_overview
from store import StateStore

AS_OF = date(2026, 11, 23)


def inv(rid: str, due: date, amount: str, currency: str) -> Invoice:
    return Invoice(
        remote_id=rid,
        customer_remote_id="C1",
        currency=currency,
        issue_date=date(2026, 10, 1),
        due_date=due,
        total=Decimal(amount),
        open_amount=Decimal(amount),
        remote_modified_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    s.save_page("eu", Stream.INVOICES, [inv("1", date(2026, 11, 13), "100.00", "EUR")])
    s.save_page(
        "us",
        Stream.INVOICES,
        [inv("2", date(2026, 11, 13), "300.00", "USD"), inv("3", date(2026, 12, 1), "50.00", "USD")],
    )
    s.save_page("ch", Stream.INVOICES, [inv("4", date(2026, 11, 13), "70.00", "CHF")])
    yield s
    s.close()


def test_currencies_stay_apart_and_are_added_up_only_at_the_stated_rates(store: StateStore) -> None:
    fx = FxRates.of("EUR", {"USD": "0.9"}, "rates.csv")
    overview = build_overview(store, ["eu", "us", "ch"], AS_OF, fx=fx)
    apart = {f.currency: f.open_ar for f in overview.together}
    assert apart == {"CHF": Decimal("70.00"), "EUR": Decimal("100.00"), "USD": Decimal("350.00")}
    together = overview.reporting
    assert together is not None and together.currency == "EUR"
    assert together.aging["1–30"][1] == Decimal("100.00") + Decimal("300.00") * Decimal("0.9")
    assert together.aging["current"][1] == Decimal("45.000")
    assert overview.rates_used == ["0.9 EUR per USD (rates.csv)"]
    assert overview.unconverted == ["CHF"]


def test_one_currency_needs_no_conversion(store: StateStore) -> None:
    overview = build_overview(store, ["eu"], AS_OF, fx=FxRates.of("EUR", {"USD": "0.9"}, "rates.csv"))
    assert overview.reporting is None and [f.currency for f in overview.together] == ["EUR"]


def test_the_page_names_the_rates_it_converted_at(store: StateStore, tmp_path: Path) -> None:
    import re
    from types import SimpleNamespace

    from config.model import ServerConfig
    from service.http import Health, OpsServer, create_app
    from store.users import Users

    rates = tmp_path / "fx-rates.csv"
    rates.write_text("currency,rate,date\nUSD,0.9,2026-11-20\n")
    worklist = SimpleNamespace(reporting_currency="EUR", fx_rates=rates)
    deployment = SimpleNamespace(
        server=ServerConfig(bind="127.0.0.1:8765"),
        connections=[SimpleNamespace(name=n, connector="memory", enabled=True) for n in ("eu", "us", "ch")],
        rules=SimpleNamespace(dunning=SimpleNamespace(worklist=worklist, policy=None)),
    )
    Users(store).add("vera", "a long enough password", "viewer", by="test")
    ops = OpsServer(deployment, store, health=Health(), on_webhook=lambda c, n: None)  # type: ignore[arg-type]
    ops.clock = lambda: datetime(2026, 11, 23, 10, tzinfo=UTC)
    client = create_app(ops).test_client()
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    client.post(
        "/login", data={"username": "vera", "password": "a long enough password", "csrf_token": token}
    )
    page = client.get("/overview").get_data(as_text=True)
    assert "All connections together in EUR" in page
    assert "0.9 EUR per USD (fx-rates.csv, 2026-11-20)" in page and "left out: CHF" in page
    assert client.get("/overview.json").get_json()["reporting"]["open_ar"] == "415.00"
