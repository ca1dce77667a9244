"""Each connection's payment-date model, fitted on a schedule and kept in the store.

The daemon refits a connection's model after its cycle once the stored one is older than
``prediction.refit`` (or was fitted for an older feature schema), on a thread beside its cycles
(``engine.background_refit``); ``arbridge predict --refit``
forces it. The forecast, the worklist's ``--predict-late`` and the workspace's overview read the
stored model with today's payments instead of learning again each time. A refit that fails keeps
the model before it, is logged, and shows in ``arbridge status``: it never stops a cycle.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from analytics.prediction.book import Book
from analytics.prediction.model import Predictor
from analytics.prediction.records import BookBuilder
from analytics.prediction.saved import FEATURE_SCHEMA, SavedModelError, dumps, loads
from config.model import PredictionConfig
from mapping.models import Invoice, Payment, Stream
from store import StateStore
from store.prediction_models import PredictionModels, StoredModel

__all__ = [
    "RefitOutcome",
    "load_books",
    "model_status",
    "predictor_for",
    "refit",
    "refit_due",
    "refit_if_due",
    "stored_predictor",
]

log = logging.getLogger("arbridge.prediction")


@dataclass(frozen=True, slots=True)
class RefitOutcome:
    """What a scheduled refit did: ``fresh`` (nothing due), ``refitted`` or ``failed``."""

    connection: str
    outcome: str
    trained_on: int = 0
    cpu_seconds: float = 0.0
    error: str | None = None


def load_books(store: StateStore, connection: str, default_terms_days: int = 30) -> tuple[Book, Book]:
    """The connection's paid invoices (with a known payment day) and its open ones."""
    builder = BookBuilder(default_terms_days)
    for payment in store.iter_records(connection, Stream.PAYMENTS):
        if isinstance(payment, Payment):
            builder.add_payment(payment)
    for inv in store.iter_records(connection, Stream.INVOICES):
        if isinstance(inv, Invoice):
            builder.add_invoice(inv)
    return builder.books()


def _usable(row: StoredModel | None) -> bool:
    """A model was fitted and stored for today's features (the blob itself need not be read)."""
    return row is not None and row.fitted_at is not None and row.feature_schema == FEATURE_SCHEMA


def _due(row: StoredModel | None, settings: PredictionConfig, now: datetime) -> bool:
    if not _usable(row):
        return True
    assert row is not None and row.fitted_at is not None
    return settings.refit_due(row.fitted_at, now)


def refit(
    store: StateStore,
    connection: str,
    settings: PredictionConfig | None = None,
    *,
    paid: Book | None = None,
    now: datetime | None = None,
) -> Predictor:
    """Fit the connection's model on its paid history and store it (the fitting's errors propagate)."""
    settings = settings or PredictionConfig()
    if paid is None:
        paid, _ = load_books(store, connection)
    predictor = Predictor.fit(paid, min_history=settings.min_history)
    PredictionModels(store).put(
        connection,
        dumps(predictor),
        feature_schema=FEATURE_SCHEMA,
        trained_on=predictor.trained_on,
        holdout_mae_days=predictor.holdout_mae,
        fitted_at=now or datetime.now(UTC),
    )
    return predictor


def refit_due(
    store: StateStore,
    connection: str,
    settings: PredictionConfig | None = None,
    *,
    now: datetime | None = None,
) -> bool:
    """Whether the connection's stored model is due for a refit (reads its row, not the model)."""
    row = PredictionModels(store).get(connection, with_model=False)
    return _due(row, settings or PredictionConfig(), now or datetime.now(UTC))


