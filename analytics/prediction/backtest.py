"""The backtest: train on what was paid before a day, score the invoices issued from that day on.

Everything the model and the baselines know comes from before the split (the customers' history
included), as it would on the day a prediction is made; the invoices issued from the split on are
predicted as open invoices on the split day and compared with the day they were actually paid.
The figures: the mean absolute error in days, and how many actual payment days fell inside the
80 % range (its coverage, which should be near 80 %), for the model and for each baseline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

import numpy as np

from analytics.prediction.baselines import BASELINES
from analytics.prediction.book import Book, day
from analytics.prediction.model import Predictor

__all__ = ["Backtest", "Score", "backtest", "default_split"]


@dataclass(frozen=True, slots=True)
class Score:
    """One method's errors on the invoices scored."""

    name: str
    mae_days: float
    coverage: float
    mean_range_days: float

    def to_json(self) -> dict[str, object]:
        """JSON-ready values."""
        return {
            "method": self.name,
            "mae_days": round(self.mae_days, 2),
            "coverage": round(self.coverage, 4),
            "mean_range_days": round(self.mean_range_days, 1),
        }


@dataclass(frozen=True, slots=True)
class Backtest:
    """A backtest's outcome: the model first, then each baseline."""

    split: date
    trained_on: int
    scored: int
    scores: list[Score]
    fit_seconds: float
    predict_seconds: float
    model_share: float

    def table(self) -> str:
        """The scores side by side, as a person reads them."""
        lines = [
            f"trained on {self.trained_on} invoices paid before {self.split.isoformat()}, scored "
            f"{self.scored} invoices issued from then on ({self.model_share:.0%} predicted by the model, "
            "the rest by the customer-median baseline)",
            f"{'method':<18}{'MAE (days)':>12}{'80 % range covers':>20}{'mean range (days)':>20}",
        ]
        for s in self.scores:
            lines.append(f"{s.name:<18}{s.mae_days:>12.2f}{s.coverage:>20.1%}{s.mean_range_days:>20.1f}")
        return "\n".join(lines)


def default_split(history: Book) -> date:
    """The issue day after which a fifth of the history's invoices were issued."""
    return day(int(np.quantile(history.issue, 0.8)))


def backtest(history: Book, split: date | None = None, *, rounds: int = 50) -> Backtest:
    """Train on invoices paid before ``split``, score those issued on or after it.

    Raises:
        ValueError: nothing was paid before the split, or nothing was issued after it.
    """
    if len(history) == 0:
        raise ValueError("the history holds no paid invoice to test on")
    split = split or default_split(history)
    cut = split.toordinal()
    train = history.take(history.paid < cut)
    test = history.take(history.issue >= cut)
    if len(train) == 0:
        raise ValueError(f"no invoice was paid before {split.isoformat()}: choose a later split date")
    if len(test) == 0:
        raise ValueError(
            f"no invoice was issued on or after {split.isoformat()}: choose an earlier split date"
        )
    started = time.perf_counter()
    predictor = Predictor.fit(train, rounds=rounds)
    fitted = time.perf_counter()
    found = predictor.predict(test, split)
    predicted = time.perf_counter()
    actual = test.days_late
    scores = [_score("model", found.days_late, found.low - test.due, found.high - test.due, actual)]
    codes = predictor.baselines.customers.codes(test.customer_id)
    for name, days in predictor.baselines.predict(codes).items():
        lo, hi = predictor.baselines.range_of(name)
        scores.append(_score(name, np.rint(days), np.floor(days + lo), np.ceil(days + hi), actual))
    assert [s.name for s in scores[1:]] == list(BASELINES)
    return Backtest(
        split=split,
        trained_on=len(train),
        scored=len(test),
        scores=scores,
        fit_seconds=fitted - started,
        predict_seconds=predicted - fitted,
        model_share=float(found.model_used.mean()),
    )


def _score(name: str, days: np.ndarray, low: np.ndarray, high: np.ndarray, actual: np.ndarray) -> Score:
    inside = (actual >= low) & (actual <= high)
    return Score(
        name,
        float(np.abs(days - actual).mean()),
        float(inside.mean()),
        float((high - low).mean()),
    )
