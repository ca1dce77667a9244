"""``arbridge match``: try the matcher on exported files before turning it on in the daemon."""

from __future__ import annotations

import contextlib
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
import yaml
from pydantic import ValidationError

from cli.options import BadInputError, as_of_option
from rules.cashapp.bank import StatementError
from rules.cashapp.files import (
    InputFileError,
    attach_remittance,
    load_customers,
    load_documents,
    load_payments,
    read_remittance,
    without_cycle_collection,
    write_matches,
)
from rules.cashapp.index import CustomerIndex
from rules.cashapp.matcher import match_payments
from rules.cashapp.payers_ahead import PayersAhead
from rules.cashapp.settings import load_rules

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _rules(path: Path | None) -> Any:
    """The matcher's settings, or an error naming the file and the key (or line) that is wrong."""
    try:
        return load_rules(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise BadInputError(f"{path}{at}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise BadInputError(f"{path}: {problems}") from None


@click.command("match")
@click.option("--invoices", required=True, type=_FILE, help="invoices.csv: open invoices and credit memos.")
@click.option(
    "--payments", required=True, type=_FILE, help="payments.csv, or a camt.053, BAI2 or MT940 bank statement."
)
@click.option("--customers", type=_FILE, help="customers.csv: names and bank accounts to recognise payers.")
@as_of_option("Evaluation day (default: today); documents issued later are ignored.")
@click.option("--rules", "rules_path", type=_FILE, help="rules.yaml with thresholds, weights and tolerances.")
@click.option("--remittance", type=_FILE, help="Remittance advices (CSV or JSON) keyed by payment_id.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="matches.jsonl to write, one line per payment ('-' for stdout).",
)
def match_command(
    invoices: Path,
    payments: Path,
    customers: Path | None,
    as_of: datetime | None,
    rules_path: Path | None,
    remittance: Path | None,
    out: Path,
) -> None:
    """Match payments (or bank statement lines) to open invoices and write one decision per payment."""
    skipped: list[str] = []
    with without_cycle_collection(), contextlib.ExitStack() as stack:
        try:
            rules = _rules(rules_path)
            # The payers are identified by a second process while this one reads the documents; it
            # stops when the run does.
            ahead = stack.enter_context(
                PayersAhead.start(customers, payments, rules) or contextlib.nullcontext())
            documents = load_documents(invoices, skipped)
            people = load_customers(customers) if customers else CustomerIndex()
            incoming = load_payments(payments, skipped)
            # The numbers the references quote come with the payers, by position in ``incoming``.
            reference_keys = ahead.reference_keys if ahead is not None and ahead.keep_in(
                people, incoming, rules) else None
            if remittance:
                incoming = list(attach_remittance(incoming, read_remittance(remittance)))
        except (InputFileError, StatementError, ValueError) as exc:
            raise BadInputError(str(exc)) from exc
        for line in skipped:  # one bad row is left out with its reason; the others are matched
            click.echo(f"skipped {line}", err=True)
        when = as_of.date() if as_of is not None else date.today()
        results = match_payments(incoming, documents, people, rules, when, reference_keys=reference_keys)
        if str(out) == "-":
            counts = write_matches(results, sys.stdout)
        else:
            with out.open("w", encoding="utf-8") as fh:
                counts = write_matches(results, fh)
    click.echo(
        f"{sum(counts.values())} payments: {counts['auto']} auto, {counts['review']} review, "
        f"{counts['unmatched']} unmatched",
        err=True,
    )
    if skipped:
        # The others were matched and written; exit 2, like any bad input, tells a script that some
        # input was left out.
        click.echo(f"{len(skipped)} row(s) skipped, see above", err=True)
        sys.exit(2)
