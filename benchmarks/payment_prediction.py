"""Payment-date prediction benchmark: accuracy against the baselines, and time and memory at scale.

    python -m benchmarks.payment_prediction [--full] [--invoices N] [--seed S]

Both scenarios run on the realistic history generator (``analytics/prediction/generator.py``:
customer segments, terms, currencies, seasons, disputes, drifting and deteriorating customers),
each in a fresh process so its peak memory is its own. One JSON line each:

* ``prediction.backtest`` — train on what was paid before the split, score what was issued after
  it: MAE in days and the 80 % range's coverage for the model and each baseline, side by side.
  Targets: MAE at least 25 % below the customer-median baseline's; coverage between 75 % and 85 %.
* ``prediction.forecast`` — the 13-week cash forecast made on the split day for the invoices open
  then, against what they really brought in each week: the share of the amount misplaced
  (Σ|expected − actual| / Σ actual, "later" included), the same for placing every invoice on its
  due date, and how many weeks' actual totals fell inside the band; then the same model, as a
  stored model is used between refits, forecasts again every four weeks after the split (eight
  forecasts in all, reading the payments made since) and the weeks inside the band are counted
  over all of them (the target: about 80 %);
* ``prediction.scale`` — fit on N paid invoices, store the model and read it back (what a forecast
  does between refits), predict N open invoices, put each prediction's
  reasons into words, and read an open.csv of N lines; seconds (wall and processor) for each, and
  the peak memory. Targets at N = 1,000,000: fit in minutes, predict in seconds, on one core;
* ``prediction.cli`` — ``arbridge predict`` end to end on a paid.csv and an open.csv of N lines each
  (reading, fitting, predicting, writing predictions.csv), its time and peak memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from analytics.prediction import saved
from analytics.prediction.backtest import backtest, default_split
from analytics.prediction.book import OPEN, Book, day
from analytics.prediction.files import read_book, write_rows
from analytics.prediction.forecast import cash_forecast
from analytics.prediction.generator import generate_history, paid_before
from analytics.prediction.model import Predictor
from benchmarks.common import emit, peak_rss_mb

QUICK = 100_000
FULL = 1_000_000


def _backtest(invoices: int, seed: int) -> None:
    history = generate_history(invoices, seed=seed)
    result = backtest(history)
    model, _, _, median = result.scores
    gain = 1 - model.mae_days / median.mae_days
    emit(
        {
            "name": "prediction.backtest",
            "n": result.scored,
            "trained_on": result.trained_on,
            "split_date": result.split.isoformat(),
            "scores": [s.to_json() for s in result.scores],
            "mae_below_customer_median": round(gain, 4),
            "target_mae_25pct_below_median": gain >= 0.25,
            "target_coverage_75_85": 0.75 <= model.coverage <= 0.85,
            "model_share": round(result.model_share, 4),
            "fit_seconds": round(result.fit_seconds, 2),
            "predict_seconds": round(result.predict_seconds, 2),
            "peak_rss_mb": peak_rss_mb(),
            "load_average": round(os.getloadavg()[0], 1),
        }
    )
    print(result.table(), file=sys.stderr)


def _weekly(book: Book, days: np.ndarray, start: int, weeks: int) -> dict[str, np.ndarray]:
    """Per currency, the amounts falling in each week from ``start`` (the last slot: later)."""
    slot = np.clip((days - start) // 7, 0, weeks)
    return {
        str(c): np.bincount(
            slot[book.currency == c], weights=book.amount[book.currency == c], minlength=weeks + 1
        )
        for c in sorted(set(book.currency.tolist()))
    }


def _band_hits(history: Book, predictor: Predictor, as_of: date) -> dict[str, tuple[int, int]]:
    """Per currency, the weeks whose actual total fell inside the band, of the 13 forecast on ``as_of``."""
    start = as_of.toordinal()
    truth = history.take((history.issue <= start) & (history.paid >= start))
    forecast = cash_forecast(predictor.predict(_as_open(truth), as_of), as_of)
    actual = _weekly(truth, truth.paid, start, 13)
    return {
        part.currency: (
            sum(w.low <= r <= w.high for w, r in zip(part.weeks, actual[part.currency][:13], strict=True)),
            13,
        )
        for part in forecast.currencies
    }


def _forecast(invoices: int, seed: int) -> None:
    """The 13-week forecast made on the split day against what the open invoices really brought in."""
    history = generate_history(invoices, seed=seed)
    split = default_split(history)
    start = split.toordinal()
    truth = history.take((history.issue <= start) & (history.paid >= start))
    predictor = Predictor.fit(paid_before(history, split))
    forecast = cash_forecast(predictor.predict(_as_open(truth), split), split)
    pooled: dict[str, list[int]] = {}
    for k in range(8):
        day_k = split + timedelta(days=28 * k)
        stored = predictor if k == 0 else predictor.with_history(paid_before(history, day_k))
        for currency, (hits, weeks) in _band_hits(history, stored, day_k).items():
            pooled.setdefault(currency, [0, 0])
            pooled[currency][0] += hits
            pooled[currency][1] += weeks
    actual = _weekly(truth, truth.paid, start, 13)
    on_due = _weekly(truth, np.maximum(truth.due, start), start, 13)
    parts = []
    for part in forecast.currencies:
        real = actual[part.currency]
        expected = np.array([w.expected for w in part.weeks] + [part.later])
        inside = sum(w.low <= r <= w.high for w, r in zip(part.weeks, real[:13], strict=True))
        parts.append(
            {
                "currency": part.currency,
                "open_amount": round(part.open_amount, 2),
                "weekly_error_share": round(float(np.abs(expected - real).sum() / real.sum()), 4),
                "due_date_baseline_error_share": round(
                    float(np.abs(on_due[part.currency] - real).sum() / real.sum()), 4
                ),
                "weeks_inside_band": f"{inside}/13",
                "weeks_inside_band_8_forecasts": "/".join(map(str, pooled[part.currency])),
                "later_expected": round(part.later, 2),
                "later_actual": round(float(real[13]), 2),
            }
        )
    emit(
        {
            "name": "prediction.forecast",
            "n": len(truth),
            "as_of": split.isoformat(),
            "currencies": parts,
            "weeks_inside_band_all": "/".join(str(sum(x)) for x in zip(*pooled.values(), strict=True)),
            "correlation": {
                "customer": round(predictor.correlation.customer, 4),
                "week": round(predictor.correlation.week, 4),
            },
            "peak_rss_mb": peak_rss_mb(),
        }
    )


def _as_open(book: Book) -> Book:
    return replace(book, paid=np.full(len(book), OPEN, dtype=np.int32))


def _scale(invoices: int, seed: int) -> None:
    # One history for training and a later one for the open invoices, so the customers repeat.
    paid = generate_history(invoices, customers=invoices // 40, seed=seed, start=date(2022, 1, 1))
    started, cpu = time.perf_counter(), time.process_time()
    predictor = Predictor.fit(paid)
    fit_seconds, fit_cpu = time.perf_counter() - started, time.process_time() - cpu
    fit_rss = peak_rss_mb()
    # What a forecast does between refits instead of fitting: the stored model read back.
    blob = saved.dumps(predictor)
    started, cpu = time.perf_counter(), time.process_time()
    predictor = saved.loads(blob, paid)
    load_seconds, load_cpu = time.perf_counter() - started, time.process_time() - cpu
    later = generate_history(
        invoices, customers=invoices // 40, seed=seed + 1, start=date(2025, 1, 1), years=0.5
    )
    to_predict = _as_open(later)
    started, cpu = time.perf_counter(), time.process_time()
    found = predictor.predict(to_predict, date(2025, 7, 1))
    predict_seconds, predict_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    words = sum(1 for _ in found.iter_why())
    words_seconds, words_cpu = time.perf_counter() - started, time.process_time() - cpu
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "open.csv"
        write_rows(
            path,
            ("invoice_id", "customer_id", "currency", "amount", "issue_date", "due_date", "disputed"),
            (
                (i, c, cur, f"{a:.2f}", day(s).isoformat(), day(d).isoformat(), "yes" if x else "")
                for i, c, cur, a, s, d, x in zip(
                    later.invoice_id.tolist(),
                    later.customer_id.tolist(),
                    later.currency.tolist(),
                    later.amount.tolist(),
                    later.issue.tolist(),
                    later.due.tolist(),
                    later.disputed.tolist(),
                    strict=True,
                )
            ),
        )
        started, cpu = time.perf_counter(), time.process_time()
        read = read_book(path, paid=False)
        read_seconds, read_cpu = time.perf_counter() - started, time.process_time() - cpu
    emit(
        {
            "name": "prediction.scale",
            "n": invoices,
            "fit_seconds": round(fit_seconds, 2),
            "fit_cpu_seconds": round(fit_cpu, 2),
            "fit_peak_rss_mb": fit_rss,
            "stored_model_mb": round(len(blob) / 1e6, 2),
            "load_stored_seconds": round(load_seconds, 2),
            "load_stored_cpu_seconds": round(load_cpu, 2),
            "predict_seconds": round(predict_seconds, 2),
            "predict_cpu_seconds": round(predict_cpu, 2),
            "why_seconds": round(words_seconds, 2),
            "why_cpu_seconds": round(words_cpu, 2),
            "predicted": words,
            "by_model": int(found.model_used.sum()),
            "read_open_csv_seconds": round(read_seconds, 2),
            "read_open_csv_cpu_seconds": round(read_cpu, 2),
            "read_rows": len(read),
            "peak_rss_mb": peak_rss_mb(),
            "threads": 1,
            "load_average": round(os.getloadavg()[0], 1),
        }
    )


def _write_book(path: Path, book: Book, *, paid: bool) -> None:
    columns = ["invoice_id", "customer_id", "currency", "amount", "issue_date", "due_date"]
    columns += ["paid_date", "disputed"] if paid else ["disputed"]

    def rows() -> Iterator[list[str]]:
        for start in range(0, len(book), 100_000):
            part = book.take(slice(start, start + 100_000))
            for i, c, cur, a, s, d, p, x in zip(
                part.invoice_id.tolist(),
                part.customer_id.tolist(),
                part.currency.tolist(),
                part.amount.tolist(),
                part.issue.tolist(),
                part.due.tolist(),
                part.paid.tolist(),
                part.disputed.tolist(),
                strict=True,
            ):
                row = [i, c, cur, f"{a:.2f}", day(s).isoformat(), day(d).isoformat()]
                row += [day(p).isoformat(), "yes" if x else "no"] if paid else ["yes" if x else ""]
                yield row

    write_rows(path, columns, rows())


def _cli(invoices: int, seed: int) -> None:
    """``arbridge predict`` end to end on files, in a child process whose time and memory are its own."""
    paid = generate_history(invoices, customers=invoices // 40, seed=seed, start=date(2022, 1, 1))
    later = generate_history(
        invoices, customers=invoices // 40, seed=seed + 1, start=date(2025, 1, 1), years=0.5
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write_book(folder / "paid.csv", paid, paid=True)
        _write_book(folder / "open.csv", _as_open(later), paid=False)
        del paid, later
        command = [sys.executable, "-c", "import sync_daemon; sync_daemon.main()", "predict"]
        command += ["--history", str(folder / "paid.csv"), "--open", str(folder / "open.csv")]
        command += ["--as-of", "2025-07-01", "--out", str(folder / "predictions.csv")]
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        with (folder / "predictions.csv").open() as fh:
            written = sum(1 for _ in fh) - 1
    emit(
        {
            "name": "prediction.cli",
            "n": invoices,
            "seconds": round(seconds, 2),
            "cpu_seconds": round(child.ru_utime + child.ru_stime, 2),
            "peak_rss_mb": round(child.ru_maxrss / 1024, 1),
            "predictions_written": written,
            "load_average": round(os.getloadavg()[0], 1),
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help=f"{FULL:,} invoices (default {QUICK:,})")
    parser.add_argument("--invoices", type=int, default=None, help="how many invoices per scenario")
    parser.add_argument("--seed", type=int, default=0, help="the generator's seed")
    parser.add_argument(
        "--scenario",
        choices=["backtest", "forecast", "scale", "cli"],
        help="run one scenario in this process",
    )
    args = parser.parse_args()
    invoices = args.invoices or (FULL if args.full else QUICK)
    if args.scenario == "backtest":
        _backtest(invoices, args.seed)
        return 0
    if args.scenario == "scale":
        _scale(invoices, args.seed)
        return 0
    if args.scenario == "forecast":
        _forecast(invoices, args.seed)
        return 0
    if args.scenario == "cli":
        _cli(invoices, args.seed)
        return 0
    failed = 0
    for scenario in ("backtest", "forecast", "scale", "cli"):
        command = [sys.executable, "-m", "benchmarks.payment_prediction", "--scenario", scenario]
        failed += subprocess.call([*command, "--invoices", str(invoices), "--seed", str(args.seed)]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
