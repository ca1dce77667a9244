"""A fitted predictor as bytes, to keep in the store between refits, and back.

What is kept is what was learned: the three LightGBM models as LightGBM's own model text, the
conformal adjustment, the currencies and months the model knows, the baselines' per-customer
tables, the errors' correlations and the held-out error. The paid history is not: a stored model
reads each customer's history from today's payments when it predicts, so a payment made since the
fit already counts.

``FEATURE_SCHEMA`` names the features' version; a model stored for another version is never used
(its trees would read the wrong columns) and is refitted instead.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from analytics.prediction.baselines import Baselines
from analytics.prediction.book import Book
from analytics.prediction.features import FEATURES, CustomerIndex
from analytics.prediction.model import Correlation, Predictor

__all__ = ["FEATURE_SCHEMA", "SavedModelError", "dumps", "loads"]

# Raise with any change to FEATURES, their order or their meaning.
FEATURE_SCHEMA = 1


class SavedModelError(ValueError):
    """The bytes are not a stored model of this feature schema."""


def dumps(predictor: Predictor) -> bytes:
    """The fitted parts of ``predictor`` (not its history), compressed."""
    b = predictor.baselines
    meta: dict[str, Any] = {
        "feature_schema": FEATURE_SCHEMA,
        "features": list(FEATURES),
        "models": None if predictor.models is None else [m.model_to_string() for m in predictor.models],
        "adjustment": predictor.adjustment,
        "currencies": predictor.currencies,
        "month_effect": {str(k): v for k, v in predictor.month_effect.items()},
        "note": predictor.note,
        "trained_on": predictor.trained_on,
        "holdout_mae": predictor.holdout_mae,
        "correlation": [predictor.correlation.customer, predictor.correlation.week],
        "book_mean": b.book_mean,
        "book_median": b.book_median,
        "ranges": {k: list(v) for k, v in b.ranges.items()},
    }
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        customers=b.customers.ids.astype(str),
        count=np.asarray(b.count),
        mean=np.asarray(b.mean, dtype=np.float64),
        median=np.asarray(b.median, dtype=np.float64),
    )
    return buffer.getvalue()


def loads(blob: bytes, history: Book) -> Predictor:
    """The stored predictor, reading the customers' history from ``history``.

    Raises:
        SavedModelError: unreadable, or stored for another feature schema.
    """
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as parts:
            meta = json.loads(parts["meta"].tobytes().decode())
            ids, count, mean, median = (parts[k] for k in ("customers", "count", "mean", "median"))
    except (OSError, ValueError, KeyError) as exc:
        raise SavedModelError(f"the stored model cannot be read: {exc}") from None
    if meta.get("feature_schema") != FEATURE_SCHEMA or meta.get("features") != list(FEATURES):
        raise SavedModelError(
            f"the stored model was fitted for feature schema {meta.get('feature_schema')}, "
            f"this version reads {FEATURE_SCHEMA}"
        )
    baselines = Baselines(
        customers=CustomerIndex.of_sorted(ids),
        count=count,
        mean=mean,
        median=median,
        book_mean=float(meta["book_mean"]),
        book_median=float(meta["book_median"]),
        ranges={k: (float(v[0]), float(v[1])) for k, v in meta["ranges"].items()},
    )
    models = None
    if meta["models"] is not None:
        import lightgbm as lgb

        models = [lgb.Booster(model_str=text) for text in meta["models"]]
    return Predictor(
        history,
        baselines,
        models,
        float(meta["adjustment"]),
        {str(k): int(v) for k, v in meta["currencies"].items()},
        {int(k): float(v) for k, v in meta["month_effect"].items()},
        meta["note"],
        trained_on=int(meta["trained_on"]),
        holdout_mae=meta["holdout_mae"],
        correlation=Correlation(*map(float, meta["correlation"])),
        customers=CustomerIndex(history.customer_id),
    )
