"""``arbridge auth quickbooks``: authorize a QuickBooks connection once.

Two ways in:

* the consent flow: the command prints Intuit's consent URL, the admin approves in a browser and
  pastes back the URL Intuit redirected to (or just its ``code``); the tokens are exchanged and
  stored;
* an existing refresh token (``--refresh-token``, e.g. from the OAuth playground or the
  connection's ``refresh_token`` setting, read from ``$ARBRIDGE_QBO_REFRESH_TOKEN``, the setting or
  a prompt, never from the command line): it is refreshed once to prove it works, and the rotated
  token is stored.

Tokens go to the connection's state store and are never printed. The host registers this command
and passes, in ``ctx.obj``, ``state_for(connection) -> KeyValueStore`` and optionally
``settings_for(connection) -> Mapping`` (the connection's settings with secrets resolved).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import click
import requests
from pydantic import SecretStr

from connectors.base import KeyValueStore
from connectors.errors import ConnectorError
from connectors.quickbooks.auth import (
    AUTH_URL,
    TOKEN_URL,
    TokenManager,
    consent_url,
    new_state,
    parse_redirect,
)


def _secret(value: Any) -> str | None:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return None if value is None else str(value)


def _host(ctx: click.Context, connection: str) -> tuple[KeyValueStore, Mapping[str, Any]]:
    obj = ctx.obj if isinstance(ctx.obj, Mapping) else {}
    state_for: Callable[[str], KeyValueStore] | None = obj.get("state_for")
    if state_for is None:
        raise click.UsageError("no state store available: run this through 'arbridge auth quickbooks'")
    settings_for: Callable[[str], Mapping[str, Any]] | None = obj.get("settings_for")
    settings = dict(settings_for(connection)) if settings_for else {}
    return state_for(connection), settings


@click.command("quickbooks")
@click.option(
    "--connection",
    "connections",
    required=True,
    multiple=True,
    help="Name of the QuickBooks connection in the configuration (repeatable: one consent each).",
)
@click.option("--client-id", help="OAuth client id (default: the connection's client_id).")
@click.option("--redirect-uri", help="Redirect URI registered for the app (default: the connection's).")
@click.option(
    "--refresh-token",
    "adopt",
    is_flag=True,
    help="Adopt an existing refresh token (from the OAuth playground, or the connection's refresh_token "
    "setting) instead of the consent flow. It is read from $ARBRIDGE_QBO_REFRESH_TOKEN, else the "
    "setting, else asked for without echo; never from the command line.",
)
@click.option("--redirect-url", "redirect", help="The URL Intuit redirected to after consent, or its code.")
@click.pass_context
def auth_command(
    ctx: click.Context,
    connections: tuple[str, ...],
    client_id: str | None,
    redirect_uri: str | None,
    adopt: bool,
    redirect: str | None,
) -> None:
    """Authorize arbridge for QuickBooks Online companies, one consent per connection.

    The client secret comes from the connection's settings (or $ARBRIDGE_QBO_CLIENT_SECRET).
    """
    if redirect and len(connections) > 1:
        raise click.UsageError("--redirect-url answers one consent: give one --connection with it")
    for connection in dict.fromkeys(connections):
        _authorize(ctx, connection, client_id, redirect_uri, adopt, redirect)


def _authorize(
    ctx: click.Context,
    connection: str,
    client_id: str | None,
    redirect_uri: str | None,
    adopt: bool,
    redirect: str | None,
) -> None:
    state, settings = _host(ctx, connection)
    client_id = client_id or _secret(settings.get("client_id"))
    client_secret = os.environ.get("ARBRIDGE_QBO_CLIENT_SECRET") or _secret(settings.get("client_secret"))
    redirect_uri = redirect_uri or _secret(settings.get("redirect_uri"))
    if not client_id or not client_secret:
        raise click.UsageError(
            "client id and client secret are needed (the connection's settings, --client-id, "
            "$ARBRIDGE_QBO_CLIENT_SECRET)"
        )
    tokens = TokenManager(
        state,
        client_id=client_id,
        client_secret=client_secret,
        token_url=_secret(settings.get("token_url")) or TOKEN_URL,
        session=requests.Session(),
    )
    try:
        if adopt:
            refresh_token = (
                os.environ.get("ARBRIDGE_QBO_REFRESH_TOKEN")
                or _secret(settings.get("refresh_token"))
                or click.prompt(f"Refresh token for {connection}", hide_input=True)
            )
            tokens.store_refresh_token(refresh_token)
            tokens.access_token(force_refresh=True)
            click.echo(f"Refresh token accepted and stored for connection {connection!r}.")
            return
        if not redirect_uri:
            raise click.UsageError(
                "a redirect URI registered for the app is needed (settings or --redirect-uri)"
            )
        csrf = new_state()
        url = consent_url(
            client_id, redirect_uri, csrf, auth_url=_secret(settings.get("auth_url")) or AUTH_URL
        )
        answer = redirect
        if not answer:
            click.echo(
                f"Connection {connection}: open this URL, sign in as a QuickBooks admin and approve:\n"
            )
            click.echo(f"  {url}\n")
            answer = click.prompt("Paste the URL your browser was redirected to (or the code)")
        result = parse_redirect(answer)
        if result.state is not None and result.state != csrf:
            raise click.ClickException("the redirect's state does not match this run; start again")
        tokens.exchange_code(result.code, redirect_uri)
    except ConnectorError as exc:
        raise click.ClickException(str(exc)) from None
    realm = result.realm_id
    configured = _secret(settings.get("realm_id"))
    click.echo(f"Authorized; tokens stored for connection {connection!r}.")
    if realm and configured and realm != configured:
        click.echo(f"Warning: you approved company {realm}, but the connection's realm_id is {configured}.")
    elif realm and not configured:
        click.echo(f"Set realm_id: {realm!r} in the connection's settings.")
