"""``arbridge setup sap-business-one -c FILE``: create arbridge's user-defined fields in B1, idempotently.

Logs in to each SAP Business One connection of the configuration (or the one named) through the
Service Layer and creates, through ``UserFieldsMD``, the fields it writes to that are missing;
fields already there are left as they are, so running it twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import click

from connectors.base import ConnectorContext, KeyValueStore
from connectors.errors import ConnectorError
from connectors.sap_business_one.connector import SapBusinessOneConnector
from connectors.sap_business_one.fields import ensure_fields


@click.command("sap-business-one")
@click.option("--connection", default=None, help="The connection to prepare (default: every B1 connection).")
@click.pass_context
def setup_command(ctx: click.Context, connection: str | None) -> None:
    """Create the user-defined fields arbridge writes collection status, dunning level and payment keys to."""
    obj: Mapping[str, Any] = ctx.obj if isinstance(ctx.obj, Mapping) else {}
    deployment = obj.get("deployment")
    settings_for: Callable[[str], Mapping[str, Any]] | None = obj.get("settings_for")
    state_for: Callable[[str], KeyValueStore] | None = obj.get("state_for")
    if deployment is None or settings_for is None or state_for is None:
        raise click.UsageError("run this as 'arbridge setup -c FILE sap-business-one'")
    names = [c.name for c in deployment.connections if c.connector == SapBusinessOneConnector.name]
    if connection is not None:
        if connection not in names:
            raise click.UsageError(
                f"no SAP Business One connection {connection!r} (there are: {', '.join(names) or 'none'})"
            )
        names = [connection]
    if not names:
        raise click.UsageError("the configuration has no connection with connector: sap-business-one")
    failed = False
    for name in names:
        connector = SapBusinessOneConnector.create(
            dict(settings_for(name)), ConnectorContext(name, state=state_for(name))
        )
        assert isinstance(connector, SapBusinessOneConnector)
        with connector:
            try:
                created, present = ensure_fields(connector.client, connector.b1)
            except ConnectorError as exc:
                click.echo(f"{name}: {exc}", err=True)
                failed = True
                continue
        for field in created:
            click.echo(f"{name}: created {field.table}.U_{field.name} ({field.type})")
        for field in present:
            click.echo(f"{name}: {field.table}.U_{field.name} already exists")
    ctx.exit(1 if failed else 0)
