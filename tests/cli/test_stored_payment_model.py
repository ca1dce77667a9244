"""The payment-date model is fitted once per connection, kept in the store and refitted on schedule."""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from analytics.prediction.model import Predictor
from config import load_config
from engine.background_refit import BackgroundRefits
from engine.payment_model import refit_if_due
from engine.runner import open_store, sync_connection
from store import schema as t
from store.prediction_models import PredictionModels
from sync_daemon import cli
from tests.engine.dunning_fixtures import AS_OF, TODAY, customer_row, invoice_row, payment_row, write_exports


def _exports(folder: Path, customer: str, paid_count: int, days_late: int) -> Path:
    invoices, payments = [], []
    for i in range(paid_count):
        due = date(2026, 1, 5) + timedelta(days=7 * i)
        invoices.append(invoice_row(f"paid-{i}", customer, due, "0.00", total="300.00", status="paid"))
        payments.append(payment_row(f"P{i}", customer, f"paid-{i}", due + timedelta(days=days_late)))
    invoices.append(invoice_row("open-1", customer, TODAY + timedelta(days=4), "1000.00"))
    return write_exports(
        folder, [customer_row(customer, f"{customer} Ltd", "ap@x.example")], invoices, payments
    )


def _deployment(tmp_path: Path) -> Path:
    """Two connections with their own histories: shop pays 10 days late, depot 30."""
    shop = _exports(tmp_path / "shop", "C1", 30, 10)
    depot = _exports(tmp_path / "depot", "D1", 24, 30)
    path = tmp_path / "arbridge.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            version: 1
            store: {{url: "sqlite:///state/arbridge.sqlite"}}
            prediction: {{refit: weekly, min_history: 20}}
            connections:
              - {{name: shop, connector: csv, settings: {{folder: "{shop}"}}}}
              - {{name: depot, connector: csv, settings: {{folder: "{depot}"}}}}
            """
        )
    )
    path.chmod(0o600)
    cfg = load_config(path)
    store = open_store(cfg)
    for conn in cfg.connections:
        sync_connection(cfg, conn, store, as_of=AS_OF, deciders=[], deliverers=[])  # type: ignore[arg-type]
    store.close()
    return path


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every history the model is fitted on."""
    sizes: list[int] = []
    real = Predictor.fit

    def counting(paid: Any, **kwargs: Any) -> Predictor:
        sizes.append(len(paid))
        return real(paid, **kwargs)

    monkeypatch.setattr(Predictor, "fit", staticmethod(counting))
    return sizes


def _forecast(path: Path, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        cli, ["forecast", "-c", str(path), "--as-of", TODAY.isoformat(), "--json", *extra]
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def _store(path: Path) -> Any:
    return open_store(load_config(path))


def test_the_first_forecast_stores_the_model_and_the_next_one_uses_it_without_refitting(
    tmp_path: Path, fits: list[int]
) -> None:
    path = _deployment(tmp_path)

    first = _forecast(path, "--connection", "shop")
    assert fits == [30]
    again = _forecast(path, "--connection", "shop")

    assert fits == [30], "the second forecast read the stored model"
    assert again == first
    store = _store(path)
    stored = PredictionModels(store).get("shop")
    store.close()
    assert stored is not None and stored.trained_on == 30 and stored.model
    status = CliRunner().invoke(cli, ["status", "-c", str(path)])
    assert "payment prediction: model fitted" in status.output
    assert "on 30 paid invoices" in status.output and "refit weekly" in status.output


def test_a_model_older_than_the_schedule_or_of_older_features_is_refitted(
    tmp_path: Path, fits: list[int]
) -> None:
    path = _deployment(tmp_path)
    cfg = load_config(path)
    store = open_store(cfg)
    fitted = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)

    assert refit_if_due(store, "shop", cfg.prediction, now=fitted).outcome == "refitted"
    assert refit_if_due(store, "shop", cfg.prediction, now=fitted + timedelta(days=6)).outcome == "fresh"
    assert refit_if_due(store, "shop", cfg.prediction, now=fitted + timedelta(days=7)).outcome == "refitted"
    assert fits == [30, 30]
    with store.engine.begin() as conn:
        conn.execute(sa.update(t.prediction_models).values(feature_schema=0))
    assert refit_if_due(store, "shop", cfg.prediction, now=fitted + timedelta(days=8)).outcome == "refitted"
    row = PredictionModels(store).get("shop", with_model=False)
    store.close()
    assert row is not None and row.fitted_at == fitted + timedelta(days=8) and row.feature_schema == 1


