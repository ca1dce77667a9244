"""The overview's cash forecast: the next 13 weeks' expected collections with their 80 % band.

Made from each connection's stored payment-date model (``engine.payment_model``), never by fitting
one during a page view: a connection without a stored model is named, with how to get one. All
connections are added up in the reporting currency when one is configured
(``rules.dunning.worklist``), else currency by currency. The bands of different connections are
added as independent (their half-widths in quadrature).

Reading a connection's invoices and predicting them takes a while on a large store, so each
connection's forecast is kept for ``KEEP`` (and while its model and the day stay the same); the
workspace's background refresh makes it again before it is due, so a page view seldom waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from store import StateStore

if TYPE_CHECKING:  # numpy and the model load only when a forecast is made
    from analytics.prediction.forecast import CashForecast, CurrencyForecast

__all__ = ["KEEP", "CollectionsForecast", "ForecastCache", "collections_forecast", "connection_forecast"]

KEEP = 15 * 60.0
HOW_TO_GET_ONE = "run arbridge predict --refit -c FILE, or let the daemon fit it after the next cycle"


@dataclass
class CollectionsForecast:
    """What the panel shows.

    Attributes:
        as_of: the first day of the first week.
        parts: one forecast in the reporting currency, or one per currency.
        without_model: the connections that have no stored model yet.
        without_rate: currencies left out of the reporting currency for want of a rate.
        models: per connection, when its model was fitted and on what.
    """

    as_of: date
    parts: list[CurrencyForecast] = field(default_factory=list)
    without_model: list[str] = field(default_factory=list)
    without_rate: list[str] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)

    @property
    def how_to_get_a_model(self) -> str:
        return HOW_TO_GET_ONE

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values (the overview's ``forecast``)."""
        return {
            "as_of": self.as_of.isoformat(),
            "parts": [p.to_json() for p in self.parts],
            "expected_total": {p.currency: round(sum(w.expected for w in p.weeks), 2) for p in self.parts},
            "without_model": self.without_model,
            "how_to_get_a_model": HOW_TO_GET_ONE if self.without_model else None,
            "not_converted": self.without_rate,
            "models": self.models,
        }


def connection_forecast(store: StateStore, connection: str, as_of: date, fx: Any) -> CashForecast | None:
    """One connection's forecast from its stored model (in ``fx``'s reporting currency too), or None."""
    from analytics.prediction.forecast import cash_forecast
    from engine.payment_model import load_books, stored_predictor

    paid, still_open = load_books(store, connection)
    predictor = stored_predictor(store, connection, paid)
    if predictor is None:
        return None
    rates = {c: float(r.rate) for c, r in fx.rates.items()} if fx is not None else None
    return cash_forecast(
        predictor.predict(still_open, as_of),
        as_of,
        rates=rates,
        reporting_currency=fx.reporting_currency if fx is not None else None,
    )


def collections_forecast(
    store: StateStore,
    connections: Sequence[str],
    as_of: date,
    fx: Any,
    cache: ForecastCache | None = None,
) -> CollectionsForecast:
    """The panel of ``connections`` (each connection's forecast from ``cache`` when given)."""
    from engine.payment_model import model_status

    out = CollectionsForecast(as_of)
    by_currency: dict[str, list[CurrencyForecast]] = {}
    missing: set[str] = set()
    for name in connections:
        found = cache.get(store, name, as_of, fx) if cache else connection_forecast(store, name, as_of, fx)
        if found is None:
            out.without_model.append(name)
            continue
        out.models[name] = model_status(store, name)["text"]
        if found.reporting is not None:
            by_currency.setdefault(found.reporting.currency, []).append(found.reporting)
            missing.update(found.without_rate)
        else:
            for part in found.currencies:
                by_currency.setdefault(part.currency, []).append(part)
    out.parts = [_together(c, parts) for c, parts in sorted(by_currency.items())]
    out.without_rate = sorted(missing)
    return out


def _together(currency: str, parts: list[CurrencyForecast]) -> CurrencyForecast:
    from analytics.prediction.forecast import CurrencyForecast, WeekForecast

    if len(parts) == 1:
        return parts[0]
    weeks = []
    for rows in zip(*(p.weeks for p in parts), strict=True):
        expected = sum(w.expected for w in rows)
        up = sum((w.high - w.expected) ** 2 for w in rows) ** 0.5
        down = sum((w.expected - w.low) ** 2 for w in rows) ** 0.5
        weeks.append(WeekForecast(rows[0].start, expected, max(expected - down, 0.0), expected + up))
    return CurrencyForecast(
        currency,
        weeks,
        sum(p.later for p in parts),
        sum(p.open_amount for p in parts),
        sum(p.invoices for p in parts),
    )


class ForecastCache:
    """Each connection's forecast, kept for ``keep`` seconds and for as long as its model is the same."""

    def __init__(self, keep: float = KEEP) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[tuple[Any, ...], float, CashForecast | None]] = {}

    @staticmethod
    def _key(store: StateStore, connection: str, as_of: date, fx: Any) -> tuple[Any, ...]:
        from store.prediction_models import PredictionModels

        row = PredictionModels(store).get(connection, with_model=False)
        fitted = row.fitted_at if row is not None else None
        rates = tuple(sorted((c, str(r.rate)) for c, r in fx.rates.items())) if fx is not None else ()
        return (as_of, fitted, fx.reporting_currency if fx is not None else None, rates)

    def get(self, store: StateStore, connection: str, as_of: date, fx: Any) -> CashForecast | None:
        """The kept forecast while it is fresh and made for the same day, model and rates; else a new one."""
        key = self._key(store, connection, as_of, fx)
        with self._lock:
            kept = self._kept.get(connection)
        if kept is not None and kept[0] == key and time.monotonic() - kept[1] < self.keep:
            return kept[2]
        return self.refresh(store, connection, as_of, fx, key)

    def warm(self, store: StateStore, connection: str, as_of: date, fx: Any) -> None:
        """Make the forecast again when it would be stale within the next fifth of ``keep``."""
        key = self._key(store, connection, as_of, fx)
        with self._lock:
            kept = self._kept.get(connection)
        if kept is None or kept[0] != key or time.monotonic() - kept[1] >= 0.8 * self.keep:
            self.refresh(store, connection, as_of, fx, key)

    def refresh(
        self, store: StateStore, connection: str, as_of: date, fx: Any, key: tuple[Any, ...] | None = None
    ) -> CashForecast | None:
        """Make the connection's forecast now and keep it."""
        key = key or self._key(store, connection, as_of, fx)
        found = connection_forecast(store, connection, as_of, fx)
        with self._lock:
            self._kept[connection] = (key, time.monotonic(), found)
        return found
