"""``arbridge check``: validate the configuration, then ask each connection's ERP.

Besides the connections' own checks it warns about every rule that is enabled but cannot act (or
cannot act fully): dunning without a channel, cash application with nothing to match, a statement
inbox that does not exist. Warnings do not change the exit code.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from cli.options import CONFIG_OPTION, load_deployment, logging_from
from engine.runner import make_connector, open_store
from mapping.models import Stream

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
        if not getattr(conn, "enabled", True):
            click.echo(f"skip {conn.name}: disabled (its settings are checked when it is enabled)")
            continue
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
    from cli.dunning import dunning_notes

    for warning in [*getattr(deployment, "warnings", []), *rule_warnings(deployment)]:
        click.echo(f"warning: {warning}")
    for note in dunning_notes(deployment):
        click.echo(f"note: {note}")
    click.echo(f"store: {deployment.store.redacted_url} ({'reachable' if store.ping() else 'UNREACHABLE'})")
    store.close()
    sys.exit(1 if failed else 0)
