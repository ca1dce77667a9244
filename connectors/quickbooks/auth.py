"""OAuth 2.0 for QuickBooks Online: consent URL, code exchange, and rotating refresh tokens.

Intuit rotates the refresh token: a refresh may answer with a new one and the old one then stops
working soon after. The only safe order is *persist, then use*: every new refresh token is written
to the connection's durable state before the access token that came with it is handed out, so a
crash at any point leaves a valid refresh token in the store. Tokens never appear in logs, reprs
or exception messages.

An expired or revoked refresh token (``invalid_grant``) puts the connection in "needs re-auth":
the flag is stored, one warning is logged, and every later call fails fast with ``AuthError``
without contacting Intuit again until an admin re-authorizes (``arbridge auth quickbooks``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import requests

from connectors.base import KeyValueStore
from connectors.errors import AuthError, TransientError, classify_http
from connectors.http import classify_transport_error

AUTH_URL = "https://appcenter.intuit.com/connect/oauth2"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
SCOPE = "com.intuit.quickbooks.accounting"

#: State-store keys (per connection).
TOKENS_KEY = "quickbooks.tokens"
REAUTH_KEY = "quickbooks.needs_reauth"
BOOTSTRAP_KEY = "quickbooks.bootstrap_fingerprint"

# Refresh this long before Intuit's stated expiry, so a request never starts with a token that
# dies in flight.
EXPIRY_MARGIN_S = 300.0

log = logging.getLogger("arbridge.connectors.quickbooks.auth")


def consent_url(
    client_id: str, redirect_uri: str, state: str, *, auth_url: str = AUTH_URL, scope: str = SCOPE
) -> str:
    """The URL an admin opens to grant arbridge access to one QuickBooks company.

    Args:
        client_id: the app's OAuth client id.
        redirect_uri: a redirect URI registered for the app in the Intuit developer portal.
        state: an unguessable value echoed back on the redirect (checked against CSRF).
        auth_url: Intuit's authorization endpoint.
        scope: the OAuth scope; accounting access is all arbridge needs.
    """
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "scope": scope,
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{auth_url}?{query}"


def new_state() -> str:
    """A fresh CSRF ``state`` value for the consent URL."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class RedirectResult:
    """What Intuit put on the redirect URL after consent."""

    code: str
    realm_id: str | None
    state: str | None