def refit_if_due(
    store: StateStore,
    connection: str,
    settings: PredictionConfig | None = None,
    *,
    now: datetime | None = None,
    force: bool = False,
) -> RefitOutcome:
    """Refit when the stored model is due (or ``force``); a failure is recorded, logged and returned."""
    settings = settings or PredictionConfig()
    now = now or datetime.now(UTC)
    models = PredictionModels(store)
    if not force and not _due(models.get(connection, with_model=False), settings, now):
        return RefitOutcome(connection, "fresh")
    cpu = time.process_time()
    try:
        predictor = refit(store, connection, settings, now=now)
    except Exception as exc:  # the model before stays in use; the next cycle tries again
        error = f"{type(exc).__name__}: {exc}"
        log.exception(
            "refitting the payment-date model failed; the stored model stays in use",
            extra={"connection": connection, "event": "prediction_refit_failed"},
        )
        try:
            models.fail(connection, error, at=now)
        except Exception:
            log.exception("recording the failed refit failed", extra={"connection": connection})
        return RefitOutcome(connection, "failed", error=error)
    spent = time.process_time() - cpu
    log.info(
        "payment-date model refitted on %d paid invoices in %.1f s of processor time",
        predictor.trained_on,
        spent,
        extra={"connection": connection, "event": "prediction_refit"},
    )
    return RefitOutcome(connection, "refitted", trained_on=predictor.trained_on, cpu_seconds=spent)


def stored_predictor(store: StateStore, connection: str, paid: Book) -> Predictor | None:
    """The stored model reading today's ``paid`` history, or None without a usable one."""
    row = PredictionModels(store).get(connection)
    if not _usable(row) or row is None or row.model is None:
        return None
    try:
        return loads(row.model, paid)
    except SavedModelError:
        log.warning(
            "the stored payment-date model cannot be used", exc_info=True, extra={"connection": connection}
        )
        return None


def predictor_for(
    store: StateStore,
    connection: str,
    paid: Book,
    settings: PredictionConfig | None = None,
    *,
    now: datetime | None = None,
) -> Predictor:
    """The stored model while it is current; else fitted now and stored for the next reader.

    A refit that fails falls back on the stored model, if there is one.
    """
    settings = settings or PredictionConfig()
    now = now or datetime.now(UTC)
    row = PredictionModels(store).get(connection, with_model=False)
    if not _due(row, settings, now):
        found = stored_predictor(store, connection, paid)
        if found is not None:
            return found
    try:
        return refit(store, connection, settings, paid=paid, now=now)
    except Exception as exc:
        found = stored_predictor(store, connection, paid)
        if found is None:
            raise
        PredictionModels(store).fail(connection, f"{type(exc).__name__}: {exc}", at=now)
        log.exception("refitting failed; using the stored model", extra={"connection": connection})
        return found


def model_status(
    store: StateStore,
    connection: str,
    settings: PredictionConfig | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """What ``arbridge status`` and the overview say about a connection's model."""
    settings = settings or PredictionConfig()
    row = PredictionModels(store).get(connection, with_model=False)
    out: dict[str, Any] = {"refit": settings.refit, "fitted_at": None, "next_refit": None}
    if row is None:
        return {**out, "text": _NO_MODEL}
    fitted = row.fitted_at
    if fitted is not None:
        out.update(
            fitted_at=fitted.isoformat(timespec="seconds"),
            trained_on=row.trained_on,
            holdout_mae_days=None if row.holdout_mae_days is None else round(row.holdout_mae_days, 2),
            feature_schema=row.feature_schema,
            next_refit=settings.next_refit(fitted).isoformat(timespec="seconds"),
        )
    if row.failed_at is not None:
        out.update(failed_at=row.failed_at.isoformat(timespec="seconds"), error=row.error)
    if fitted is None:
        text = _NO_MODEL
    else:
        mae = (
            ""
            if row.holdout_mae_days is None
            else f", {row.holdout_mae_days:.1f} days off on held-out history"
        )
        stale = "" if row.feature_schema == FEATURE_SCHEMA else " (older features: refitted next cycle)"
        text = (
            f"model fitted {fitted:%Y-%m-%d %H:%M} UTC on {row.trained_on} paid invoices{mae}{stale}; "
            f"refit {settings.refit}, next after {settings.next_refit(fitted):%Y-%m-%d %H:%M} UTC"
        )
    if row.failed_at is not None:
        text += f"; the last refit failed at {row.failed_at:%Y-%m-%d %H:%M} UTC: {row.error}"
    return {**out, "text": text}


_NO_MODEL = (
    "no model stored yet: the daemon fits one after the next cycle, or run arbridge predict --refit -c FILE"
)
