"""``arbridge sandbox quickbooks``: serve a local QuickBooks Online until Ctrl-C."""

from __future__ import annotations

import os
import threading

import click

from sandboxes.quickbooks.server import QuickBooksSandbox


@click.command(name="quickbooks")
@click.option("--port", type=int, default=8484, show_default=True, help="TCP port (0 picks a free one).")
@click.option(
    "--seed",
    type=click.Choice(["demo", "empty", "large"]),
    default="demo",
    show_default=True,
    help="The company to start with: the demo's, an empty one, or a large generated one.",
)
@click.option("--records", type=int, default=None, help="Invoices to generate (large seed; demo count).")
@click.option("--throttle", type=int, default=None, help="Requests per minute before 429 ThrottleExceeded.")
@click.option("--webhook-url", default=None, help="Where to post signed change notifications.")
@click.option(
    "--webhook-token-env",
    default="ARBRIDGE_SANDBOX_WEBHOOK_TOKEN",
    show_default=True,
    metavar="VARIABLE",
    help="The environment variable holding the webhook verifier token (the HMAC key).",
)
@click.option(
    "--webhook-format",
    type=click.Choice(["legacy", "cloudevents"]),
    default="legacy",
    show_default=True,
    help="Intuit's notification body: the legacy eventNotifications or the CloudEvents one.",
)
def command(
    port: int,
    seed: str,
    records: int | None,
    throttle: int | None,
    webhook_url: str | None,
    webhook_token_env: str,
    webhook_format: str,
) -> None:
    """Serve a QuickBooks Online sandbox company and print how to connect to it."""
    sandbox = QuickBooksSandbox(
        port=port,
        seed=seed,
        records=records,
        throttle_per_minute=throttle,
        webhook_url=webhook_url,
        webhook_verifier_token=os.environ.get(webhook_token_env) or None,
        webhook_format=webhook_format,
    )
    sandbox.start()
    click.echo(f"QuickBooks sandbox ({seed} seed) at {sandbox.base_url}")
    click.echo(f"  API base URL:   {sandbox.base_url}/v3")
    click.echo(f"  realm id:       {sandbox.realm_id}")
    click.echo(f"  token URL:      {sandbox.token_url}")
    click.echo(f"  authorize URL:  {sandbox.authorize_url}")
    click.echo(f"  client id:      {sandbox.client_id}")
    click.echo(f"  client secret:  {sandbox.client_secret}")
    click.echo(f"  refresh token:  {sandbox.issue_refresh_token()}")
    click.echo("Press Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        sandbox.stop()