def test_a_failed_refit_keeps_the_previous_model_and_status_tells_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _deployment(tmp_path)
    cfg = load_config(path)
    store = open_store(cfg)
    fitted = (datetime.now(UTC) - timedelta(days=8)).replace(microsecond=0)
    refit_if_due(store, "shop", cfg.prediction, now=fitted)

    def broken(*_args: Any, **_kwargs: Any) -> Predictor:
        raise MemoryError("out of memory while training")

    monkeypatch.setattr(Predictor, "fit", staticmethod(broken))
    refits = BackgroundRefits(cfg, store)
    assert refits.after_cycle("shop"), "the model is a week old: due"
    assert refits.close(wait=30) == []

    assert refits.outcomes["shop"].outcome == "failed"
    row = PredictionModels(store).get("shop")
    store.close()
    assert row is not None and row.fitted_at == fitted and row.model, "the model before stays"
    assert row.error == "MemoryError: out of memory while training"
    weeks = _forecast(path, "--connection", "shop")["shop"]["currencies"][0]["weeks"]
    assert weeks[2]["expected"] >= 900, "forecasts go on with the stored model: ten days late"
    status = CliRunner().invoke(cli, ["status", "-c", str(path)])
    assert f"model fitted {fitted:%Y-%m-%d %H:%M} UTC" in status.output
    assert "the last refit failed at" in status.output
    assert "MemoryError: out of memory while training" in status.output


def test_each_connection_has_its_own_model_and_refit_names_the_one_to_refit(
    tmp_path: Path, fits: list[int]
) -> None:
    path = _deployment(tmp_path)

    everything = CliRunner().invoke(cli, ["predict", "--refit", "-c", str(path)])

    assert everything.exit_code == 0, everything.output
    assert sorted(fits) == [24, 30]
    lines = everything.stdout.splitlines()
    assert lines[0].startswith("shop: model fitted") and "on 30 paid invoices" in lines[0]
    assert lines[1].startswith("depot: model fitted") and "on 24 paid invoices" in lines[1]
    store = _store(path)
    depot_before = PredictionModels(store).get("depot", with_model=False)

    one = CliRunner().invoke(cli, ["predict", "--refit", "-c", str(path), "--connection", "shop"])

    assert one.exit_code == 0, one.output
    assert sorted(fits) == [24, 30, 30]
    assert PredictionModels(store).get("depot", with_model=False) == depot_before
    store.close()
    forecasts = _forecast(path)
    shop_weeks = [w["expected"] for w in forecasts["shop"]["currencies"][0]["weeks"]]
    depot_weeks = [w["expected"] for w in forecasts["depot"]["currencies"][0]["weeks"]]
    # The same invoice due in four days: shop's model expects it about ten days late, depot's thirty.
    assert max(range(13), key=shop_weeks.__getitem__) == 2
    assert max(range(13), key=depot_weeks.__getitem__) == 4
    assert sorted(fits) == [24, 30, 30], "the forecast used both stored models"


@pytest.fixture
def held_fit(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Fitting starts, then waits until the test releases it: a refit of a big book in slow motion."""
    started, release = threading.Event(), threading.Event()
    real = Predictor.fit

    def slow(paid: Any, **kwargs: Any) -> Predictor:
        started.set()
        assert release.wait(60), "the test never released the fit"
        return real(paid, **kwargs)

    monkeypatch.setattr(Predictor, "fit", staticmethod(slow))
    yield started, release
    release.set()


def test_while_one_connection_refits_its_model_another_connection_completes_its_cycle(
    tmp_path: Path, held_fit: tuple[threading.Event, threading.Event]
) -> None:
    started, release = held_fit
    path = _deployment(tmp_path)
    cfg = load_config(path)
    store = open_store(cfg)
    refits = BackgroundRefits(cfg, store)

    assert refits.after_cycle("shop"), "shop has no model yet: its refit starts"
    assert started.wait(30)
    assert not refits.after_cycle("shop"), "a second refit of shop waits for the first to end"
    depot = next(c for c in cfg.connections if c.name == "depot")
    report = sync_connection(cfg, depot, store, as_of=AS_OF, deciders=[], deliverers=[])

    assert report.status == "ok"
    assert refits.running("shop"), "depot's cycle finished while shop's model was still being fitted"
    assert PredictionModels(store).get("shop", with_model=False) is None
    release.set()
    assert refits.close(wait=60) == []
    row = PredictionModels(store).get("shop", with_model=False)
    store.close()
    assert row is not None and row.trained_on == 30 and row.fitted_at is not None


def test_a_daemon_stopping_during_a_refit_abandons_it_and_keeps_the_stored_model(
    tmp_path: Path, held_fit: tuple[threading.Event, threading.Event]
) -> None:
    started, release = held_fit
    path = _deployment(tmp_path)
    cfg = load_config(path)
    store = open_store(cfg)
    fitted = (datetime.now(UTC) - timedelta(days=8)).replace(microsecond=0)
    release.set()
    refit_if_due(store, "shop", cfg.prediction, now=fitted)
    release.clear()
    refits = BackgroundRefits(cfg, store)

    assert refits.after_cycle("shop")
    assert started.wait(30)
    abandoned = refits.close(wait=0.2)

    assert abandoned == ["shop"]
    assert not refits.after_cycle("depot"), "a stopping daemon starts no refit"
    row = PredictionModels(store).get("shop", with_model=False)
    assert row is not None and row.fitted_at == fitted, "the model before stays until a fit is complete"
    release.set()
    assert refits.close(wait=60) == []
    store.close()
