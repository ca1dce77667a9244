"""Outbox commands for an admin: list the writes to the ERP, retry a parked one, or drop it for good.

A write is parked when the ERP refused it for a reason retrying cannot fix (a closed period, an
inactive customer, a deleted invoice). ``retry`` is for after the cause was fixed in the ERP;
``drop`` is for a write that must never be sent. Both only move a ``parked`` row, with a single
conditional UPDATE, so a daemon running at the same moment never races them, and both are
recorded in the audit log with the operator and the note.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import Any

import click

from cli.options import CONFIG_OPTION, load_deployment
from engine.runner import open_store
from store import StateStore
from store.state import OutboxRow

__all__ = ["drop_command", "list_command", "outbox_group", "outbox_row_summary", "retry_command"]

STATUSES = ("parked", "pending", "sending", "done", "dropped", "all")
SHORT_KEY = 16


def _age(since: datetime, at: datetime) -> str:
    seconds = max(0, int((at - since).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def outbox_row_summary(row: OutboxRow, parents: dict[str, str], at: datetime) -> dict[str, Any]:
    """One outbox row as the admin reads it; ``parents`` maps parent keys to their status."""
    waiting_on = None
    if row.depends_on and row.status in ("pending", "sending", "parked"):
        parent_status = parents.get(row.depends_on, "missing")
        if parent_status != "done":
            waiting_on = {"key": row.depends_on[:SHORT_KEY], "status": parent_status}
    return {
        "key": row.key[:SHORT_KEY],
        "connection": row.connection,
        "status": row.status,
        "op": row.op_type,
        "target": f"{row.target_type}/{row.target_id}",
        "attempts": row.attempts,
        "age": _age(row.created_at, at),
        "created_at": row.created_at.isoformat(timespec="seconds"),
        # Once a write has left it may be in the ERP; only "done" settles that question.
        "maybe_in_erp": row.sent_at is not None and row.status != "done",
        "error": row.last_error,
        "error_kind": row.error_kind,
        "waiting_on": waiting_on,
    }


def _line(item: dict[str, Any]) -> str:
    parts = [
        item["key"],
        item["connection"],
        item["status"],
        item["op"],
        item["target"],
        f"attempts {item['attempts']}",
        f"age {item['age']}",
    ]
    if item["maybe_in_erp"]:
        parts.append("may have reached the ERP")
    if item["waiting_on"]:
        parts.append(f"waits on {item['waiting_on']['key']} ({item['waiting_on']['status']})")
    text = "  ".join(parts)
    if item["error"]:
        text += f"\n    ERP: {item['error']}"
    return text


@click.command("list")
@CONFIG_OPTION
@click.option("--connection", "connection_name", default=None, help="Only this connection's writes.")
@click.option(
    "--status",
    type=click.Choice(STATUSES),
    default="parked",
    show_default=True,
    help="Which writes to show.",
)
@click.option(
    "--limit", default=200, show_default=True, type=click.IntRange(min=1), help="At most this many (newest)."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(
    config_path: str, connection_name: str | None, status: str, limit: int, as_json: bool
) -> None:
    """List writes to the ERP (parked ones by default) with the ERP's last error."""
    deployment = load_deployment(config_path)
    store = open_store(deployment)
    try:
        rows = store.outbox_rows(
            connection_name, None if status == "all" else status, limit=limit, newest_first=True
        )
        rows.reverse()
        parents = store.outbox_statuses(r.depends_on for r in rows if r.depends_on)
    finally:
        store.close()
    at = datetime.now(UTC)
    items = [outbox_row_summary(r, parents, at) for r in rows]
    if as_json:
        click.echo(json.dumps({"status": status, "writes": items}, indent=2, default=str))
        return
    if not items:
        where = f" for {connection_name}" if connection_name else ""
        click.echo(f"no {'' if status == 'all' else status + ' '}writes{where}")
        return
    for item in items:
        click.echo(_line(item))
    if status == "parked":
        click.echo(
            f"\n{len(items)} parked. Fix the cause in the ERP, then:"
            f" arbridge outbox retry -c {config_path} KEY --note WHAT_WAS_FIXED"
            f"\nor give the write up for good: arbridge outbox drop -c {config_path} KEY --note WHY"
        )


