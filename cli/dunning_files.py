"""``arbridge dunning …``: the dunning commands that work on files alone.

``dunning_group`` is ``arbridge dunning``; ``cli.dunning`` adds the subcommands that read the
state store (``preview``, ``resend``, ``mark-sent``).

A file that cannot be read (the policy, a CSV export, a history or actions file) ends the command
with exit code 2 and one message per problem naming the file, the line and the column or key, and
what was expected; nothing is written then.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, NoReturn

import click

from config.dunning_policy import PolicyError, load_dunning_policy
from rules.dunning.csvio import read_credit_memos, read_customers, read_invoices, read_payments
from rules.dunning.history import HistoryEntry, parse_instant, read_history
from rules.dunning.planner import PlannedAction, action_from_json, plan
from rules.dunning.policy import DunningPolicy
from rules.dunning.render import NotRenderable, render

__all__ = ["dunning_group", "parse_as_of"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def parse_as_of(value: str) -> datetime:
    """``--as-of``: a date-time with its zone, or a date (its midnight in UTC).

    Raises:
        click.BadParameter: neither; the message says what is expected.
    """
    text = value.strip()
    try:
        if len(text) == 10:
            return parse_instant(f"{text}T00:00:00Z")
        return parse_instant(text)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: give a date (2026-11-23, midnight UTC) or an ISO 8601 date-time with a time "
            "zone, e.g. 2026-11-23T10:00:00Z or 2026-11-23T10:00:00+01:00"
        ) from None


def _as_of(_ctx: click.Context, _param: click.Parameter, value: str) -> datetime:
    return parse_as_of(value)


def _bad_input(message: str) -> NoReturn:
    click.echo(f"arbridge: {message}", err=True)
    sys.exit(2)


def _load(policy_path: Path) -> DunningPolicy:
    try:
        return load_dunning_policy(policy_path)
    except PolicyError as exc:
        _bad_input(str(exc))


@click.group("dunning")
def dunning_group() -> None:
    """Plan dunning communications: levels, fees, interest, pauses and contact rules."""


@dunning_group.command("plan")
@click.option(
    "--policy",
    "policy_path",
    type=_FILE,
    help="Policy YAML (see config/dunning-policy.example.yaml); the built-in policy when left out.",
)
@click.option("--customers", "customers_path", required=True, type=_FILE, help="customers.csv")
@click.option("--invoices", "invoices_path", required=True, type=_FILE, help="invoices.csv")
@click.option(
    "--credit-memos",
    "memos_path",
    type=_FILE,
    help="credit_memos.csv (optional): open memos pause the invoice they apply to, the others are a "
    "credit line.",
)
@click.option(
    "--payments",
    "payments_path",
    type=_FILE,
    help="payments.csv (optional): unapplied amounts are a credit line that reduces what is due.",
)
@click.option(
    "--history",
    "history_paths",
    multiple=True,
    type=_FILE,
    help="History JSON lines (earlier actions.jsonl files, payments, promises, call outcomes); repeatable.",
)
@click.option(
    "--as-of",
    "as_of",
    required=True,
    callback=_as_of,
    help="Planning time: a date-time with a zone (2026-11-23T10:00:00Z) or a date (midnight UTC).",
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the JSON lines ('-' for standard output).",
)
def plan_command(
    policy_path: Path | None,
    customers_path: Path,
    invoices_path: Path,
    memos_path: Path | None,
    payments_path: Path | None,
    history_paths: tuple[Path, ...],
    as_of: datetime,
    out_path: Path,
) -> None:
    """Write one JSON line per planned action and per skip, with its reason."""
    policy = _load(policy_path) if policy_path else load_dunning_policy(None)

    def history() -> Iterator[HistoryEntry]:
        for path in history_paths:
            yield from read_history(path)

    counts: Counter[str] = Counter()
    with _output(out_path) as out:
        try:
            results = plan(
                policy,
                read_customers(customers_path, as_of),
                read_invoices(invoices_path, as_of),
                read_credit_memos(memos_path, as_of) if memos_path else (),
                history(),
                as_of,
                payments=read_payments(payments_path, as_of) if payments_path else (),
            )
            for item in results:
                counts["actions" if isinstance(item, PlannedAction) else "skips"] += 1
                out.write(json.dumps(item.to_json(), ensure_ascii=False, sort_keys=False) + "\n")
        except ValueError as exc:
            out.abandon()
            _bad_input(str(exc))
    click.echo(f"planned {counts['actions']} action(s), {counts['skips']} skip(s)", err=True)


class _Output:
    """Standard output, or a file that appears only once it is complete (a temporary file renamed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp: Path | None = None
        self.fh: IO[str] = sys.stdout
        self.abandoned = False

    def __enter__(self) -> _Output:
        if str(self.path) != "-":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
            self.tmp = Path(name)
            self.fh = os.fdopen(fd, "w", encoding="utf-8")
        return self

    def write(self, text: str) -> None:
        self.fh.write(text)

    def abandon(self) -> None:
        """Nothing of a run that failed half-way is left behind."""
        self.abandoned = True

    def __exit__(self, *exc: object) -> None:
        if self.tmp is None:
            return
        self.fh.close()
        if self.abandoned or exc[0] is not None:
            self.tmp.unlink(missing_ok=True)
        else:
            os.replace(self.tmp, self.path)


def _output(path: Path) -> _Output:
    return _Output(path)


def _actions(path: Path) -> dict[str, list[PlannedAction]]:
    wanted: dict[str, list[PlannedAction]] = {}
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        _bad_input(f"{path}: cannot be read: {exc.strerror or exc}")
    with fh:
        lineno = 0
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    _bad_input(f"{path}:{lineno}:{exc.colno}: expected one JSON object per line ({exc.msg})")
                if not isinstance(data, dict):
                    _bad_input(f"{path}:{lineno}: expected a JSON object, as 'dunning plan' writes")
                if "skipped" in data:
                    continue
                try:
                    action = action_from_json(data)
                except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
                    problem = f"key {exc.args[0]!r} is missing" if isinstance(exc, KeyError) else str(exc)
                    _bad_input(
                        f"{path}:{lineno}: not a planned action as 'dunning plan' writes it: {problem}"
                    )
                wanted.setdefault(action.customer_id, []).append(action)
        except UnicodeDecodeError:
            _bad_input(f"{path}:{lineno + 1}: expected UTF-8 text")
    return wanted


@dunning_group.command("render")
@click.option("--policy", "policy_path", type=_FILE, help="Policy YAML; the built-in policy when left out.")
@click.option("--customers", "customers_path", required=True, type=_FILE, help="customers.csv")
@click.option("--actions", "actions_path", required=True, type=_FILE, help="actions.jsonl from plan.")
@click.option(
    "--out-dir",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the .txt, .html and .pdf files.",
)
def render_command(policy_path: Path | None, customers_path: Path, actions_path: Path, out_dir: Path) -> None:
    """Render planned actions to files for review (.txt, .html, .pdf), sending nothing."""
    policy = _load(policy_path) if policy_path else load_dunning_policy(None)
    wanted = _actions(actions_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        for customer in read_customers(customers_path, datetime.now().astimezone()):
            for action in wanted.get(customer.remote_id, []):
                stem = f"{action.customer_id}-{action.currency}-L{action.level}-{action.channel.value}"
                try:
                    rendered = render(action, customer, sender=policy.sender)
                except NotRenderable as exc:
                    click.echo(f"{stem}: not produced: {exc}", err=True)
                    continue
                (out_dir / f"{stem}.txt").write_text(
                    f"{rendered.subject}\n\n{rendered.text}", encoding="utf-8"
                )
                if rendered.html:
                    (out_dir / f"{stem}.html").write_text(rendered.html, encoding="utf-8")
                if rendered.pdf:
                    (out_dir / f"{stem}.pdf").write_bytes(rendered.pdf)
                written += 1
    except ValueError as exc:
        _bad_input(str(exc))
    click.echo(f"rendered {written} action(s) into {out_dir}", err=True)
