"""``arbridge check``: validate the configuration, then ask each connection's ERP."""

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
from engine.runner import make_connector
from store import StateStore

__all__ = ["check_command"]


def _check_one(conn: Any, store: StateStore, config_path: str) -> bool:
    """Ask the ERP; what it says about the credentials is kept, so ``arbridge status`` says the same."""
    try:
        connector = make_connector(conn, store)
        with connector:
            result = connector.check()
    except Exception as exc:  # report every connection, whatever breaks
        click.echo(f"FAIL {conn.name}: {type(exc).__name__}: {exc}")
        return False
    if result.ok:
        resumed = ""
        if store.connection_health(conn.name).get("needs_reauth"):
            store.clear_needs_reauth(conn.name)
            store.audit("reauthorized", connection=conn.name, detail={"by": "arbridge check"})
            resumed = " (the ERP accepts the credentials again: syncing resumes)"
        click.echo(f"ok   {conn.name}: {result.message}{resumed}")
        return True
    click.echo(f"FAIL {conn.name}: {result.message}")
    if (result.details or {}).get("kind") == "auth":
        if store.set_needs_reauth(conn.name, result.message):
            store.audit(
                "needs_reauth",
                connection=conn.name,
                detail={"reason": result.message, "by": "arbridge check"},
            )
        click.echo(f"     {fix_credentials_hint(conn, config_path)}")
    return False


@click.command("check")
@CONFIG_OPTION
@connection_option("Only check this connection (repeatable); all enabled ones by default.")
@click.pass_context
def check_command(ctx: click.Context, config_path: str, names: tuple[str, ...]) -> None:
    """Validate the configuration and ask each connection's ERP whether the credentials work."""
    deployment = load_deployment(config_path)
    logging_from(ctx, deployment)
    store = open_store(deployment)
    failed = sum(not _check_one(conn, store, config_path) for conn in selected_connections(deployment, names))
    from cli.dunning import channel_warnings

    for warning in [*getattr(deployment, "warnings", []), *channel_warnings(deployment)]:
        click.echo(f"warning: {warning}")
    click.echo(f"store: {deployment.store.redacted_url} ({'reachable' if store.ping() else 'UNREACHABLE'})")
    store.close()
    sys.exit(1 if failed else 0)
