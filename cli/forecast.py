"""``arbridge forecast``: expected collections per week for the next 13 weeks, with their band.

Reads a deployment's state store (``-c FILE``), or exported files (``--history paid.csv --open
open.csv``, the columns of ``arbridge predict``). Each open invoice's predicted payment day spreads
its open amount over the weeks; the totals are shown per currency and, with exchange rates, in
the reporting currency (the rates file and the defaults are the worklist's). From the store, the
connection's stored model is used (``engine.payment_model``): fitted and stored on the first
forecast, refitted only when ``prediction.refit`` says it is due.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from analytics.prediction.files import BookFileError, read_book
from analytics.prediction.forecast import CashForecast, CurrencyForecast, cash_forecast
from analytics.prediction.model import Predictions, Predictor
from cli.options import (
    BadInputError,
    as_of_option,
    config_option,
    connection_option,
    load_deployment,
    open_store,
    selected_connections,
)
from rules.dunning.csvio import FileError
from rules.dunning.currencies import check_currency
from rules.dunning.fx import read_fx_rates

__all__ = ["forecast_command"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _rates(
    deployment: Any, rates_path: str | None, currency: str | None
) -> tuple[str | None, dict[str, float]]:
    """The reporting currency and its rates: the command line's, else the worklist's configuration."""
    configured = deployment.rules.dunning.worklist if deployment is not None else None
    reporting = currency or (configured.reporting_currency if configured else None)
    path = rates_path or (configured.fx_rates if configured else None)
    if reporting is None:
        if path is not None and rates_path is not None:
            raise click.BadParameter("give --reporting-currency with --fx-rates", param_hint="--fx-rates")
        return None, {}
    try:
        if path is None:
            return check_currency(reporting), {}
        fx = read_fx_rates(path, reporting)
    except (FileError, ValueError) as exc:
        raise BadInputError(str(exc)) from None
    return fx.reporting_currency, {c: float(r.rate) for c, r in fx.rates.items()}


def _from_store(
    deployment: Any, names: tuple[str, ...], as_of: date
) -> dict[str, tuple[Predictor, Predictions]]:
    from engine.payment_model import load_books, predictor_for

    store = open_store(deployment)
    out: dict[str, tuple[Predictor, Predictions]] = {}
    try:
        for conn in selected_connections(deployment, names):
            paid, still_open = load_books(store, conn.name)
            predictor = predictor_for(store, conn.name, paid, deployment.prediction)
            out[conn.name] = (predictor, predictor.predict(still_open, as_of))
    finally:
        store.close()
    return out


def _csv_rows(name: str, forecast: CashForecast) -> Iterator[list[Any]]:
    parts = [*forecast.currencies, *([forecast.reporting] if forecast.reporting else [])]
    for part in parts:
        kind = "reporting" if part is forecast.reporting else "currency"
        for week in part.weeks:
            w = week.to_json()
            yield [
                name,
                kind,
                part.currency,
                w["week_start"],
                w["week_end"],
                w["expected"],
                w["low"],
                w["high"],
            ]
        yield [name, kind, part.currency, "later", "", round(part.later, 2), "", ""]


def _text(name: str, forecast: CashForecast, model_share: float, learned: int) -> Iterator[str]:
    yield (
        f"{name}: expected collections from {forecast.as_of.isoformat()}, learned from {learned} paid "
        f"invoices ({model_share:.0%} of the open ones predicted by the model)"
    )
    parts: list[CurrencyForecast] = [
        *forecast.currencies,
        *([forecast.reporting] if forecast.reporting else []),
    ]
    for part in parts:
        label = f"all currencies in {part.currency}" if part is forecast.reporting else part.currency
        yield f"  {label}: {part.open_amount:,.2f} open in {part.invoices} invoice(s)"
        yield f"    {'week of':<12}{'expected':>16}{'80 % band':>32}"
        for week in part.weeks:
            band = f"{week.low:,.2f} – {week.high:,.2f}"
            yield f"    {week.start.isoformat():<12}{week.expected:>16,.2f}{band:>32}"
        yield f"    {'later':<12}{part.later:>16,.2f}"
    if forecast.reporting is not None:
        used = ", ".join(
            f"{r} {forecast.reporting.currency} per {c}" for c, r in sorted((forecast.rates or {}).items())
        )
        yield f"  rates: {used or 'none needed'}"
        if forecast.without_rate:
            missing = ", ".join(forecast.without_rate)
            yield f"  no rate for {missing}: not counted in {forecast.reporting.currency}"


@click.command("forecast")
@config_option(required=False)
@connection_option()
@click.option(
    "--history", type=_FILE, help="Instead of the store: paid.csv (the columns of arbridge predict)."
)
@click.option("--open", "open_path", type=_FILE, help="Instead of the store: open.csv, with --history.")
@click.option(
    "--date-format", default=None, metavar="FORMAT", help="With files: how they write dates (%d.%m.%Y)."
)
@as_of_option("Forecast from this day (default: today).")
@click.option("--weeks", type=click.IntRange(1, 52), default=13, show_default=True, help="How many weeks.")
@click.option(
    "--fx-rates",
    "rates_path",
    type=click.Path(exists=True, dir_okay=False),
    help="CSV of rates into the reporting currency (currency, rate, date); default: "
    "rules.dunning.worklist.fx_rates.",
)
@click.option(
    "--reporting-currency",
    "currency",
    default=None,
    help="Add every currency up in this one too (ISO 4217); default: "
    "rules.dunning.worklist.reporting_currency.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--csv", "as_csv", is_flag=True, help="One CSV line per connection, currency and week.")
def forecast_command(
    config_path: str | None,
    names: tuple[str, ...],
    history: Path | None,
    open_path: Path | None,
    date_format: str | None,
    as_of: datetime | None,
    weeks: int,
    rates_path: str | None,
    currency: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Expected collections per week, per currency and in the reporting currency, with an 80 % band.

    Learned from the invoices already paid; each open invoice is spread over the weeks by its
    predicted payment day (``arbridge predict``), so the weeks and "later" add up to what is open.
    """
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    today = (as_of or datetime.now(UTC)).date()
    deployment = None
    if history is not None or open_path is not None:
        if history is None or open_path is None:
            raise click.UsageError("give both --history and --open to forecast from files")
        try:
            paid = read_book(history, paid=True, date_format=date_format)
            still_open = read_book(open_path, paid=False, date_format=date_format)
        except BookFileError as exc:
            raise BadInputError(str(exc)) from None
        predictor = Predictor.fit(paid)
        found = {"files": (predictor, predictor.predict(still_open, today))}
    else:
        if config_path is None:
            raise click.UsageError("give -c FILE (or $ARBRIDGE_CONFIG), or --history and --open")
        deployment = load_deployment(config_path, store_only=True)
        found = _from_store(deployment, names, today)
    reporting, rates = _rates(deployment, rates_path, currency)
    forecasts = {
        name: cash_forecast(p, today, weeks=weeks, rates=rates, reporting_currency=reporting)
        for name, (_, p) in found.items()
    }
    if as_json:
        click.echo(json.dumps({name: f.to_json() for name, f in forecasts.items()}, indent=2))
        return
    if as_csv:
        buffer = io.StringIO()
        out = csv.writer(buffer, lineterminator="\n")
        out.writerow(["connection", "kind", "currency", "week_start", "week_end", "expected", "low", "high"])
        for name, forecast in forecasts.items():
            out.writerows(_csv_rows(name, forecast))
        sys.stdout.write(buffer.getvalue())
        return
    for name, forecast in forecasts.items():
        predictor, predictions = found[name]
        share = float(predictions.model_used.mean()) if len(predictions.model_used) else 0.0
        for line in _text(name, forecast, share, predictor.trained_on):
            click.echo(line)
