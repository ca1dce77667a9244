"""A stored model predicts as the fitted one did, and the forecast's band counts what invoices share."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest

from analytics.prediction.book import Book, InvoiceRow
from analytics.prediction.forecast import cash_forecast
from analytics.prediction.generator import generate_history, open_on, paid_before
from analytics.prediction.model import Correlation, Predictor
from analytics.prediction.saved import SavedModelError, dumps, loads

AS_OF = date(2025, 9, 1)


@pytest.fixture(scope="module")
def fitted() -> tuple[Book, Book, Predictor]:
    history = generate_history(8000, customers=200, seed=7)
    paid = paid_before(history, AS_OF)
    return paid, open_on(history, AS_OF), Predictor.fit(paid)


def test_a_stored_model_read_back_predicts_exactly_what_the_fitted_one_did(
    fitted: tuple[Book, Book, Predictor],
) -> None:
    paid, still_open, predictor = fitted

    restored = loads(dumps(predictor), paid)

    a, b = predictor.predict(still_open, AS_OF), restored.predict(still_open, AS_OF)
    assert a.model_used.mean() > 0.9
    np.testing.assert_array_equal(a.predicted, b.predicted)
    np.testing.assert_array_equal(a.low, b.low)
    np.testing.assert_array_equal(a.high, b.high)
    assert a.why == b.why
    assert restored.trained_on == len(paid) and restored.holdout_mae == predictor.holdout_mae


def test_a_stored_model_reads_payments_made_since_it_was_fitted(fitted: tuple[Book, Book, Predictor]) -> None:
    paid, _, predictor = fitted
    d = timedelta(days=1)
    since = Book.of(  # a new customer's first payments since the fit, each 40 days late
        InvoiceRow(f"N{i}", "NEW", "EUR", 500.0, AS_OF - 130 * d + i * d, AS_OF - 100 * d + i * d,
                   paid=AS_OF - 60 * d + i * d)
        for i in range(3)
    )  # fmt: skip
    upcoming = Book.of([InvoiceRow("N9", "NEW", "EUR", 500.0, AS_OF - 10 * d, AS_OF + 20 * d)])

    before = loads(dumps(predictor), paid).predict(upcoming, AS_OF)
    after = loads(dumps(predictor), Book.concat(paid, since)).predict(upcoming, AS_OF)

    assert not before.model_used[0] and after.model_used[0]
    assert after.days_late[0] > before.days_late[0] + 10


def test_bytes_of_another_feature_schema_are_refused(fitted: tuple[Book, Book, Predictor]) -> None:
    with pytest.raises(SavedModelError):
        loads(b"not a model", fitted[0])


def test_errors_shared_by_a_customers_invoices_are_measured_on_held_out_history(
    fitted: tuple[Book, Book, Predictor],
) -> None:
    correlation = fitted[2].correlation
    # The generator's customers drift and get into trouble: their misses come together.
    assert 0.02 < correlation.customer < 0.6
    assert 0.0 <= correlation.week < correlation.customer


def test_the_band_widens_when_one_customer_owes_everything(fitted: tuple[Book, Book, Predictor]) -> None:
    _, still_open, predictor = fitted
    found = predictor.predict(still_open, AS_OF)
    one_customer = replace(
        found, book=replace(found.book, customer_id=np.full(len(found.book), "C1", object))
    )

    def width(p: object, rho: Correlation) -> float:
        forecast = cash_forecast(replace(p, correlation=rho), AS_OF)  # type: ignore[type-var]
        return sum(w.high - w.low for part in forecast.currencies for w in part.weeks)

    alone = width(found, Correlation())
    assert width(found, found.correlation) > alone
    assert width(one_customer, found.correlation) > width(found, found.correlation)
    assert width(one_customer, Correlation()) == pytest.approx(alone), (
        "no shared errors: customers don't matter"
    )
