"""Each connection's fitted payment-date model (``prediction_models``), kept between cycles.

The model is fitted on a schedule, not on every forecast or worklist: the blob holds what the
prediction needs (``analytics.prediction.saved``), the other columns what an admin asks about it.
A refit that fails leaves the stored model in place and is recorded beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from store import schema as t
from store.state import StateStore, from_ts, now, ts

__all__ = ["PredictionModels", "StoredModel"]


@dataclass(frozen=True, slots=True)
class StoredModel:
    """One connection's row: its model (None before the first successful fit) and its last failure.

    Attributes:
        connection: the connection.
        feature_schema: the version of the features the model was fitted for.
        fitted_at: when it was fitted.
        trained_on: how many paid invoices it learned from.
        holdout_mae_days: its mean absolute error on the newest history it was not trained on.
        model: the serialised model.
        failed_at: when the last refit failed, if it did after the last success.
        error: why it failed.
    """

    connection: str
    feature_schema: int | None
    fitted_at: datetime | None
    trained_on: int | None
    holdout_mae_days: float | None
    model: bytes | None
    failed_at: datetime | None
    error: str | None


class PredictionModels:
    """The stored models of a store's connections."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def get(self, connection: str, *, with_model: bool = True) -> StoredModel | None:
        """The connection's row (``with_model=False``: without the blob, for status pages)."""
        m = t.prediction_models
        columns = [c for c in m.c if with_model or c.name != "model"]
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(*columns).where(m.c.connection == connection)).mappings().first()
        if row is None:
            return None
        return StoredModel(
            connection=row["connection"],
            feature_schema=row["feature_schema"],
            fitted_at=from_ts(row["fitted_at"]),
            trained_on=row["trained_on"],
            holdout_mae_days=row["holdout_mae_days"],
            model=bytes(row["model"]) if with_model and row["model"] is not None else None,
            failed_at=from_ts(row["failed_at"]),
            error=row["error"],
        )

    def put(
        self,
        connection: str,
        model: bytes,
        *,
        feature_schema: int,
        trained_on: int,
        holdout_mae_days: float | None,
        fitted_at: datetime | None = None,
    ) -> None:
        """Replace the connection's model (and forget an earlier failure)."""
        values = {
            "connection": connection,
            "feature_schema": feature_schema,
            "fitted_at": ts(fitted_at or now()),
            "trained_on": trained_on,
            "holdout_mae_days": holdout_mae_days,
            "model": model,
            "failed_at": None,
            "error": None,
        }
        with self.store.engine.begin() as conn:
            self.store._upsert(conn, t.prediction_models, values, ["connection"], list(values)[1:])

    def fail(self, connection: str, error: str, *, at: datetime | None = None) -> None:
        """Record a failed refit; the stored model, if any, stays."""
        values = {"connection": connection, "failed_at": ts(at or now()), "error": error[:2000]}
        with self.store.engine.begin() as conn:
            self.store._upsert(conn, t.prediction_models, values, ["connection"], ["failed_at", "error"])
