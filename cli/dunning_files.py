"""``arbridge dunning …``: the dunning commands that work on files alone.

``dunning_group`` is ``arbridge dunning``; ``cli.dunning`` adds the subcommands that read the
state store (``preview``, ``resend``, ``mark-sent``).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

import click
from pydantic import ValidationError

from rules.dunning.csvio import read_credit_memos, read_customers, read_invoices
from rules.dunning.history import HistoryEntry, parse_instant, read_history
from rules.dunning.planner import PlannedAction, action_from_json, plan
from rules.dunning.policy import DunningPolicy, load_policy
from rules.dunning.render import render

__all__ = ["dunning_group"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _as_of(_ctx: click.Context, _param: click.Parameter, value: str) -> datetime:
    try:
        return parse_instant(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: give an ISO 8601 date-time with a time zone, e.g. 2026-11-23T10:00:00Z "
            "or 2026-11-23T10:00:00+01:00"
        ) from None


def _load(policy_path: Path) -> DunningPolicy:
    try:
        return load_policy(policy_path)
    except ValidationError as exc:
        raise click.ClickException(f"{policy_path}: invalid dunning policy:\n{exc}") from None


@click.group("dunning")
def dunning_group() -> None:
    """Plan dunning communications: levels, fees, interest, pauses and contact rules."""


@dunning_group.command("plan")
@click.option(
    "--policy",
    "policy_path",
    required=True,
    type=_FILE,
    help="Policy YAML (see config/dunning-policy.example.yaml).",
)
@click.option("--customers", "customers_path", required=True, type=_FILE, help="customers.csv")
@click.option("--invoices", "invoices_path", required=True, type=_FILE, help="invoices.csv")
@click.option(
    "--credit-memos",
    "memos_path",
    type=_FILE,
    help="credit_memos.csv (optional): open memos pause the invoice they apply to.",
)
@click.option(
    "--history",
    "history_paths",
    multiple=True,
    type=_FILE,
    help="History JSON lines (earlier actions.jsonl files, payments, promises); repeatable.",
)
@click.option(
    "--as-of",
    "as_of",
    required=True,
    callback=_as_of,
    help="Planning time with a zone, e.g. 2026-11-23T10:00:00Z.",
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the JSON lines ('-' for standard output).",
)
def plan_command(
    policy_path: Path,
    customers_path: Path,
    invoices_path: Path,
    memos_path: Path | None,
    history_paths: tuple[Path, ...],
    as_of: datetime,
    out_path: Path,
) -> None:
    """Write one JSON line per planned action and per skip, with its reason."""
    policy = _load(policy_path)

    def history() -> Iterator[HistoryEntry]:
        for path in history_paths:
            yield from read_history(path)

    counts: Counter[str] = Counter()
    out: IO[str]
    out = sys.stdout if str(out_path) == "-" else out_path.open("w", encoding="utf-8")
    try:
        results = plan(
            policy,
            read_customers(customers_path, as_of),
            read_invoices(invoices_path, as_of),
            read_credit_memos(memos_path, as_of) if memos_path else (),
            history(),
            as_of,
        )
        for item in results:
            counts["actions" if isinstance(item, PlannedAction) else "skips"] += 1
            out.write(json.dumps(item.to_json(), ensure_ascii=False, sort_keys=False) + "\n")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if out is not sys.stdout:
            out.close()
    click.echo(f"planned {counts['actions']} action(s), {counts['skips']} skip(s)", err=True)


@dunning_group.command("render")
@click.option("--policy", "policy_path", required=True, type=_FILE)
@click.option("--customers", "customers_path", required=True, type=_FILE)
@click.option("--actions", "actions_path", required=True, type=_FILE, help="actions.jsonl from plan.")
@click.option("--out-dir", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
def render_command(policy_path: Path, customers_path: Path, actions_path: Path, out_dir: Path) -> None:
    """Render planned actions to files for review (.txt, .html, .pdf), sending nothing."""
    policy = _load(policy_path)
    wanted: dict[str, list[PlannedAction]] = {}
    with actions_path.open(encoding="utf-8") as fh:
        for line in fh:
            data = json.loads(line)
            if line.strip() and "skipped" not in data:
                action = action_from_json(data)
                wanted.setdefault(action.customer_id, []).append(action)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for customer in read_customers(customers_path, datetime.now().astimezone()):
        for action in wanted.get(customer.remote_id, []):
            rendered = render(action, customer, sender=policy.sender)
            stem = f"{action.customer_id}-{action.currency}-L{action.level}-{action.channel.value}"
            (out_dir / f"{stem}.txt").write_text(f"{rendered.subject}\n\n{rendered.text}", encoding="utf-8")
            if rendered.html:
                (out_dir / f"{stem}.html").write_text(rendered.html, encoding="utf-8")
            if rendered.pdf:
                (out_dir / f"{stem}.pdf").write_bytes(rendered.pdf)
            written += 1
    click.echo(f"rendered {written} action(s) into {out_dir}", err=True)
