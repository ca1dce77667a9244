"""Two workers that finish cycles of one connection at once fit its payment-date model once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from analytics.prediction.model import Predictor
from config.model import PredictionConfig
from engine.background_refit import BackgroundRefits
from engine.workers.fence import connection_fence, refit_fence
from store import StateStore
from store.prediction_models import PredictionModels


def test_a_second_worker_leaves_a_refit_in_flight_elsewhere_alone_and_the_cycle_lock_stays_free(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore.open(postgres_url)
    fences = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    started, release = threading.Event(), threading.Event()
    fits: list[int] = []
    real = Predictor.fit

    def slow(paid: Any, **kwargs: Any) -> Predictor:
        fits.append(len(paid))
        started.set()
        assert release.wait(60)
        return real(paid, **kwargs)

    monkeypatch.setattr(Predictor, "fit", staticmethod(slow))
    deployment = type("Deployment", (), {"prediction": PredictionConfig()})()
    first, second = (
        BackgroundRefits(deployment, store, guard=lambda c: refit_fence(fences, c)) for _ in range(2)
    )
    try:
        assert first.after_cycle("shop")
        assert started.wait(30)
        with connection_fence(fences, "shop", threading.Event()) as held:
            assert held, "the connection's next cycle may start while its model is being fitted"
        assert second.after_cycle("shop"), "the second worker sees no model yet and tries"
        assert second.close(wait=30) == [], "it finds the refit taken and ends at once"
        release.set()
        assert first.close(wait=60) == []
    finally:
        release.set()
        fences.dispose()
    row = PredictionModels(store).get("shop", with_model=False)
    store.close()
    assert fits == [0], "fitted once"
    assert row is not None and row.fitted_at is not None
