"""``arbridge sandbox quickbooks``: serve a local QuickBooks Online until Ctrl-C.

It prints what to put in the shell and in the configuration to sync against it: the block is
pasted under ``connections:`` as it is, and ``arbridge check`` passes on it.
"""

from __future__ import annotations

import sys
import threading

import click

from sandboxes.quickbooks.server import QuickBooksSandbox
from sandboxes.specs import ENV, SpecsNotFound

__all__ = ["command", "connection_block"]

SECRET_ENV = "QBO_SANDBOX_CLIENT_SECRET"
REFRESH_ENV = "QBO_SANDBOX_REFRESH_TOKEN"


def connection_block(sandbox: QuickBooksSandbox, refresh_token: str, name: str = "quickbooks-sandbox") -> str:
    """The shell lines and the ``connections:`` entry that point arbridge at ``sandbox``."""
    return f"""\
In the shell that runs arbridge (the sandbox's own credentials, not real ones):
  export {SECRET_ENV}={sandbox.client_secret}
  export {REFRESH_ENV}={refresh_token}

Under `connections:` in your configuration:
  - name: {name}
    connector: quickbooks
    settings:
      base_url: {sandbox.base_url}
      token_url: {sandbox.token_url}
      auth_url: {sandbox.authorize_url}
      realm_id: "{sandbox.realm_id}"
      client_id: {sandbox.client_id}
      client_secret: "${{{SECRET_ENV}}}"
      refresh_token: "${{{REFRESH_ENV}}}"
      collection_status_field_id: "1"
"""


@click.command(name="quickbooks")
@click.option("--port", type=int, default=8484, show_default=True, help="TCP port (0 picks a free one).")
@click.option(
    "--seed",
    type=click.Choice(["demo", "empty", "large"]),
    default="demo",
    show_default=True,
    help="The company's data: a small demo business, nothing, or --records generated invoices.",
)
@click.option("--records", type=int, default=None, help="Invoices to generate (large seed; demo count).")
@click.option(
    "--throttle",
    type=int,
    default=500,
    show_default=True,
    help="Requests per company and minute before 429 ThrottleExceeded (Intuit's limit).",
)
@click.option(
    "--no-throttle",
    is_flag=True,
    help="Answer every request: no per-minute, per-second or concurrency limit (benchmarks).",
)
@click.option("--webhook-url", default=None, help="Where to post signed change notifications.")
@click.option("--webhook-token", default=None, help="Webhook verifier token (the HMAC key).")
@click.option(
    "--webhook-format",
    type=click.Choice(["legacy", "cloudevents"]),
    default="legacy",
    show_default=True,
    help="The notification payload: Intuit's legacy eventNotifications or CloudEvents.",
)
@click.option(
    "--specs",
    type=click.Path(file_okay=False),
    envvar=ENV,
    default=None,
    help=f"Folder of the vendors' schema files (quickbooks/xsd/Finance.xsd inside); default ${ENV}, "
    "else ../shared/specs beside the checkout.",
)
def command(
    port: int,
    seed: str,
    records: int | None,
    throttle: int,
    no_throttle: bool,
    webhook_url: str | None,
    webhook_token: str | None,
    webhook_format: str,
    specs: str | None,
) -> None:
    """Serve a QuickBooks Online sandbox company and print how to connect to it."""
    try:
        sandbox = QuickBooksSandbox(
            port=port,
            seed=seed,
            records=records,
            throttle=not no_throttle,
            throttle_per_minute=throttle,
            webhook_url=webhook_url,
            webhook_verifier_token=webhook_token,
            webhook_format=webhook_format,
            specs=specs,
        )
    except SpecsNotFound as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sandbox.start()
    limits = "no throttling" if no_throttle else f"throttled at {throttle} requests/minute"
    click.echo(f"QuickBooks Online sandbox ({seed} seed, {limits}) at {sandbox.base_url}")
    click.echo("")
    click.echo(connection_block(sandbox, sandbox.issue_refresh_token()))
    click.echo("Press Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        sandbox.stop()
