"""``arbridge sandbox business-central``: serve a local Business Central until Ctrl-C."""

from __future__ import annotations

import threading
from datetime import timedelta

import click

from cli.options import DURATION
from sandboxes.business_central.server import BusinessCentralSandbox


@click.command(name="business-central")
@click.option("--port", type=int, default=8485, show_default=True, help="TCP port (0 picks a free one).")
@click.option(
    "--seed",
    type=click.Choice(["demo", "empty", "large"]),
    default="demo",
    show_default=True,
    help="The company's data: a small demo business, nothing, or --invoices generated invoices.",
)
@click.option("--invoices", type=int, default=None, help="Invoices to generate (large seed; demo count).")
@click.option("--no-throttle", is_flag=True, help="Do not enforce BC's 6,000 requests per 5 minutes.")
@click.option(
    "--notification-delay",
    type=DURATION,
    default="30s",
    show_default=True,
    help="How long changes are collected before webhook notifications go out, e.g. 30s.",
)
@click.option(
    "--windows-user",
    "windows_users",
    multiple=True,
    metavar="DOMAIN\\USER:PASSWORD",
    help="Also accept this Windows account over NTLM on the on-premises layout (repeatable).",
)
def command(
    port: int,
    seed: str,
    invoices: int | None,
    no_throttle: bool,
    notification_delay: timedelta,
    windows_users: tuple[str, ...],
) -> None:
    """Serve a Business Central sandbox (BC online and on-premises URL layouts) and print how to connect."""
    accounts = {}
    for given in windows_users:
        name, sep, password = given.partition(":")
        if not sep or "\\" not in name or not password:
            raise click.BadParameter(
                f"{given!r}: expected DOMAIN\\USER:PASSWORD", param_hint="--windows-user"
            )
        accounts[name] = password
    sandbox = BusinessCentralSandbox(
        port=port,
        seed=seed,
        invoices=invoices,
        throttle=not no_throttle,
        notification_delay=notification_delay.total_seconds(),
        windows_users=accounts or None,
    )
    sandbox.start()
    click.echo(f"Business Central sandbox ({seed} seed) at {sandbox.base_url}")
    click.echo(f"  company:            {sandbox.company.name} ({sandbox.company.id})")
    click.echo("  BC online layout (Entra ID client credentials; msal needs HTTPS in front of it):")
    click.echo(f"    API root:         {sandbox.api_url}")
    click.echo(f"    authority:        {sandbox.authority}")
    click.echo(f"    token URL:        {sandbox.token_url}")
    click.echo(f"    client id:        {sandbox.client_id}")
    click.echo(f"    client secret:    {sandbox.client_secret}")
    click.echo("  on-premises layout (web-service access key):")
    click.echo(f"    API root:         {sandbox.onprem_api_url}")
    click.echo(f"    user:             {sandbox.web_service_user}")
    click.echo(f"    access key:       {sandbox.web_service_key}")
    for name in accounts:
        click.echo(f"    Windows (NTLM):   {name} (on_premises_auth: windows)")
    click.echo("Press Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        sandbox.stop()
