"""``arbridge sandbox netsuite``: run the SuiteTalk sandbox in the foreground.

It prints what to put in the shell and in the configuration to sync against it: the block is
pasted under ``connections:`` as it is, and ``arbridge check`` passes on it.
"""

from __future__ import annotations

import sys

import click

from sandboxes.netsuite.seed import SEEDS
from sandboxes.netsuite.server import CONCURRENCY_LIMIT, NetSuiteSandbox
from sandboxes.specs import ENV, SpecsNotFound

__all__ = ["command", "connection_block"]

CONSUMER_SECRET_ENV = "NETSUITE_SANDBOX_CONSUMER_SECRET"
TOKEN_SECRET_ENV = "NETSUITE_SANDBOX_TOKEN_SECRET"


def connection_block(sandbox: NetSuiteSandbox, name: str = "netsuite-sandbox") -> str:
    """The shell lines and the ``connections:`` entry that point arbridge at ``sandbox``."""
    return f"""\
In the shell that runs arbridge (the sandbox's own credentials, not real ones):
  export {CONSUMER_SECRET_ENV}={sandbox.consumer_secret}
  export {TOKEN_SECRET_ENV}={sandbox.token_secret}

Under `connections:` in your configuration:
  - name: {name}
    connector: netsuite
    settings:
      account: {sandbox.account}
      consumer_key: {sandbox.consumer_key}
      consumer_secret: "${{{CONSUMER_SECRET_ENV}}}"
      token_id: {sandbox.token_id}
      token_secret: "${{{TOKEN_SECRET_ENV}}}"
      wsdl_url: {sandbox.wsdl_url}
      endpoint: {sandbox.url}
"""


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
    default=CONCURRENCY_LIMIT,
    show_default=True,
    help="Requests in flight before ExceededConcurrentRequestLimitFault.",
)
@click.option("--no-throttle", is_flag=True, help="No concurrency limit (benchmarks).")
@click.option("--latency", type=float, default=0.0, show_default=True, help="Seconds each request takes.")
@click.option(
    "--specs",
    type=click.Path(file_okay=False),
    envvar=ENV,
    default=None,
    help=f"Folder of the vendors' schema files (netsuite/2023_2/netsuite.wsdl inside); default ${ENV}, "
    "else ../shared/specs beside the checkout.",
)
def command(
    port: int,
    seed: str,
    account: str,
    concurrency_limit: int,
    no_throttle: bool,
    latency: float,
    specs: str | None,
) -> None:
    """Serve a local NetSuite SuiteTalk SOAP endpoint with TBA credentials for development."""
    try:
        sandbox = NetSuiteSandbox(
            port=port,
            seed=seed,
            account=account,
            concurrency_limit=concurrency_limit,
            throttle=not no_throttle,
            latency=latency,
            specs=specs,
        )
    except SpecsNotFound as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    limits = "no concurrency limit" if no_throttle else f"{concurrency_limit} requests at once"
    click.echo(f"NetSuite SuiteTalk sandbox ({seed} seed, {limits}) at {sandbox.url}")
    click.echo("")
    click.echo(connection_block(sandbox))
    click.echo("Press Ctrl-C to stop.")
    try:
        sandbox.serve_forever()
    finally:
        sandbox.stop()
