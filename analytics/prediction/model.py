"""The payment-date model: gradient-boosted quantiles of days late, calibrated, with its fallbacks.

Three LightGBM models with the quantile (pinball) loss give the 10 %, 50 % and 90 % quantiles of
days late (payment day minus due day) from the invoice and its customer's history (see
``features.py``). Why quantiles and not a survival model: the history a deployment has is paid
invoices with known days late, the question a collector asks is "when, and how sure", and the
median minimises the absolute error the backtest reports; quantile boosting answers that directly
with one well-kept library, trains in well under a minute on a million invoices on one core, and the
open invoices' censoring is handled where it matters, at prediction time, by conditioning the
distribution on the days an invoice is already late (``spread.py``).

Quantile models alone under-cover when behaviour drifts, so the range is calibrated the
split-conformal way (conformalized quantile regression, Romano, Patterson & Candès 2019): the
models are fitted on the invoices issued first (85 % of the history), and the range is widened (or
narrowed) by the amount that makes 80 % of the newest 15 % fall inside it. The newest, not a random
draw: the invoices to predict come after the history, and a range calibrated on the latest
behaviour carries its drift.

Where the model has nothing to stand on, the prediction is the customer-median baseline and says
so: no paid history at all, too little history to learn from, a customer never paid before, a
currency with little history.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

import numpy as np

from analytics.prediction.baselines import Baselines
from analytics.prediction.book import Book
from analytics.prediction.features import (
    CATEGORICAL,
    FEATURES,
    CustomerIndex,
    History,
    PaymentIndex,
    feature_matrix,
    months_of,
)
from analytics.prediction.spread import Spread
from analytics.prediction.why import Facts, explain

__all__ = ["MIN_CURRENCY_INVOICES", "MIN_HISTORY", "Correlation", "Predictions", "Predictor"]

# Fewer paid invoices than this and the model is not trained: the baseline is the prediction.
MIN_HISTORY = 300
# A currency with fewer paid invoices than this is predicted with the baseline.
MIN_CURRENCY_INVOICES = 30
QUANTILES = (0.1, 0.5, 0.9)
COVERAGE = 0.8
CALIBRATION_SHARE = 0.15
_PARAMS: dict[str, Any] = {
    "objective": "quantile",
    "learning_rate": 0.2,
    "num_leaves": 31,
    "max_bin": 63,
    "num_threads": 1,
    "verbose": -1,
    "deterministic": True,
    "force_row_wise": True,
}


@dataclass(frozen=True, slots=True)
class Correlation:
    """How much the model's errors are shared, measured on the history it was not trained on.

    The intraclass correlation of the errors (days, actual minus predicted median) of invoices of
    one customer, and of invoices falling due in one week: 0 when every invoice errs on its own,
    1 when a customer's (or a week's) invoices all err alike. The cash forecast's band uses them.
    """

    customer: float = 0.0
    week: float = 0.0


@dataclass(frozen=True, slots=True)
class Predictions:
    """One prediction per open invoice; days as ordinals, probabilities NaN when unknown.

    Attributes:
        book: the open invoices predicted.
        days_late: the predicted days late (the median, given what is known today).
        predicted: the predicted payment day.
        low: the 80 % range's first day.
        high: the 80 % range's last day.
        p_late: {30: ..., 60: ..., 90: ...} the probability of being paid more than that many days late.
        spread: the whole distribution of days late (for the cash forecast).
        model_used: whether the model (True) or a baseline (False) made the prediction.
        facts: what the reasons are made of (see ``why``).
        note: why the model stood aside for the whole book, if it did.
        correlation: how much the errors are shared by a customer's invoices and by a week's.
    """

    book: Book
    days_late: np.ndarray
    predicted: np.ndarray
    low: np.ndarray
    high: np.ndarray
    p_late: dict[int, np.ndarray]
    spread: Spread
    model_used: np.ndarray
    facts: Facts
    note: str | None
    correlation: Correlation = Correlation()

    def chance_paid_after_due(self) -> np.ndarray:
        """The chance each invoice is paid at least a day after its due date, NaN where a baseline
        stood in for the model.

        The days are whole, the distribution is not: "a day or more late" is read as more than half
        a day late, and like every figure here it is given that the invoice is not paid before today.
        """
        return np.where(self.model_used, self.spread.survival(0.5), np.nan)

    def iter_why(self, chunk: int = 100_000) -> Iterator[str]:
        """The reasons of each prediction, in words a collector understands, made as they are read."""
        for start in range(0, len(self.days_late), chunk):
            yield from explain(self.facts, self.note, slice(start, start + chunk))

    def why_of(self, row: int) -> str:
        """The reasons of one prediction."""
        return next(explain(self.facts, self.note, slice(row, row + 1)))

    @property
    def why(self) -> list[str]:
        """The reasons of every prediction (all in memory: for many, read ``iter_why``)."""
        return list(self.iter_why())


class Predictor:
    """The fitted predictor of one book's payment behaviour."""

    def __init__(
        self,
        history: Book,
        baselines: Baselines,
        models: list[Any] | None,
        adjustment: float,
        currencies: dict[str, int],
        month_effect: dict[int, float],
        note: str | None,
        *,
        trained_on: int | None = None,
        holdout_mae: float | None = None,
        correlation: Correlation = Correlation(),
        customers: CustomerIndex | None = None,
    ) -> None:
        """The fitted parts, and the paid history the customers' features are read from.

        ``history`` may be newer than what the parts were fitted on (a stored model used with
        today's payments); ``customers`` is its vocabulary when it is not the baselines'.
        """
        self.history = history
        self.baselines = baselines
        self.models = models
        self.adjustment = adjustment
        self.currencies = currencies
        self.month_effect = month_effect
        self.note = note
        self.trained_on = len(history) if trained_on is None else trained_on
        self.holdout_mae = holdout_mae
        self.correlation = correlation
        self._customers = customers or baselines.customers
        self._payments = PaymentIndex(history, self._customers.codes(history.customer_id))

    def with_history(self, history: Book) -> Predictor:
        """The same fitted model, reading the customers' history from ``history`` (today's payments)."""
        return Predictor(
            history,
            self.baselines,
            self.models,
            self.adjustment,
            self.currencies,
            self.month_effect,
            self.note,
            trained_on=self.trained_on,
            holdout_mae=self.holdout_mae,
            correlation=self.correlation,
            customers=CustomerIndex(history.customer_id),
        )

    @classmethod
    def fit(cls, paid: Book, *, rounds: int = 50, seed: int = 0, min_history: int = MIN_HISTORY) -> Predictor:
        """Learn from paid invoices (any number, none included: the fallbacks take over).

        Args:
            paid: the paid invoices.
            rounds: boosting rounds per quantile model.
            seed: LightGBM's seed.
            min_history: fewer paid invoices than this and the baseline predicts.
        """
        customers = CustomerIndex(paid.customer_id)
        baselines = Baselines.fit(paid, customers)
        late = paid.days_late
        month_effect = _month_effect(paid, late)
        min_history = max(min_history, 2)
        if len(paid) == 0:
            return cls(paid, baselines, None, 0.0, {}, {}, "no paid invoices to learn from yet")
        kinds, counts = np.unique(paid.currency.astype(str), return_counts=True)
        currencies = {
            c: i for i, (c, n) in enumerate(zip(kinds, counts, strict=True)) if n >= MIN_CURRENCY_INVOICES
        }
        if len(paid) < min_history:
            note = f"only {len(paid)} paid invoices to learn from (the model needs {min_history})"
            return cls(paid, baselines, None, 0.0, currencies, month_effect, note)
        predictor = cls(paid, baselines, None, 0.0, currencies, month_effect, None)
        codes = customers.codes(paid.customer_id)
        x = feature_matrix(
            paid, predictor._payments.before(codes, paid.issue), currencies, baselines.book_mean
        )
        calibrate = paid.issue >= np.quantile(paid.issue, 1 - CALIBRATION_SHARE)
        models = [_train(x[~calibrate], late[~calibrate], q, rounds, seed) for q in QUANTILES]
        lo, mid, hi = (m.predict(x[calibrate], num_threads=1) for m in models)
        actual = late[calibrate]
        scores = np.maximum(lo - actual, actual - hi)
        level = min(1.0, np.ceil((len(scores) + 1) * COVERAGE) / max(len(scores), 1))
        adjustment = float(np.quantile(scores, level)) if len(scores) else 0.0
        predictor.models = models
        predictor.adjustment = adjustment
        if len(actual):
            predictor.holdout_mae = float(np.abs(actual - np.rint(mid)).mean())
            predictor.correlation = _correlation(
                lo - adjustment, mid, hi + adjustment, actual, codes[calibrate], paid.due[calibrate]
            )
        return predictor

    def _quantiles(
        self, book: Book, as_of: date
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Any]:
        """The calibrated 10/50/90 % days late, whether the model made them, and the history used."""
        codes = self.baselines.customers.codes(book.customer_id)
        same = self._customers is self.baselines.customers
        own = codes if same else self._customers.codes(book.customer_id)
        history = self._payments.before(own, np.full(len(book), as_of.toordinal()))
        _, _, median = self.baselines.shrunk(codes)
        lo_err, hi_err = self.baselines.range_of("customer median")
        q10, q50, q90 = median + lo_err, median.copy(), median + hi_err
        known_currency = np.array([c in self.currencies for c in book.currency.tolist()], dtype=bool)
        use = np.zeros(len(book), dtype=bool)
        if self.models is not None:
            use = (history.count > 0) & known_currency
            if use.any():
                x = feature_matrix(
                    book.take(use), _take(history, use), self.currencies, self.baselines.book_mean
                )
                lo, mid, hi = (m.predict(x, num_threads=1) for m in self.models)
                q10[use], q50[use], q90[use] = lo - self.adjustment, mid, hi + self.adjustment
        return q10, q50, q90, use, (history, codes, known_currency)

    def predict(self, book: Book, as_of: date) -> Predictions:
        """Predict open invoices as they stand on ``as_of`` (each one paid on that day or later)."""
        q10, q50, q90, use, (history, codes, known_currency) = self._quantiles(book, as_of)
        already = (as_of.toordinal() - book.due).astype(np.float64)
        spread = Spread.through(q10, q50, q90, already)
        mid = np.rint(spread.quantile(0.5))
        low = np.floor(spread.quantile(0.5 - COVERAGE / 2))
        high = np.ceil(spread.quantile(0.5 + COVERAGE / 2))
        p_late = {k: spread.survival(float(k)) for k in (30, 60, 90)}
        if self.trained_on == 0:
            p_late = {k: np.full(len(book), np.nan) for k in p_late}
        n = self.baselines.count[np.maximum(codes, 0)] if len(self.baselines.count) else np.zeros(len(codes))
        n = np.where(codes >= 0, n, 0)
        own_median = self.baselines.median[np.maximum(codes, 0)] if len(self.baselines.median) else n * np.nan
        facts = Facts(
            days_late=mid,
            low=low,
            high=high,
            already=already,
            model_used=use,
            payments=n,
            usual=np.where(n > 0, own_median, np.nan),
            recent=history.recent_late,
            disputed=book.disputed,
            disputed_before=np.nan_to_num(history.disputed * history.count),
            amount_ratio=_ratio(book.amount, history.mean_amount),
            due_month_effect=np.array(
                [self.month_effect.get(m, 0.0) for m in months_of(book.due).tolist()], dtype=np.float64
            ),
            due_month=months_of(book.due),
            known_currency=known_currency,
            currency=book.currency,
            promised=book.promised,
            promises_before=history.promises,
            broken_before=history.broken_promises,
            book_usual=self.baselines.book_median,
            has_history=self.trained_on > 0,
        )
        due = book.due.astype(np.int64)
        return Predictions(
            book=book,
            days_late=mid,
            predicted=due + mid.astype(np.int64),
            low=due + low.astype(np.int64),
            high=due + high.astype(np.int64),
            p_late=p_late,
            spread=spread,
            model_used=use,
            facts=facts,
            note=self.note,
            correlation=self.correlation,
        )


