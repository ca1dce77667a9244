"""Cash-application benchmark: accuracy against a plain baseline, and speed against parsing the CSVs.

    python -m benchmarks.cashapp                       # 20k payments against 200k open documents
    python -m benchmarks.cashapp --full                # 100k payments against 1M open documents
    python -m benchmarks.cashapp --payments N --documents M [--seed S]

Prints JSON lines, one per situation of the generator too (``cashapp_situation``: auto rate and
precision of the matcher beside the exact-number-and-amount rule), and the same as a table on
standard error. The timed runs happen in child processes, so ``peak_rss_mb`` is the matcher's
own footprint (reading the files, indexing, matching, writing ``matches.jsonl``), not the generator's;
the CSV-parse yardstick is measured the same way in the same run.

A third child measures a floor: the least any matcher must do with the same files before it can
decide anything (read each document's customer, number, kind, currency, open amount and due date
and group them by customer; read the customers and the payments; find the digits in each reference,
look up the payer's documents and write one line per payment), with no decision logic at all.
Its ratio to the CSV parse shows how much of the speed target is left for the matching itself.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from rules.cashapp.baseline import baseline_match
from rules.cashapp.files import (
    attach_remittance,
    load_customers,
    load_documents,
    load_payments,
    without_cycle_collection,
    write_matches,
)
from rules.cashapp.generator import SCENARIOS, Accuracy, evaluate, generate, situation_figures
from rules.cashapp.index import DocumentIndex
from rules.cashapp.matcher import match_payments
from rules.cashapp.model import result_from_json
from rules.cashapp.payers_ahead import PayersAhead
from rules.cashapp.settings import MatchRules

TARGET_RATIO = 6.0
TARGET_AUTO_RATE = 0.97
TARGET_PRECISION = 0.998


def _peak_rss_mb() -> float:
    # VmHWM belongs to this process image; ru_maxrss survives exec on Linux and would report the
    # parent's generator footprint for the timed children.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def _child_parse(directory: Path) -> dict[str, Any]:
    """Only read every row of the three CSV files with the csv module: the speed yardstick."""
    start, cpu = time.perf_counter(), time.process_time()
    rows = 0
    for name in ("invoices", "payments", "customers"):
        with (directory / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
            for _ in csv.reader(fh):
                rows += 1
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu, "rows": rows,
            "peak_rss_mb": _peak_rss_mb()}


_DIGITS = re.compile(r"\d+")


def _child_floor(directory: Path) -> dict[str, Any]:
    """The least a matcher must do with the files, with no decision logic (see the module docstring)."""
    with without_cycle_collection():
        start = time.perf_counter()
        by_customer: dict[str, list[tuple[str, str, str, str, Decimal, date]]] = {}
        dates: dict[str, date] = {}
        # The generated files hold no quotes, so splitting lines on commas reads them exactly, and
        # faster than the csv module: the floor takes every shortcut the files allow.
        lines = (directory / "invoices.csv").read_text(encoding="utf-8").splitlines()
        for line in lines[1:]:
            r = line.split(",")
            due = dates.get(r[8]) or dates.setdefault(r[8], date.fromisoformat(r[8]))
            doc = (r[0], r[2], r[3], r[4], Decimal(r[6]), due)
            bucket = by_customer.get(r[1])
            if bucket is None:
                by_customer[r[1]] = [doc]
            else:
                bucket.append(doc)
        customers: dict[str, tuple[str, list[str]]] = {}
        with (directory / "customers.csv").open(newline="", encoding="utf-8") as fh:
            rows = csv.reader(fh)
            next(rows)
            for r in rows:
                customers[r[0]] = (r[1], r[2].split(";"))
        written = 0
        with (directory / "payments.csv").open(newline="", encoding="utf-8") as fh, \
                (directory / "floor.jsonl").open("w", encoding="utf-8") as out:
            rows = csv.reader(fh)
            next(rows)
            write = out.write
            for r in rows:
                amount, day = Decimal(r[2]), date.fromisoformat(r[1])
                docs = by_customer.get(r[4], ())
                keys = _DIGITS.findall(r[7])
                write(f'{{"payment_id": "{r[0]}", "date": "{day}", "amount": "{amount}", '
                      f'"customer_id": "{r[4]}", "documents": {len(docs)}, "keys": {len(keys)}}}\n')
                written += 1
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "customers": len(by_customer), "payments": written,
            "peak_rss_mb": _peak_rss_mb()}


def _children_cpu() -> float:
    """Processor seconds of this process's children that ended and were waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _child_match(directory: Path, as_of: date) -> dict[str, Any]:
    """What ``arbridge match`` does: read, index, match, write matches.jsonl."""
    with without_cycle_collection():
        start, cpu, helper_cpu = time.perf_counter(), time.process_time(), _children_cpu()
        rules = MatchRules()
        # As ``arbridge match`` does: the payers identified by a second process meanwhile, when that pays.
        with PayersAhead.start(directory / "customers.csv", directory / "payments.csv", rules) \
                or contextlib.nullcontext() as ahead:
            documents = load_documents(directory / "invoices.csv")
            documents_read, documents_cpu = time.perf_counter(), time.process_time()
            customers = load_customers(directory / "customers.csv")
            customers_read, customers_cpu = time.perf_counter(), time.process_time()
            payments = load_payments(directory / "payments.csv")
            payments_read = time.perf_counter()
            payers_ahead = ahead is not None and ahead.keep_in(customers, payments, rules)
            reference_keys = ahead.reference_keys if ahead is not None else None  # None unless kept
            loaded, loaded_cpu = time.perf_counter(), time.process_time()
            with (directory / "matches.jsonl").open("w", encoding="utf-8") as fh:
                counts = write_matches(
                    match_payments(attach_remittance(payments, {}), documents, customers, rules, as_of,
                                   reference_keys=reference_keys), fh
                )
            end, cpu_end = time.perf_counter(), time.process_time()
        # The second process's processor time counts as much as this one's.
        helper_cpu = _children_cpu() - helper_cpu
    return {
        "seconds": end - start,
        "cpu_seconds": cpu_end - cpu + helper_cpu,
        "load_seconds": loaded - start,
        "documents_seconds": documents_read - start,
        "customers_seconds": customers_read - documents_read,
        "payments_seconds": payments_read - customers_read,
        "payers_ahead": payers_ahead,
        # Waiting for the second process to have read the files as well.
        "payers_wait_seconds": loaded - payments_read,
        "match_seconds": end - loaded,
        # The same steps in processor time, which other jobs on a shared machine sway less.
        "documents_cpu_seconds": documents_cpu - cpu,
        "customers_cpu_seconds": customers_cpu - documents_cpu,
        "payments_cpu_seconds": loaded_cpu - customers_cpu,
        "match_cpu_seconds": cpu_end - loaded_cpu,
        "payers_process_cpu_seconds": helper_cpu,
        "documents": len(documents),
        "payments": len(payments),
        "counts": counts,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _run_child(mode: str, directory: Path, as_of: date) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.cashapp",
            "--child",
            mode,
            "--dir",
            str(directory),
            "--as-of",
            as_of.isoformat(),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _read_results(path: Path) -> Iterator[Any]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            yield result_from_json(json.loads(line))


def run(n_payments: int, n_documents: int, seed: int, workdir: Path) -> None:
    """Generate a scenario set, time the matcher against the CSV parse, and score both rules."""
    start = time.perf_counter()
    scenarios = generate(n_payments, n_documents, seed=seed)
    paths = scenarios.write(workdir)
    _emit(
        {
            "name": "cashapp_generate",
            "n": len(scenarios.payments),
            "seconds": round(time.perf_counter() - start, 3),
            "per_second": None,
            "api_calls": 0,
            "peak_rss_mb": _peak_rss_mb(),
            "documents": len(scenarios.documents),
            "files": {k: str(v) for k, v in paths.items()},
        }
    )
    expected, as_of = scenarios.expected, scenarios.as_of
    baseline = evaluate(baseline_match(scenarios.payments, DocumentIndex(scenarios.documents)), expected)
    del scenarios

    parse = min((_run_child("parse", workdir, as_of) for _ in range(2)), key=lambda r: r["seconds"])
    _emit(
        {
            "name": "cashapp_parse_csv",
            "n": parse["rows"],
            "seconds": round(parse["seconds"], 3),
            "per_second": round(parse["rows"] / parse["seconds"]),
            "api_calls": 0,
            "peak_rss_mb": parse["peak_rss_mb"],
        }
    )
    floor = _run_child("floor", workdir, as_of)
    _emit(
        {
            "name": "cashapp_floor",
            "n": floor["payments"],
            "seconds": round(floor["seconds"], 3),
            "per_second": round(floor["payments"] / floor["seconds"]),
            "api_calls": 0,
            "peak_rss_mb": floor["peak_rss_mb"],
            "csv_parse_seconds": round(parse["seconds"], 3),
            "ratio_to_csv_parse": round(floor["seconds"] / parse["seconds"], 2),
            "left_for_matching_within_target_seconds": round(
                TARGET_RATIO * parse["seconds"] - floor["seconds"], 3
            ),
        }
    )
    match = _run_child("match", workdir, as_of)
    ratio = match["seconds"] / parse["seconds"]
    _emit(
        {
            "name": "cashapp_match",
            "n": match["payments"],
            "seconds": round(match["seconds"], 3),
            "per_second": round(match["payments"] / match["seconds"]),
            "api_calls": 0,
            "peak_rss_mb": match["peak_rss_mb"],
            "documents": match["documents"],
            "load_seconds": round(match["load_seconds"], 3),
            # Reading and indexing the documents, the customers (names and accounts) and the payments.
            "documents_seconds": round(match["documents_seconds"], 3),
            "customers_seconds": round(match["customers_seconds"], 3),
            "payments_seconds": round(match["payments_seconds"], 3),
            # Whether a second process identified the payers, and the wait for it to have read the files.
            "payers_ahead": match["payers_ahead"],
            "payers_wait_seconds": round(match["payers_wait_seconds"], 3),
            "match_seconds": round(match["match_seconds"], 3),
            "documents_cpu_seconds": round(match["documents_cpu_seconds"], 3),
            "customers_cpu_seconds": round(match["customers_cpu_seconds"], 3),
            "payments_cpu_seconds": round(match["payments_cpu_seconds"], 3),
            "match_cpu_seconds": round(match["match_cpu_seconds"], 3),
            "payers_process_cpu_seconds": round(match["payers_process_cpu_seconds"], 3),
            "csv_parse_seconds": round(parse["seconds"], 3),
            "csv_parse_cpu_seconds": round(parse["cpu_seconds"], 3),
            "ratio_to_csv_parse": round(ratio, 2),
            # Processor time is less swayed by other jobs on a shared machine than wall time.
            "cpu_ratio_to_csv_parse": round(match["cpu_seconds"] / parse["cpu_seconds"], 2),
            "target_ratio": TARGET_RATIO,
            "within_target": ratio <= TARGET_RATIO,
            "counts": match["counts"],
        }
    )

    acc = evaluate(_read_results(workdir / "matches.jsonl"), expected)
    _emit(
        {
            "name": "cashapp_accuracy",
            "n": acc.payments,
            "matchable": acc.matchable,
            "auto_rate": round(acc.auto_rate, 4),
            "precision": round(acc.precision, 5),
            "baseline_auto_rate": round(baseline.auto_rate, 4),
            "baseline_precision": round(baseline.precision, 5),
            "auto": acc.auto,
            "auto_correct": acc.auto_correct,
            "review": acc.review,
            "unmatched": acc.unmatched,
            "targets": {"auto_rate": TARGET_AUTO_RATE, "precision": TARGET_PRECISION},
            "within_targets": acc.auto_rate >= TARGET_AUTO_RATE and acc.precision >= TARGET_PRECISION,
            "by_scenario": acc.by_scenario,
            "baseline_by_scenario": baseline.by_scenario,
        }
    )
    _situations(acc, baseline)


def _situations(acc: Accuracy, baseline: Accuracy) -> None:
    """One line per situation, and a table a person reads, matcher beside the baseline rule."""
    rows = []
    for name in SCENARIOS:
        row = acc.by_scenario.get(name)
        if row is None:
            continue
        ours = situation_figures(row)
        base = situation_figures(baseline.by_scenario.get(name, row))
        rows.append((name, row, ours, base))
        _emit({"name": "cashapp_situation", "situation": name, "n": row["n"], "matchable": row["matchable"],
               "auto_rate": ours["auto_rate"], "precision": ours["precision"],
               "auto_wrong": row["auto_wrong"], "review": row["review"], "unmatched": row["unmatched"],
               "baseline_auto_rate": base["auto_rate"], "baseline_precision": base["precision"]})

    def pct(value: float | None, digits: int = 1) -> str:
        return "—" if value is None else f"{value * 100:.{digits}f} %"

    out = sys.stderr
    out.write("| situation | payments | matchable | auto rate | precision | baseline auto rate "
              "| baseline precision |\n|---|---:|---:|---:|---:|---:|---:|\n")
    for name, row, ours, base in rows:
        out.write(f"| {name} | {row['n']} | {row['matchable']} | {pct(ours['auto_rate'])} | "
                  f"{pct(ours['precision'], 2)} | {pct(base['auto_rate'])} | {pct(base['precision'], 2)} |\n")
    out.write(f"| **all** | {acc.payments} | {acc.matchable} | {pct(acc.auto_rate)} | "
              f"{pct(acc.precision, 2)} | {pct(baseline.auto_rate)} | {pct(baseline.precision, 2)} |\n")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=20_000)
    parser.add_argument("--documents", type=int, default=200_000)
    parser.add_argument("--full", action="store_true", help="100k payments against 1M open documents")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", type=Path, help="keep the generated files here")
    parser.add_argument("--child", choices=("parse", "floor", "match"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.child == "parse":
            result = _child_parse(args.dir)
        elif args.child == "floor":
            result = _child_floor(args.dir)
        else:
            result = _child_match(args.dir, date.fromisoformat(args.as_of))
        print(json.dumps(result))
        return
    if args.full:
        args.payments, args.documents = 100_000, 1_000_000
    if args.workdir:
        run(args.payments, args.documents, args.seed, args.workdir)
        return
    with tempfile.TemporaryDirectory(prefix="arbridge-cashapp-") as tmp:
        run(args.payments, args.documents, args.seed, Path(tmp))


if __name__ == "__main__":
    main()
