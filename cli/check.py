"""``arbridge check``: validate the configuration, then ask each connection's ERP."""

from __future__ import annotations

import sys

import click

from cli.options import CONFIG_OPTION, load_deployment, logging_from
from engine.runner import make_connector, open_store

__all__ = ["check_command"]


@click.command("check")
@CONFIG_OPTION
@click.pass_context
def check_command(ctx: click.Context, config_path: str) -> None:
    """Validate the configuration and run each connection's check()."""
    deployment = load_deployment(config_path)
    logging_from(ctx, deployment)
    store = open_store(deployment)
    failed = 0
    for conn in deployment.connections:
        try:
            connector = make_connector(conn, store)
            with connector:
                result = connector.check()
        except Exception as exc:  # report every connection, whatever breaks
            click.echo(f"FAIL {conn.name}: {type(exc).__name__}: {exc}")
            failed += 1
            continue
        click.echo(f"{'ok  ' if result.ok else 'FAIL'} {conn.name}: {result.message}")
        failed += 0 if result.ok else 1
    from cli.dunning import channel_warnings

    for warning in [*getattr(deployment, "warnings", []), *channel_warnings(deployment)]:
        click.echo(f"warning: {warning}")
    click.echo(f"store: {deployment.store.redacted_url} ({'reachable' if store.ping() else 'UNREACHABLE'})")
    store.close()
    sys.exit(1 if failed else 0)
