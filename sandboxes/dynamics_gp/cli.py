"""``arbridge sandbox dynamics-gp``: create and seed a local GP company, print how to connect to it."""

from __future__ import annotations

import sys

import click
import pyodbc

from sandboxes.specs import SpecsNotFound

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/arbridge_gp"


@click.command(name="dynamics-gp")
@click.option(
    "--url",
    default=None,
    help=f"The PostgreSQL database holding the GP company, created when missing [default: {DEFAULT_URL}].",
)
@click.option(
    "--dsn", default=None, help="An ODBC data source of an existing PostgreSQL database instead of --url."
)
@click.option(
    "--schema", default="dbo", show_default=True, help="Schema of GP's tables and eConnect procedures."
)
@click.option(
    "--seed",
    type=click.Choice(["demo", "empty", "large"]),
    default="demo",
    show_default=True,
    help="Data set to start with.",
)
@click.option("--invoices", type=int, default=None, help="Invoices for --seed large (default 5,000).")
@click.option("--specs", type=click.Path(file_okay=False), default=None, help="The vendor specs folder.")
def command(
    url: str | None, dsn: str | None, schema: str, seed: str, invoices: int | None, specs: str | None
) -> None:
    """Create a Dynamics GP company (GP's RM tables, eConnect stand-ins) in PostgreSQL, reached over ODBC.

    Everything in the schema is dropped and created anew. The connection block printed at the end
    goes into a configuration file as it is.
    """
    from sandboxes.dynamics_gp import GpSandbox, OdbcDriverMissing

    if url and dsn:
        raise click.UsageError("give --url or --dsn, not both")
    try:
        if dsn:
            sandbox = GpSandbox(dsn=dsn, schema=schema, specs=specs)
        else:
            sandbox = GpSandbox.from_url(url or DEFAULT_URL, schema=schema, specs=specs)
        options = {"invoices": invoices} if invoices is not None else {}
        sandbox.create(seed, **options)
        login = sandbox.create_login(f"arbridge_{schema}")
    except (SpecsNotFound, OdbcDriverMissing, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    except pyodbc.Error as exc:
        click.echo(f"error: the database refused: {' '.join(str(exc).split())}", err=True)
        sys.exit(1)
    counts = {
        table: sandbox.rows(f"SELECT COUNT(*) FROM {sandbox.t(table)}")[0][0]
        for table in ("RM00101", "RM20101", "RM30101", "RM20201")
    }
    click.echo(
        f"Dynamics GP sandbox ({seed} seed) in schema {schema}: {counts['RM00101']} customers, "
        f"{counts['RM20101']} open and {counts['RM30101']} historical documents, "
        f"{counts['RM20201']} applications"
    )
    click.echo("eConnect stand-ins: taRMCashReceiptInsert, taRMApply, taUpdateCreateCustomerRcd")
    click.echo(f"SQL login for the connector: {login} (reads the tables, executes the procedures)")
    click.echo("\nPaste into the configuration file's connections:\n")
    click.echo("  - name: gp-sandbox")
    click.echo("    connector: dynamics-gp")
    click.echo("    schedule: {interval: 15m}")
    click.echo("    settings:")
    click.echo(f'      connection_string: "{sandbox.connection_string(user=login)}"')
    click.echo(f"      schema: {schema}")
    click.echo("      currencies: {Z-US$: USD}")
    click.echo("    write_back: {enabled: true}")
    sandbox.close()
