"""``arbridge sandbox netsuite``: run the SuiteTalk sandbox in the foreground."""

from __future__ import annotations

from datetime import timedelta

import click

from cli.options import DURATION
from sandboxes.netsuite.seed import SEEDS
from sandboxes.netsuite.server import DEFAULT_CREDENTIALS, NetSuiteSandbox


@click.command(name="netsuite")
@click.option(
    "--port", type=int, default=8089, show_default=True, help="TCP port on 127.0.0.1 (0 picks one)."
)
@click.option(
    "--seed", type=click.Choice(SEEDS), default="demo", show_default=True, help="Data set to start with."
)
@click.option(
    "--account", default="TSTDRV1234567", show_default=True, help="Account id the tokenPassport names."
)
@click.option(
    "--concurrency-limit",
    type=int,
    default=5,
    show_default=True,
    help="Requests in flight before ExceededConcurrentRequestLimitFault.",
)
@click.option(
    "--latency", type=DURATION, default="0s", show_default=True, help="How long each request takes, e.g. 1s."
)
def command(port: int, seed: str, account: str, concurrency_limit: int, latency: timedelta) -> None:
    """Serve a local NetSuite SuiteTalk SOAP endpoint with TBA credentials for development."""
    sandbox = NetSuiteSandbox(
        port=port,
        seed=seed,
        account=account,
        concurrency_limit=concurrency_limit,
        latency=latency.total_seconds(),
    )
    click.echo(f"NetSuite sandbox ({seed}) at {sandbox.url}")
    click.echo(f"  WSDL:            {sandbox.wsdl_url}")
    click.echo(f"  account:         {account}")
    for name, value in DEFAULT_CREDENTIALS.items():
        click.echo(f"  {name + ':':<16} {value}")
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
