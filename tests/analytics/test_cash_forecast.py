"""The cash forecast a controller reads: what comes in each week, and that nothing is lost or invented."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from analytics.prediction.book import Book, InvoiceRow
from analytics.prediction.forecast import cash_forecast
from analytics.prediction.generator import generate_history, open_on, paid_before
from analytics.prediction.model import Predictor

AS_OF = date(2025, 9, 1)


@pytest.fixture(scope="module")
def predicted() -> tuple[Book, Predictor]:
    history = generate_history(8000, customers=200, seed=5)
    return open_on(history, AS_OF), Predictor.fit(paid_before(history, AS_OF))


def test_the_weeks_and_later_add_up_to_what_is_open_in_each_currency(
    predicted: tuple[Book, Predictor],
) -> None:
    still_open, predictor = predicted

    forecast = cash_forecast(predictor.predict(still_open, AS_OF), AS_OF)

    assert {c.currency for c in forecast.currencies} == set(still_open.currency.tolist())
    for part in forecast.currencies:
        mine = still_open.currency == part.currency
        assert len(part.weeks) == 13
        assert part.weeks[0].start == AS_OF and part.weeks[12].start == AS_OF + timedelta(days=84)
        assert part.open_amount == pytest.approx(still_open.amount[mine].sum())
        assert sum(w.expected for w in part.weeks) + part.later == pytest.approx(part.open_amount)
        assert all(w.low <= w.expected <= w.high for w in part.weeks)
        assert part.invoices == int(mine.sum())


def test_the_reporting_currency_adds_currencies_at_their_rates_and_names_those_without(
    predicted: tuple[Book, Predictor],
) -> None:
    still_open, predictor = predicted
    predictions = predictor.predict(still_open, AS_OF)

    forecast = cash_forecast(predictions, AS_OF, rates={"USD": 0.9, "GBP": 1.15}, reporting_currency="EUR")

    by = {c.currency: c for c in forecast.currencies}
    assert forecast.reporting is not None
    assert forecast.without_rate == ("CHF",)
    expected = by["EUR"].open_amount + 0.9 * by["USD"].open_amount + 1.15 * by["GBP"].open_amount
    assert forecast.reporting.open_amount == pytest.approx(expected)
    for w, week in enumerate(forecast.reporting.weeks):
        parts = (
            by["EUR"].weeks[w].expected
            + 0.9 * by["USD"].weeks[w].expected
            + 1.15 * by["GBP"].weeks[w].expected
        )
        assert week.expected == pytest.approx(parts)


def test_an_invoice_of_a_punctual_customer_lands_in_the_week_of_its_predicted_date() -> None:
    rows = [
        InvoiceRow(f"P{i}", "PUNCTUAL", "EUR", 100.0, d - timedelta(days=30), d, d + timedelta(days=10))
        for i in range(40)
        for d in [date(2024, 1, 8) + timedelta(days=7 * i)]
    ]
    predictor = Predictor.fit(Book.of(rows))
    due = AS_OF + timedelta(days=15)  # predicted paid on AS_OF + 25 days: the fourth week
    still_open = Book.of([InvoiceRow("O1", "PUNCTUAL", "EUR", 5000.0, due - timedelta(days=30), due)])

    forecast = cash_forecast(predictor.predict(still_open, AS_OF), AS_OF)

    weeks = forecast.currencies[0].weeks
    assert max(weeks, key=lambda w: w.expected).start == AS_OF + timedelta(days=21)
    assert weeks[3].expected > 4000
    assert sum(w.expected for w in weeks) + forecast.currencies[0].later == pytest.approx(5000.0)


def test_an_invoice_long_overdue_is_still_expected_from_today_on_never_in_the_past() -> None:
    rows = [
        InvoiceRow(f"P{i}", "SLOW", "EUR", 100.0, d - timedelta(days=30), d, d + timedelta(days=5))
        for i in range(40)
        for d in [date(2024, 1, 8) + timedelta(days=7 * i)]
    ]
    predictor = Predictor.fit(Book.of(rows))
    still_open = Book.of([InvoiceRow("O1", "SLOW", "EUR", 800.0, date(2025, 5, 1), date(2025, 5, 31))])

    forecast = cash_forecast(predictor.predict(still_open, AS_OF), AS_OF)

    part = forecast.currencies[0]
    assert sum(w.expected for w in part.weeks) + part.later == pytest.approx(800.0)
    assert part.weeks[0].expected > 0
