"""``arbridge sandbox sap-business-one``: serve a local SAP Business One Service Layer until Ctrl-C."""

from __future__ import annotations

import threading

import click

from sandboxes.sap_business_one.server import ServiceLayerSandbox
from sandboxes.specs import SpecsNotFound


@click.command(name="sap-business-one")
@click.option("--port", type=int, default=50000, show_default=True, help="TCP port (0 picks a free one).")
@click.option("--seed", type=click.Choice(["demo", "empty", "large"]), default="demo", show_default=True)
@click.option("--invoices", type=int, default=None, help="Invoices to generate (large seed).")
@click.option(
    "--no-throttle", is_flag=True, help="Do not answer like a loaded Service Layer (503 beyond 16 at once)."
)
@click.option(
    "--session-timeout", type=float, default=30, show_default=True, help="Minutes a session lives idle."
)
@click.option("--specs", type=click.Path(file_okay=False), default=None, help="The vendor specs folder.")
def command(
    port: int, seed: str, invoices: int | None, no_throttle: bool, session_timeout: float, specs: str | None
) -> None:
    """Serve an SAP Business One Service Layer sandbox and print how to connect."""
    try:
        sandbox = ServiceLayerSandbox(
            port=port,
            seed=seed,
            invoices=invoices,
            throttle=not no_throttle,
            session_timeout=session_timeout,
            specs=specs,
        )
    except SpecsNotFound as exc:
        raise click.UsageError(str(exc)) from None
    sandbox.start()
    click.echo(f"SAP Business One Service Layer sandbox ({seed} seed) at {sandbox.service_root}")
    click.echo(f"  company database:   {sandbox.company_db}")
    click.echo(f"  user:               {sandbox.user}")
    click.echo(f"  password:           {sandbox.password}")
    click.echo(f"  session timeout:    {session_timeout:g} minutes")
    click.echo("Press Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        sandbox.stop()
