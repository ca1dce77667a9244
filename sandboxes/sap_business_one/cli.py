"""``arbridge sandbox sap-business-one``: serve a local SAP Business One Service Layer until Ctrl-C."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING

import click

from cli.options import DURATION
from sandboxes.sap_business_one.server import ServiceLayerSandbox
from sandboxes.specs import SpecsNotFound

if TYPE_CHECKING:
    from sandboxes.sap_business_one.database import B1Database


@click.command(name="sap-business-one")
@click.option("--port", type=int, default=50000, show_default=True, help="TCP port (0 picks a free one).")
@click.option(
    "--seed",
    type=click.Choice(["demo", "empty", "large"]),
    default="demo",
    show_default=True,
    help="The company's data: a small demo business, nothing, or --invoices generated invoices.",
)
@click.option("--invoices", type=int, default=None, help="Invoices to generate (large seed).")
@click.option(
    "--no-throttle", is_flag=True, help="Do not answer like a loaded Service Layer (503 beyond 16 at once)."
)
@click.option(
    "--session-timeout",
    type=DURATION,
    default="30m",
    show_default=True,
    help="How long a session lives idle, e.g. 30m.",
)
@click.option("--specs", type=click.Path(file_okay=False), default=None, help="The vendor specs folder.")
@click.option(
    "--database",
    "database_url",
    default=None,
    help="Also lay B1's tables out in this PostgreSQL database (postgresql://user@host:port/db), "
    "kept up to date with every write, for the fast read over ODBC.",
)
@click.option("--schema", default="dbo", show_default=True, help="B1's schema (with --database).")
def command(
    port: int,
    seed: str,
    invoices: int | None,
    no_throttle: bool,
    session_timeout: timedelta,
    specs: str | None,
    database_url: str | None,
    schema: str,
) -> None:
    """Serve an SAP Business One Service Layer sandbox and print how to connect."""
    try:
        sandbox = ServiceLayerSandbox(
            port=port,
            seed=seed,
            invoices=invoices,
            throttle=not no_throttle,
            session_timeout=session_timeout.total_seconds() / 60,
            specs=specs,
        )
    except SpecsNotFound as exc:
        raise click.UsageError(str(exc)) from None
    tables = _tables(sandbox, database_url, schema, specs) if database_url else None
    sandbox.start()
    click.echo(f"SAP Business One Service Layer sandbox ({seed} seed) at {sandbox.service_root}")
    click.echo(f"  company database:   {sandbox.company_db}")
    click.echo(f"  user:               {sandbox.user}")
    click.echo(f"  password:           {sandbox.password}")
    click.echo(f"  session timeout:    {session_timeout.total_seconds() / 60:g} minutes")
    if tables is not None:
        login = tables.create_login()
        click.echo("B1's tables for the fast read (read_via: odbc), kept up to date with every write:")
        click.echo("  odbc:")
        click.echo(f'    connection_string: "{tables.connection_string(user=login)}"')
        click.echo(f"    schema: {tables.schema}")
    click.echo("Press Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        sandbox.stop()
        if tables is not None:
            tables.drop()
            tables.close()


def _tables(sandbox: ServiceLayerSandbox, url: str, schema: str, specs: str | None) -> B1Database:
    """B1's tables in PostgreSQL, filled from the sandbox's company and refreshed after each write."""
    # Imported here: pyodbc needs unixODBC, which only this option needs.
    import pyodbc

    from sandboxes.sap_business_one.database import B1Database

    try:
        tables = B1Database.from_url(url, schema=schema, specs=specs)
        tables.create(sandbox.company)
    except (ValueError, pyodbc.Error, RuntimeError) as exc:
        raise click.UsageError(f"--database {url}: {exc}") from None
    sandbox.on_change = lambda: tables.load(sandbox.company)
    return tables
