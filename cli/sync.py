"""``arbridge sync``: one cycle per connection (pull, decide, write back), then exit."""

from __future__ import annotations

import sys
from typing import Any

import click

from cli.health import fix_credentials_hint
from cli.options import (
    CONFIG_OPTION,
    connection_option,
    load_deployment,
    logging_from,
    open_store,
    selected_connections,
)
from cli.progress import CycleProgress, progress
from connectors.registry import discover
from engine.runner import sync_connection
from engine.sync import CycleReport

__all__ = ["print_report", "sync_command"]


def print_report(report: CycleReport, connection: Any, config_path: str) -> None:
    """One line per connection, the errors below it, and what to run when it needs credentials."""
    pulled = ", ".join(
        f"{s}: {v.get('new', 0)} new, {v.get('changed', 0)} changed, {v.get('quarantined', 0)} quarantined"
        for s, v in report.pulled.items()
    )
    written = ", ".join(f"{k} {v}" for k, v in sorted(report.written.items())) or "nothing"
    delivered = "".join(
        f"; {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        for name, counts in report.delivered.items()
        if counts
    )
    click.echo(
        f"{report.connection}: {report.status} in {report.seconds:.1f}s — "
        f"pulled {pulled or 'nothing'}; wrote {written}{delivered}"
    )
    for err in report.errors:
        click.echo(f"  ! {err}")
    if report.status == "needs_reauth":
        click.echo(f"  {fix_credentials_hint(connection, config_path)}")


@click.command("sync")
@CONFIG_OPTION
@click.option(
    "--once", is_flag=True, help="Accepted for older scripts: sync always runs one cycle and exits."
)
@connection_option()
@click.option("--dry-run", is_flag=True, help="Pull and decide; write nothing back, send nothing.")
@click.option(
    "--full-rules",
    is_flag=True,
    help="Dunning and cash application decide on the whole book this cycle, not only on what "
    "changed since their last run (after data were corrected in the store, or to check).",
)
@click.pass_context
def sync_command(
    ctx: click.Context,
    config_path: str,
    once: bool,
    names: tuple[str, ...],
    dry_run: bool,
    full_rules: bool,
) -> None:
    """Run one cycle for each connection (pull, decide, write back), then exit; `arbridge run` keeps going."""
    deployment = load_deployment(config_path)
    logging_from(ctx, deployment)
    store = open_store(deployment)
    registry = discover()
    worst = 0
    with progress(sys.stderr.isatty()) as bars:
        for conn in selected_connections(deployment, names):
            shown = CycleProgress(bars, conn.name) if bars is not None else None
            report = sync_connection(
                deployment,
                conn,
                store,
                registry=registry,
                on_page=shown.on_page if shown else None,
                on_progress=shown.on_progress if shown else None,
                dry_run=dry_run,
                full_rules=full_rules,
            )
            if shown:
                shown.finish()
            print_report(report, conn, config_path)
            if report.status not in ("ok", "partial"):
                worst = 1
    store.close()
    sys.exit(worst)