def _train(x: np.ndarray, y: np.ndarray, alpha: float, rounds: int, seed: int) -> Any:
    import lightgbm as lgb

    data = lgb.Dataset(
        x,
        y,
        feature_name=list(FEATURES),
        categorical_feature=[FEATURES.index(c) for c in CATEGORICAL],
        free_raw_data=True,
    )
    # A leaf needs enough invoices to be a pattern, not one customer's accident; small books get
    # smaller leaves so that a handful of disputes can still be learned.
    leaf = int(min(200, max(10, len(y) // 200)))
    params = {**_PARAMS, "alpha": alpha, "seed": seed, "min_data_in_leaf": leaf}
    return lgb.train(params, data, num_boost_round=rounds)


def _ratio(amount: np.ndarray, usual: np.ndarray) -> np.ndarray:
    """Amount over the customer's usual one (NaN without a usual amount above zero)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(usual > 0, amount / np.where(usual > 0, usual, 1.0), np.nan)


def _take(history: History, which: np.ndarray) -> History:
    return History(**{f.name: getattr(history, f.name)[which] for f in fields(history)})


def _month_effect(paid: Book, late: np.ndarray) -> dict[int, float]:
    """Mean days late of invoices falling due in each month, less the overall mean."""
    if len(late) < MIN_HISTORY:
        return {}
    months = months_of(paid.due)
    counts = np.bincount(months, minlength=13)
    sums = np.bincount(months, weights=late, minlength=13)
    overall = float(late.mean())
    return {m: float(sums[m] / counts[m] - overall) for m in range(1, 13) if counts[m] >= 30}


def _correlation(
    q10: np.ndarray,
    q50: np.ndarray,
    q90: np.ndarray,
    actual: np.ndarray,
    customers: np.ndarray,
    due: np.ndarray,
) -> Correlation:
    """How alike the misses of one customer's invoices, and of one due week's, are on held-out history.

    A miss is measured the way the forecast uses a prediction: paid within the week around the
    predicted day (1) or not (0), less the chance the distribution gave that week. The customer's
    share is taken out before the due week's, so that it is not counted twice.
    """
    middle = np.rint(q50)
    spread = Spread.through(q10, q50, q90, np.full(len(q50), -np.inf))
    chance = spread.survival(middle - 3.5) - spread.survival(middle + 3.5)
    misses = (np.abs(actual - middle) <= 3).astype(np.float64) - chance
    own = _shared(customers, misses)
    rest = misses - _group_means(customers, misses)
    return Correlation(customer=own, week=_shared(due.astype(np.int64) // 7, rest))


def _shared(groups: np.ndarray, r: np.ndarray) -> float:
    """The intraclass correlation of ``r`` within ``groups`` (one-way ANOVA estimator, in [0, 1])."""
    _, inverse = np.unique(groups, return_inverse=True)
    k, n = int(inverse.max()) + 1 if len(inverse) else 0, len(r)
    if k < 2 or n <= k:
        return 0.0
    counts = np.bincount(inverse, minlength=k).astype(np.float64)
    means = np.bincount(inverse, weights=r, minlength=k) / counts
    between = float((counts * (means - r.mean()) ** 2).sum()) / (k - 1)
    within = float(((r - means[inverse]) ** 2).sum()) / (n - k)
    size = (n - float((counts**2).sum()) / n) / (k - 1)
    denominator = between + (size - 1) * within
    if denominator <= 0:
        return 0.0
    return float(np.clip((between - within) / denominator, 0.0, 1.0))


def _group_means(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each value's group mean."""
    _, inverse = np.unique(groups, return_inverse=True)
    counts = np.bincount(inverse)
    return (np.bincount(inverse, weights=values) / counts)[inverse]
