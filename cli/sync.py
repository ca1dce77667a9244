"""``arbridge sync``: one cycle per connection (pull, decide, write back), then exit."""

from __future__ import annotations

import sys

import click

from cli.options import CONFIG_OPTION, load_deployment, logging_from, selected_connections
from cli.progress import page_callback, progress
from connectors.registry import discover
from engine.runner import open_store, sync_connection
from engine.sync import CycleReport

__all__ = ["print_report", "sync_command"]


def print_report(report: CycleReport) -> None:
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


@click.command("sync")
@CONFIG_OPTION
@click.option("--once", is_flag=True, required=True, help="Run one cycle per connection and exit.")
@click.option("--connection", "names", multiple=True, help="Only this connection (repeatable).")
@click.option("--dry-run", is_flag=True, help="Pull and decide; write nothing back, send nothing.")
@click.pass_context
def sync_command(
    ctx: click.Context, config_path: str, once: bool, names: tuple[str, ...], dry_run: bool
) -> None:
    """Run one sync cycle for each connection: pull, decide, write back."""
    deployment = load_deployment(config_path)
    logging_from(ctx, deployment)
    store = open_store(deployment)
    registry = discover()
    worst = 0
    with progress(sys.stderr.isatty()) as bars:
        for conn in selected_connections(deployment, names):
            report = sync_connection(
                deployment,
                conn,
                store,
                registry=registry,
                on_page=page_callback(bars, conn.name),
                dry_run=dry_run,
            )
            print_report(report)
            if report.status not in ("ok", "partial"):
                worst = 1
    store.close()
    sys.exit(worst)
