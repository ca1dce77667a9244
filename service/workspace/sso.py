"""Single sign-on to the workspace with an OpenID Connect provider (``server.sso``; Entra ID, Keycloak).

Authlib's Flask client does the protocol: the provider's settings from its discovery document, the
authorization code flow with PKCE (S256), ``state`` and ``nonce`` kept in the session and checked,
the ID token's signature checked against the provider's JWKS, and its issuer, audience (this
client), expiry and nonce checked (``CLAIMS``). What is ours: which claim names the user, which of
its groups or app roles grant a workspace role (``role_for``), and the session that follows, which
is a password user's session in all but where the role comes from (``service.workspace.auth``).

The provider sends the browser back from another site, and the session cookie is ``SameSite=Strict``:
that first request arrives without it. ``/sso/callback`` therefore answers with a page that at once
reloads ``/sso/return`` with the same query from this site, which the browser sends the cookie to.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, cast

from flask import Flask, abort, current_app, redirect, render_template, request, session, url_for

from service.workspace.auth import role_for, start_sso_session
from service.workspace.pages import _safe_next, _ws, blueprint

__all__ = ["CLIENT", "register"]

CLIENT = "arbridge.sso"
# Seconds a clock may be off between the provider and this server when checking expiry.
LEEWAY_S = 60
HTTP_TIMEOUT_S = 10
log = logging.getLogger("arbridge.workspace")


def register(app: Flask, sso: Any) -> None:
    """Make ``app``'s OpenID Connect client for the provider of ``sso`` (a ``config.model.SsoConfig``).

    The client secret leaves its ``SecretStr`` only here, into the client that sends it to the
    provider's token endpoint.
    """
    from authlib.integrations.flask_client import OAuth

    oauth = OAuth(app)
    client = oauth.register(
        "sso",
        client_id=sso.client_id,
        client_secret=sso.client_secret.get_secret_value(),
        server_metadata_url=f"{sso.issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": " ".join(sso.scopes),
            "code_challenge_method": "S256",
            "default_timeout": HTTP_TIMEOUT_S,
        },
    )
    app.extensions[CLIENT] = client


def _sso() -> Any:
    sso = getattr(getattr(_ws().deployment, "server", None), "sso", None)
    if sso is None or CLIENT not in current_app.extensions:
        abort(404, description="single sign-on is not set up on this server (server.sso)")
    return sso


def claims_options(sso: Any) -> dict[str, Any]:
    """What the ID token must say: issued by the configured issuer, for this client, with an expiry."""
    return {
        "iss": {"essential": True, "values": [sso.issuer]},
        "aud": {"essential": True, "values": [sso.client_id]},
        "exp": {"essential": True},
    }


@blueprint.get("/sso/login")
def sso_login() -> Any:
    from requests import RequestException

    sso = _sso()
    session["sso_next"] = _safe_next(request.args.get("next"))
    redirect_uri = sso.redirect_uri or url_for("workspace.sso_callback", _external=True)
    try:
        return current_app.extensions[CLIENT].authorize_redirect(redirect_uri)
    except (RequestException, ValueError) as exc:
        log.warning("the single sign-on provider %s could not be reached: %s", sso.issuer, exc)
        return render_template(
            "login.html", next=session.get("sso_next", ""), user=None, sso=sso,
            error="The single sign-on provider cannot be reached just now: try again in a moment.",
        ), HTTPStatus.SERVICE_UNAVAILABLE  # fmt: skip


@blueprint.get("/sso/callback")
def sso_callback() -> Any:
    _sso()
    query = request.query_string.decode()
    again = url_for("workspace.sso_return") + (f"?{query}" if query else "")
    return render_template("sso_return.html", again=again, user=None)


def _refused(why: str, message: str, status: HTTPStatus, name: str = "") -> tuple[str, int]:
    address = request.remote_addr or "unknown"
    _ws().store.audit(
        "workspace_login_refused" if status == HTTPStatus.FORBIDDEN else "workspace_login_failed",
        subject=f"user/{name[:100]}",
        detail={"address": address, "why": why, "via": "sso"},
    )
    return render_template("login.html", next="", user=None, error=message, sso=_sso()), status


@blueprint.get("/sso/return")
def sso_return() -> Any:
    from authlib.integrations.base_client import OAuthError
    from joserfc.errors import JoseError
    from requests import RequestException

    sso = _sso()
    client = current_app.extensions[CLIENT]
    if request.args.get("error"):
        # The person cancelled, or the provider would not sign them in for this application.
        said = request.args.get("error_description") or request.args["error"]
        return _refused(
            f"the provider answered {request.args['error']}"[:300],
            f"The single sign-on provider did not sign you in: {said[:300]}",
            HTTPStatus.UNAUTHORIZED,
        )
    try:
        metadata = client.load_server_metadata()
        if metadata.get("issuer", "").rstrip("/") != sso.issuer:
            # The discovery document must name the issuer it was read from (OpenID Connect Discovery § 4.3).
            return _refused(
                "the discovery document names another issuer",
                "The single sign-on provider is not the one configured: ask an admin to check server.sso.",
                HTTPStatus.UNAUTHORIZED,
            )
        token = client.authorize_access_token(claims_options=claims_options(sso), leeway=LEEWAY_S)
    except (OAuthError, JoseError, KeyError, ValueError, RequestException) as exc:
        return _refused(
            f"{type(exc).__name__}: {exc}"[:300],
            "Single sign-on failed: the provider's answer could not be verified. "
            "Try again from the login page.",
            HTTPStatus.UNAUTHORIZED,
        )
    claims = cast(Mapping[str, Any] | None, token.get("userinfo"))
    if not claims:
        return _refused(
            "no ID token", "Single sign-on failed: the provider sent no ID token.", HTTPStatus.UNAUTHORIZED
        )
    name = str(claims.get(sso.username_claim) or "").strip()[:100]
    if not name:
        return _refused(
            f"no {sso.username_claim} claim",
            f"Single sign-on failed: the provider did not say who you are (claim {sso.username_claim}).",
            HTTPStatus.UNAUTHORIZED,
        )
    grants = granting_values(claims, sso)
    role = role_for(grants, sso.roles)
    if role is None:
        return _refused(
            "no role",
            f"You are signed in as {name}, but none of your groups or roles gives access to the AR "
            "workspace. Ask an admin to add you to one of the workspace's groups.",
            HTTPStatus.FORBIDDEN,
            name,
        )
    next_page = _safe_next(session.get("sso_next"))
    start_sso_session(name, grants)
    address = request.remote_addr or "unknown"
    _ws().store.audit(
        "workspace_login",
        subject=f"user/{name}",
        detail={"by": name, "address": address, "via": "sso", "role": role},
    )
    return redirect(next_page)


def claim_values(claims: Mapping[str, Any], path: str) -> list[str]:
    """The values of a claim, by name or dotted path (Keycloak's ``realm_access.roles``)."""
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def granting_values(claims: Mapping[str, Any], sso: Any) -> list[str]:
    """The user's claim values that the configuration maps to a role, in the configuration's order."""
    held = set(claim_values(claims, sso.roles_claim))
    return [value for value in sso.roles if value in held]
