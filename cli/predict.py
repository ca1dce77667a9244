"""``arbridge predict``: when each open invoice will be paid, learned from the paid ones, on files.

``--history paid.csv --open open.csv --out predictions.csv`` writes one prediction per open invoice
with its 80 % range, the probabilities of being paid more than 30, 60 and 90 days late, and why;
``--backtest --history paid.csv`` measures the model against the baselines on the history itself.
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
from cli.options import BadInputError, as_of_option

__all__ = ["predict_command"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _probability(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.3f}"


@click.command("predict")
@click.option(
    "--history",
    required=True,
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
def predict_command(
    history: Path,
    open_path: Path | None,
    out: Path | None,
    as_of: datetime | None,
    date_format: str | None,
    run_backtest: bool,
    split_date: datetime | None,
    as_json: bool,
) -> None:
    """Predict the payment date of open invoices from the paid ones, each prediction explained.

    A customer without history, too short a history or a currency with little of it get the
    customer-median baseline and say so; nothing fails for want of data.
    """
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
