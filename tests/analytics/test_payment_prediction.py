"""A controller's questions about the payment-date prediction, answered on small realistic books."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from analytics.prediction.backtest import backtest
from analytics.prediction.book import Book, InvoiceRow, day
from analytics.prediction.generator import generate_history
from analytics.prediction.model import MIN_HISTORY, Predictor

AS_OF = date(2026, 3, 2)


def _steady_customer(customer: str, days_late: int, count: int = 30, currency: str = "EUR") -> Book:
    """A customer invoiced every two weeks who pays each invoice exactly ``days_late`` after its due date."""
    rows = []
    for i in range(count):
        issue = date(2025, 1, 6) + timedelta(days=14 * i)
        due = issue + timedelta(days=30)
        rows.append(
            InvoiceRow(
                f"{customer}-{i}", customer, currency, 1200.0, issue, due, due + timedelta(days=days_late)
            )
        )
    return Book.of(rows)


def _open(customer: str, *, disputed: bool = False, currency: str = "EUR", invoice: str = "OPEN-1") -> Book:
    return Book.of(
        [InvoiceRow(invoice, customer, currency, 1200.0, date(2026, 3, 1), date(2026, 3, 31), None, disputed)]
    )


@pytest.fixture(scope="module")
def book() -> Book:
    """Three years of a realistic book (segments, seasons, disputes, drift) paid before AS_OF."""
    history = generate_history(6000, customers=150, start=date(2023, 1, 1), years=3.1, seed=7)
    return history.take(history.paid < AS_OF.toordinal())


def test_a_customer_who_always_pays_10_days_late_is_predicted_10_days_late(book: Book) -> None:
    predictor = Predictor.fit(Book.concat(book, _steady_customer("TEN-DAYS", 10)))

    found = predictor.predict(_open("TEN-DAYS"), AS_OF)

    assert found.model_used[0]
    assert day(found.predicted[0]) == date(2026, 3, 31) + timedelta(days=10)
    assert day(found.low[0]) <= day(found.predicted[0]) <= day(found.high[0])
    assert "usually pays 10 days late (30 invoices paid)" in found.why[0]


def test_a_short_history_predicts_the_customers_usual_lateness_and_says_why() -> None:
    predictor = Predictor.fit(_steady_customer("TEN-DAYS", 10))

    found = predictor.predict(_open("TEN-DAYS"), AS_OF)

    assert not found.model_used[0]
    # The shrinkage toward the book is no pull here: the book is this one customer.
    assert day(found.predicted[0]) == date(2026, 4, 10)
    assert f"only 30 paid invoices to learn from (the model needs {MIN_HISTORY})" in found.why[0]


def test_a_customer_with_no_history_gets_the_baseline_and_says_so(book: Book) -> None:
    predictor = Predictor.fit(book)

    found = predictor.predict(_open("NEVER-INVOICED-BEFORE"), AS_OF)

    assert not found.model_used[0]
    typical = round(float(np.median(book.days_late)))
    assert found.days_late[0] == typical
    assert (
        f"no payment history for this customer: the book's usual ({typical} days late) is used"
        in found.why[0]
    )


def test_a_brand_new_deployment_predicts_the_due_date_and_says_so() -> None:
    predictor = Predictor.fit(Book.empty())

    found = predictor.predict(_open("C1"), AS_OF)

    assert day(found.predicted[0]) == date(2026, 3, 31)
    assert "no paid invoices to learn from yet: predicted on the due date" in found.why[0]
    assert np.isnan(found.p_late[30][0]), "no probability is claimed without any history"
    overdue = predictor.predict(_open("C1"), date(2026, 4, 20))
    assert day(overdue.predicted[0]) == date(2026, 4, 20)
    assert "no paid invoices to learn from yet: predicted today, the due date having passed" in overdue.why[0]


def test_a_currency_with_little_history_gets_the_baseline_with_a_note(book: Book) -> None:
    predictor = Predictor.fit(Book.concat(book, _steady_customer("SWEDISH", 10, count=12, currency="SEK")))

    found = predictor.predict(_open("SWEDISH", currency="SEK"), AS_OF)

    assert not found.model_used[0]
    assert "little payment history in SEK: this customer's usual lateness is used" in found.why[0]
    assert day(found.predicted[0]) > date(2026, 3, 31), "the customer's own lateness still counts"


def test_a_disputed_invoice_is_predicted_later_than_the_same_invoice_undisputed(book: Book) -> None:
    predictor = Predictor.fit(book)
    customer = str(book.customer_id[-1])

    plain = predictor.predict(_open(customer), AS_OF)
    disputed = predictor.predict(_open(customer, disputed=True), AS_OF)

    assert disputed.predicted[0] >= plain.predicted[0] + 14
    assert disputed.p_late[30][0] > plain.p_late[30][0]
    assert "this invoice is disputed" in disputed.why[0]
    assert "disputed" not in plain.why[0].split(";")[-1]


def test_an_invoice_already_overdue_is_predicted_on_or_after_today_and_counts_as_late(book: Book) -> None:
    predictor = Predictor.fit(Book.concat(book, _steady_customer("TEN-DAYS", 10)))
    overdue = Book.of(
        [InvoiceRow("OLD-1", "TEN-DAYS", "EUR", 500.0, date(2025, 12, 1), date(2025, 12, 31))]
    )  # 61 days overdue on AS_OF

    found = predictor.predict(overdue, AS_OF)

    assert day(found.predicted[0]) >= AS_OF
    assert day(found.low[0]) >= AS_OF
    assert found.p_late[30][0] == 1.0 and found.p_late[60][0] == 1.0
    assert "already 61 days overdue" in found.why[0]


def test_the_backtest_beats_the_customer_median_and_covers_about_80_percent() -> None:
    history = generate_history(20_000, seed=3)

    result = backtest(history)

    model, due, _, median = result.scores
    assert [s.name for s in result.scores] == ["model", "due date", "customer mean", "customer median"]
    assert model.mae_days < median.mae_days < due.mae_days
    assert 0.7 <= model.coverage <= 0.9
    assert "customer median" in result.table()


def test_a_promise_to_pay_and_the_promises_kept_before_are_named(book: Book) -> None:
    rows = []
    for i in range(12):
        issue = date(2025, 3, 3) + timedelta(days=14 * i)
        due = issue + timedelta(days=30)
        promised = due + timedelta(days=20) if i < 4 else None
        paid = due + timedelta(days=25 if i < 3 else 15)  # three of the four promises broken
        rows.append(InvoiceRow(f"PROMISER-{i}", "PROMISER", "EUR", 800.0, issue, due, paid, False, promised))
    predictor = Predictor.fit(Book.concat(book, Book.of(rows)))
    still_open = Book.of(
        [
            InvoiceRow(
                "OPEN-P", "PROMISER", "EUR", 800.0, date(2026, 1, 5), date(2026, 2, 4), None, False, AS_OF
            )
        ]
    )

    found = predictor.predict(still_open, AS_OF)

    assert f"promised to pay by {AS_OF.isoformat()}" in found.why[0]
    assert "kept 1 of 4 promises to pay before" in found.why[0]


def test_the_chance_of_payment_after_the_due_date_follows_the_customers_habit(book: Book) -> None:
    predictor = Predictor.fit(
        Book.concat(book, _steady_customer("TEN-DAYS", 10), _steady_customer("EARLY", -6))
    )
    late, early = (
        predictor.predict(_open(c), AS_OF).chance_paid_after_due()[0] for c in ("TEN-DAYS", "EARLY")
    )

    assert late > 0.8 and early < 0.2
    baseline = Predictor.fit(_steady_customer("C1", 10, count=30)).predict(_open("C1"), AS_OF)
    assert np.isnan(baseline.chance_paid_after_due()[0]), "where a baseline stood in, no model chance"


def test_an_overdue_invoice_of_an_early_payer_says_its_prediction_counts_from_today(book: Book) -> None:
    predictor = Predictor.fit(Book.concat(book, _steady_customer("EARLY", -10)))
    overdue = Book.of([InvoiceRow("LATE-1", "EARLY", "EUR", 500.0, date(2026, 1, 1), date(2026, 1, 20))])

    found = predictor.predict(overdue, AS_OF)

    assert "usually pays 10 days early" in found.why[0]
    assert "past the usual day: predicted from today on" in found.why[0]
    assert day(found.predicted[0]) >= AS_OF