def _resolve(store: StateStore, prefixes: tuple[str, ...], verb: str) -> list[OutboxRow]:
    """The parked rows the admin named; nothing is changed unless every prefix names one parked row."""
    found: list[OutboxRow] = []
    problems: list[str] = []
    for prefix in prefixes:
        matches = store.outbox_find(prefix.strip()) if prefix.strip() else []
        if not matches:
            problems.append(f"no write with a key starting {prefix!r}")
        elif len(matches) > 1:
            keys = ", ".join(m.key[:SHORT_KEY] for m in matches)
            problems.append(f"{prefix!r} matches several writes ({keys}); give more of the key")
        elif matches[0].status != "parked":
            problems.append(
                f"{matches[0].key[:SHORT_KEY]} is {matches[0].status}; only parked writes can be {verb}"
            )
        elif matches[0].key not in {f.key for f in found}:
            found.append(matches[0])
    if problems:
        raise click.ClickException("; ".join(problems))
    return found


@click.command("retry")
@CONFIG_OPTION
@click.argument("keys", nargs=-1, required=True)
@click.option("--note", default="", help="What was fixed in the ERP, for the audit log.")
def retry_command(config_path: str, keys: tuple[str, ...], note: str) -> None:
    """Send parked writes again at the next cycle, after their cause was fixed in the ERP.

    The same write goes out (same idempotency key); one that may already have reached the ERP is
    looked up there first.
    """
    deployment = load_deployment(config_path)
    store = open_store(deployment)
    who = getpass.getuser()
    changed: list[str] = []
    try:
        rows = _resolve(store, keys, "retried")
        for row in rows:
            if not store.retry_parked(row.key, by=who, note=note):
                changed.append(row.key[:SHORT_KEY])
                continue
            looked_up = " (it may have reached the ERP: it is looked up there first)" if row.sent_at else ""
            click.echo(
                f"{row.key[:SHORT_KEY]}: {row.op_type} {row.target_type}/{row.target_id} goes out at the "
                f"next cycle of {row.connection}{looked_up}"
            )
    finally:
        store.close()
    if changed:
        raise click.ClickException(f"{', '.join(changed)} changed meanwhile (no longer parked); not retried")


@click.command("drop")
@CONFIG_OPTION
@click.argument("keys", nargs=-1, required=True)
@click.option("--note", required=True, help="Why the write must never be sent, for the audit log.")
def drop_command(config_path: str, keys: tuple[str, ...], note: str) -> None:
    """Give parked writes up for good, with the writes waiting on them; they are never sent."""
    if not note.strip():
        raise click.UsageError("--note must say why the write is given up")
    deployment = load_deployment(config_path)
    store = open_store(deployment)
    who = getpass.getuser()
    changed: list[str] = []
    try:
        rows = _resolve(store, keys, "dropped")
        for row in rows:
            dependents = store.drop_parked(row.key, by=who, note=note)
            if dependents is None:
                changed.append(row.key[:SHORT_KEY])
                continue
            click.echo(
                f"{row.key[:SHORT_KEY]}: {row.op_type} {row.target_type}/{row.target_id} dropped; "
                "it will never be sent"
            )
            for d in dependents:
                click.echo(
                    f"  also dropped (it waited on it): {d.key[:SHORT_KEY]} {d.op_type} "
                    f"{d.target_type}/{d.target_id}"
                )
    finally:
        store.close()
    if changed:
        raise click.ClickException(f"{', '.join(changed)} changed meanwhile (no longer parked); not dropped")


@click.group("outbox")
def outbox_group() -> None:
    """Writes to the ERP: list them, retry a parked one after a fix in the ERP, or drop it for good."""


for _command in (list_command, retry_command, drop_command):
    outbox_group.add_command(_command)
