"""``arbridge predict``: when each open invoice will be paid, learned from the paid ones, on files.

``--history paid.csv --open open.csv --out predictions.csv`` writes one prediction per open invoice
with its 80 % range, the probabilities of being paid more than 30, 60 and 90 days late, and why;
``--backtest --history paid.csv`` measures the model against the baselines on the history itself;
``--refit -c FILE [--connection NAME]`` fits each connection's model on the store's paid invoices
now and stores it (``engine.payment_model``), instead of waiting for the daemon's schedule.
The columns are in ``docs/prediction.md``.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from pathlib import Path

import click

from analytics.prediction.backtest import backtest
from analytics.prediction.book import day
from analytics.prediction.files import PREDICTION_COLUMNS, read_book, write_rows
from analytics.prediction.model import Predictor
from cli.options import (
    BadInputError,
    as_of_option,
    config_option,
    connection_option,
    load_deployment,
    open_store,
    selected_connections,
)

__all__ = ["predict_command"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _probability(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.3f}"


def _refit(config_path: str | None, names: tuple[str, ...]) -> None:
    """Fit and store each selected connection's model now; exit 1 when one failed."""
    from engine.payment_model import model_status, refit_if_due

    if config_path is None:
        raise click.UsageError("give -c FILE (or $ARBRIDGE_CONFIG) with --refit")
    deployment = load_deployment(config_path, store_only=True)
    store = open_store(deployment)
    failed = False
    try:
        for conn in selected_connections(deployment, names):
            outcome = refit_if_due(store, conn.name, deployment.prediction, force=True)
            if outcome.outcome == "failed":
                failed = True
                click.echo(f"{conn.name}: refit failed, the stored model stays: {outcome.error}", err=True)
                continue
            status = model_status(store, conn.name, deployment.prediction)
            click.echo(f"{conn.name}: {status['text']} ({outcome.cpu_seconds:.1f} s of processor time)")
    finally:
        store.close()
    if failed:
        raise SystemExit(1)


@click.command("predict")
@click.option(
    "--history",
    type=_FILE,
    help="paid.csv: invoice_id, customer_id, currency, amount, issue_date, due_date, paid_date, disputed.",
)
@click.option("--open", "open_path", type=_FILE, help="open.csv: the same columns without paid_date.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="predictions.csv to write (with --open)."
)
@as_of_option("Predict as things stand on this day (default: today); open invoices are paid on it or later.")
@click.option(
    "--date-format",
    default=None,
    metavar="FORMAT",
    help="How the files write dates, in strftime codes such as %d.%m.%Y (default: 2026-11-23).",
)
@click.option(
    "--backtest",
    "run_backtest",
    is_flag=True,
    help="Measure instead: train on what was paid before the split, score what was issued after it.",
)
@click.option(
    "--split-date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="With --backtest: the day to split the history on (default: 80 % of invoices issued before it).",
)
@click.option("--json", "as_json", is_flag=True, help="With --backtest: machine-readable output.")
@click.option(
    "--refit",
    "force_refit",
    is_flag=True,
    help="With -c FILE: fit each connection's model on the store's paid invoices now and store it "
    "(the daemon otherwise refits on prediction.refit's schedule).",
)
@config_option(required=False)
@connection_option("With --refit: only this connection (repeatable); all of them by default.")
def predict_command(
    history: Path | None,
    open_path: Path | None,
    out: Path | None,
    as_of: datetime | None,
    date_format: str | None,
    run_backtest: bool,
    split_date: datetime | None,
    as_json: bool,
    force_refit: bool,
    config_path: str | None,
    names: tuple[str, ...],
) -> None:
    """Predict the payment date of open invoices from the paid ones, each prediction explained.

    A customer without history, too short a history or a currency with little of it get the
    customer-median baseline and say so; nothing fails for want of data.
    """
    if force_refit:
        _refit(config_path, names)
        return
    if history is None:
        raise click.UsageError("give --history paid.csv (or --refit -c FILE to refit the stored models)")
    try:
        paid = read_book(history, paid=True, date_format=date_format)
        if run_backtest:
            result = backtest(paid, split_date.date() if split_date else None)
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "split_date": result.split.isoformat(),
                            "trained_on": result.trained_on,
                            "scored": result.scored,
                            "model_share": round(result.model_share, 4),
                            "fit_seconds": round(result.fit_seconds, 2),
                            "predict_seconds": round(result.predict_seconds, 2),
                            "scores": [s.to_json() for s in result.scores],
                        },
                        indent=2,
                    )
                )
            else:
                click.echo(result.table())
            return
        if open_path is None or out is None:
            raise click.UsageError("give --open and --out to predict (or --backtest to measure)")
        to_predict = read_book(open_path, paid=False, date_format=date_format)
    except ValueError as exc:  # a BookFileError naming the cell, or a split date with nothing to test
        raise BadInputError(str(exc)) from None
    today: date = (as_of or datetime.now(UTC)).date()
    found = Predictor.fit(paid).predict(to_predict, today)
    rows = zip(
        found.book.invoice_id.tolist(),
        found.predicted.tolist(),
        found.low.tolist(),
        found.high.tolist(),
        found.p_late[30].tolist(),
        found.p_late[60].tolist(),
        found.p_late[90].tolist(),
        found.iter_why(),
        strict=True,
    )
    written = write_rows(
        out,
        PREDICTION_COLUMNS,
        (
            (inv, day(p).isoformat(), day(lo).isoformat(), day(hi).isoformat(), *map(_probability, ps), why)
            for inv, p, lo, hi, *ps, why in rows
        ),
    )
    by_model = int(found.model_used.sum())
    click.echo(
        f"wrote {written} predictions to {out} as of {today.isoformat()} ({by_model} by the model, "
        f"{written - by_model} by the customer-median baseline), learned from {len(paid)} paid invoices"
    )
