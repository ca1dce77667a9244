"""``arbridge sandbox sap-s4hana``: serve a local SAP S/4HANA until Ctrl-C."""

from __future__ import annotations

import threading

import click

from sandboxes.sap_s4hana.seed import SEEDS
from sandboxes.sap_s4hana.server import SPIKE_ARREST_PER_SECOND, S4Sandbox


@click.command(name="sap-s4hana")
@click.option("--port", type=int, default=8090, show_default=True, help="TCP port (0 picks a free one).")
@click.option(
    "--seed", type=click.Choice(SEEDS), default="demo", show_default=True, help="Data set to start with."
)
@click.option(
    "--invoices", type=int, default=None, help="Invoices to generate (default: 36 demo, 5,000 large)."
)
@click.option("--specs", type=click.Path(file_okay=False), default=None, help="The vendor specs folder.")
@click.option(
    "--clearing-every",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds between runs of automatic clearing (0: never).",
)
@click.option(
    "--spike-arrest",
    type=click.IntRange(min=1),
    default=SPIKE_ARREST_PER_SECOND,
    show_default=True,
    help="Requests a second per caller before API management answers 429.",
)
@click.option("--no-throttle", is_flag=True, help="Never answer 429 (for benchmarks).")
def command(
    port: int,
    seed: str,
    invoices: int | None,
    specs: str | None,
    clearing_every: float,
    spike_arrest: int,
    no_throttle: bool,
) -> None:
    """Serve an SAP S/4HANA sandbox (OData V2 and the journal-entry SOAP service)."""
    try:
        sandbox = S4Sandbox(
            port=port,
            seed=seed,
            invoices=invoices,
            specs=specs,
            spike_arrest=None if no_throttle else spike_arrest,
        )
    except FileNotFoundError as exc:
        raise click.UsageError(str(exc)) from None
    sandbox.start()
    user, password = next(iter(sandbox.users.items()))
    client, secret = next(iter(sandbox.clients.items()))
    click.echo(f"SAP S/4HANA sandbox ({seed} seed) at {sandbox.base_url}")
    click.echo(f"  base_url:        {sandbox.base_url}")
    click.echo(f"  company codes:   {', '.join(sandbox.book.company_codes)}")
    click.echo(f"  basic auth:      {user} / {password}")
    click.echo(f"  OAuth token URL: {sandbox.token_url}  ({client} / {secret})")
    click.echo(f"  journal entry:   {sandbox.soap_url}  (WSDL: ?wsdl)")
    throttle = "off" if no_throttle else f"{spike_arrest} requests a second per caller (429 beyond)"
    click.echo(f"  spike arrest:    {throttle}")
    click.echo("Press Ctrl-C to stop.")
    stop = threading.Event()
    try:
        while not stop.wait(clearing_every if clearing_every > 0 else 3600):
            if clearing_every > 0:
                run = sandbox.run_automatic_clearing()
                if run.documents:
                    click.echo(f"automatic clearing: {len(run.documents)} clearing document(s)")
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        sandbox.stop()
