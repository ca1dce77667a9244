"""``arbridge check``: validate the configuration, then ask each connection's ERP.

Besides the connections' own checks it warns about every rule that is enabled but cannot act (or
cannot act fully): dunning without a channel, cash application with nothing to match, a statement
inbox that does not exist. Warnings do not change the exit code.
"""

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
from mapping.models import Stream
from store import StateStore

__all__ = ["check_command", "rule_warnings"]


def rule_warnings(deployment: Any) -> list[str]:
    """Every rule that is enabled but cannot act, in words an admin can act on."""
    from cli.dunning import channel_warnings

    out = list(channel_warnings(deployment))
    cashapp = deployment.rules.cashapp
    if not cashapp.enabled:
        return out
    connections = [c for c in deployment.connections if getattr(c, "enabled", True)]
    statements = cashapp.statements
    if statements is None and not any(Stream.PAYMENTS in (c.streams or ()) for c in connections):
        out.append(
            "rules.cashapp: enabled, but no enabled connection reads payments and no statement inbox is "
            "configured (rules.cashapp.statements.inbox): there is nothing to apply"
        )
    if statements is not None and not statements.inbox.is_dir():
        out.append(
            f"rules.cashapp.statements.inbox: {statements.inbox} does not exist: no bank statement is "
            "imported until it does"
        )
    if not any(getattr(getattr(c, "write_back", None), "enabled", False) for c in connections):
        out.append(
            "rules.cashapp: no connection has write_back enabled: matches are decided, but never applied in "
            "the ERP"
        )
    return out


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
            with store.transaction() as tx:
                store.clear_needs_reauth(conn.name, conn=tx)
                store.audit("reauthorized", connection=conn.name, detail={"by": "arbridge check"}, conn=tx)
            resumed = " (the ERP accepts the credentials again: syncing resumes)"
        click.echo(f"ok   {conn.name}: {result.message}{resumed}")
        return True
    click.echo(f"FAIL {conn.name}: {result.message}")
    if (result.details or {}).get("kind") == "auth":
        with store.transaction() as tx:
            if store.set_needs_reauth(conn.name, result.message, conn=tx):
                store.audit(
                    "needs_reauth",
                    connection=conn.name,
                    detail={"reason": result.message, "by": "arbridge check"},
                    conn=tx,
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
    if not names:
        for conn in deployment.connections:
            if not getattr(conn, "enabled", True):
                click.echo(f"skip {conn.name}: disabled (its settings are checked when it is enabled)")
    failed = sum(not _check_one(conn, store, config_path) for conn in selected_connections(deployment, names))
    from cli.dunning import dunning_notes

    for warning in [*getattr(deployment, "warnings", []), *rule_warnings(deployment)]:
        click.echo(f"warning: {warning}")
    for note in dunning_notes(deployment):
        click.echo(f"note: {note}")
    click.echo(f"store: {deployment.store.redacted_url} ({'reachable' if store.ping() else 'UNREACHABLE'})")
    store.close()
    sys.exit(1 if failed else 0)