def parse_redirect(url_or_code: str) -> RedirectResult:
    """Accept either the full redirect URL an admin pasted or the bare authorization code.

    Raises:
        AuthError: the redirect carries an ``error`` (consent refused) or no code.
    """
    text = url_or_code.strip()
    if "://" not in text and "?" not in text:
        return RedirectResult(code=text, realm_id=None, state=None)
    query = parse_qs(urlparse(text).query)
    if "error" in query:
        raise AuthError(f"Intuit refused the authorization: {query['error'][0]}")
    if "code" not in query:
        raise AuthError("the redirect URL has no 'code' parameter; paste the full URL Intuit redirected to")
    return RedirectResult(
        code=query["code"][0],
        realm_id=next(iter(query.get("realmId") or []), None),
        state=next(iter(query.get("state") or []), None),
    )


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class TokenManager:
    """Hands out valid access tokens and keeps the rotating refresh token safe.

    Thread-safe within one process. Several processes sharing one connection's state store each
    re-read the stored refresh token before giving up on ``invalid_grant``, so a token rotated by
    a sibling process is picked up instead of flagging the connection for re-auth.

    Args:
        state: the connection's durable key-value store.
        client_id: OAuth client id.
        client_secret: OAuth client secret (plain text only inside this object).
        token_url: Intuit's token endpoint.
        bootstrap_refresh_token: a refresh token from the settings, adopted only when the connection
            never held one (``arbridge auth quickbooks --refresh-token`` adopts one later).
        session: the HTTP session (injectable for tests).
        clock: wall-clock seconds (injectable for tests).
        timeout: seconds for the token call.
        verify: TLS verification (``True``, ``False`` or a CA bundle path).
    """

    def __init__(
        self,
        state: KeyValueStore,
        *,
        client_id: str,
        client_secret: str,
        token_url: str = TOKEN_URL,
        bootstrap_refresh_token: str | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = 30.0,
        verify: bool | str = True,
    ) -> None:
        self._state = state
        self._client_id = client_id
        self._client_secret = client_secret
        self._token_url = token_url
        self._session = session or requests.Session()
        self._clock = clock
        self._timeout = timeout
        self._verify = verify
        self._lock = threading.Lock()
        self.refresh_calls = 0
        if bootstrap_refresh_token:
            self._adopt_bootstrap(bootstrap_refresh_token)

    def __repr__(self) -> str:
        return f"<TokenManager token_url={self._token_url!r} client_id=[secure]>"

    # -- stored state ----------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        raw = self._state.get(TOKENS_KEY)
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, Any]) -> None:
        self._state.put(TOKENS_KEY, json.dumps(data, sort_keys=True))

    def _adopt_bootstrap(self, token: str) -> None:
        # A settings token only starts a connection that never had one. Once the store has held a
        # token (rotated, or put there by `arbridge auth quickbooks`) or the connection needs
        # re-authorization, a settings value is never adopted on its own: a placeholder or a stale
        # copy would replace a working token. `arbridge auth quickbooks --refresh-token` adopts one.
        if self._state.get(BOOTSTRAP_KEY) or self._load().get("refresh_token") or self.needs_reauth:
            return
        self.store_refresh_token(token)
        self._state.put(BOOTSTRAP_KEY, _fingerprint(token))

    def store_refresh_token(self, refresh_token: str, *, refresh_expires_in: float | None = None) -> None:
        """Persist a refresh token obtained out of band (bootstrap) and clear any re-auth flag."""
        data = {"refresh_token": refresh_token}
        if refresh_expires_in is not None:
            data["refresh_expires_at"] = str(self._clock() + float(refresh_expires_in))
        self._save(data)
        self._state.put(REAUTH_KEY, "")

    @property
    def needs_reauth(self) -> str | None:
        """The reason the connection needs an admin to re-authorize, or None."""
        return self._state.get(REAUTH_KEY) or None

    @property
    def has_refresh_token(self) -> bool:
        """Whether the store holds a refresh token at all."""
        return bool(self._load().get("refresh_token"))

    # -- tokens ----------------------------------------------------------------------------------

    def access_token(self, *, force_refresh: bool = False) -> str:
        """A valid access token, refreshing (and persisting the rotated refresh token) if needed.

        Raises:
            AuthError: no refresh token, or Intuit rejected it; the connection needs re-auth.
            TransientError: the token endpoint is unreachable or failing; try again later.
        """
        reason = self.needs_reauth
        if reason:
            raise AuthError(f"QuickBooks connection needs re-authorization ({reason})")
        with self._lock:
            data = self._load()
            token = data.get("access_token")
            expires_at = float(data.get("access_expires_at") or 0)
            if token and not force_refresh and self._clock() < expires_at - EXPIRY_MARGIN_S:
                return str(token)
            return self._refresh(data)

    def _refresh(self, data: dict[str, Any]) -> str:
        refresh_token = data.get("refresh_token")
        if not refresh_token:
            self._flag_reauth("no refresh token stored")
        answer = self._token_request({"grant_type": "refresh_token", "refresh_token": str(refresh_token)})
        if answer is None:
            # invalid_grant: a sibling process may have rotated the token a moment ago.
            latest = self._load().get("refresh_token")
            if latest and latest != refresh_token:
                answer = self._token_request({"grant_type": "refresh_token", "refresh_token": str(latest)})
            if answer is None:
                self._flag_reauth("the refresh token was rejected (expired or revoked)")
        assert answer is not None
        return self._accept(answer, fallback_refresh=str(refresh_token))

    def exchange_code(self, code: str, redirect_uri: str) -> None:
        """Trade an authorization code for tokens and persist them.

        Raises:
            AuthError: Intuit rejected the code (expired, reused, wrong redirect URI).
        """
        with self._lock:
            answer = self._token_request(
                {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
            )
            if answer is None:
                raise AuthError(
                    "Intuit rejected the authorization code (it is single-use and expires in minutes)"
                )
            self._accept(answer, fallback_refresh=None)

    def _accept(self, answer: dict[str, Any], *, fallback_refresh: str | None) -> str:
        access = answer.get("access_token")
        refresh = answer.get("refresh_token") or fallback_refresh
        if not access or not refresh:
            raise TransientError("the token endpoint answered without an access or refresh token")
        now = self._clock()
        data = {
            "refresh_token": refresh,
            "access_token": access,
            "access_expires_at": str(now + float(answer.get("expires_in") or 3600)),
        }
        if answer.get("x_refresh_token_expires_in") is not None:
            data["refresh_expires_at"] = str(now + float(answer["x_refresh_token_expires_in"]))
        # Persist first: only after the store holds the new refresh token may anything use it.
        self._save(data)
        self._state.put(REAUTH_KEY, "")
        return str(access)

    def _token_request(self, form: dict[str, str]) -> dict[str, Any] | None:
        """POST to the token endpoint; None means ``invalid_grant`` (the grant itself is dead)."""
        self.refresh_calls += 1
        try:
            resp = self._session.post(
                self._token_url,
                data=form,
                auth=(self._client_id, self._client_secret),
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                verify=self._verify,
            )
        except requests.RequestException as exc:
            raise classify_transport_error(exc, "QuickBooks token endpoint") from None
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code == 200 and isinstance(body, dict):
            return body
        error = body.get("error") if isinstance(body, dict) else None
        if error == "invalid_grant":
            return None
        if error in ("invalid_client", "unauthorized_client"):
            self._flag_reauth(f"Intuit rejected the client credentials ({error})")
        # The body is not echoed: token endpoint errors may quote the grant we sent.
        err = classify_http(resp.status_code, dict(resp.headers), "", erp_code=error)
        if err is None or isinstance(err, AuthError):
            raise TransientError(
                f"token endpoint answered HTTP {resp.status_code} ({error or 'no error code'})"
            )
        raise err

    def _flag_reauth(self, reason: str) -> None:
        first = not self.needs_reauth
        self._state.put(REAUTH_KEY, reason)
        if first:
            # A warning: the engine raises the one alert, when it pauses the connection.
            log.warning(
                "QuickBooks connection needs re-authorization: %s. Run 'arbridge auth quickbooks -c FILE "
                "--connection NAME'.",
                reason,
            )
        # The command to run is named by whoever knows the configuration file and the connection
        # (arbridge status, check, sync).
        raise AuthError(f"QuickBooks connection needs re-authorization ({reason})")
