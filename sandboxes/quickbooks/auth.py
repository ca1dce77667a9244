"""Intuit's OAuth 2.0 as QuickBooks apps see it: codes, bearer tokens and rotating refresh tokens."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

ACCESS_TOKEN_TTL = timedelta(seconds=3600)
REFRESH_TOKEN_TTL = timedelta(seconds=8726400)  # Intuit's x_refresh_token_expires_in (101 days)
CODE_TTL = timedelta(minutes=5)


class OAuthError(Exception):
    """An OAuth error answer: ``{"error": code}`` with an HTTP status."""

    def __init__(self, error: str, status: int = 400, description: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.description = description

    def body(self) -> dict[str, Any]:
        """The JSON body Intuit's token endpoint answers with."""
        out: dict[str, Any] = {"error": self.error}
        if self.description:
            out["error_description"] = self.description
        return out


@dataclass
class _Refresh:
    expires: datetime
    replaced_at: datetime | None = None
    replacement: dict[str, Any] | None = None


class TokenStore:
    """Issued codes, access tokens and refresh tokens of one app (client id/secret) and one realm.

    Each refresh answers with a new refresh token. The old one keeps answering with the same new
    pair for ``grace`` (a client whose response got lost can retry), then it is ``invalid_grant``.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        clock: Callable[[], datetime],
        grace: timedelta = timedelta(seconds=60),
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self.grace = grace
        self._lock = threading.Lock()
        self._access: dict[str, datetime] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._codes: dict[str, tuple[str, datetime]] = {}
        #: Every token ever handed out, revoked or not: what must never show up in a client's output.
        self.issued_access_tokens: set[str] = set()
        self.issued_refresh_tokens: set[str] = set()

    def check_client(self, client_id: str | None, client_secret: str | None) -> None:
        """Raise ``invalid_client`` (401) unless the app's credentials match."""
        if client_id != self.client_id or client_secret != self.client_secret:
            raise OAuthError("invalid_client", 401)

    def issue_code(self, redirect_uri: str) -> str:
        """An authorization code for the consent flow, bound to its redirect URI."""
        code = "AB11" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = (redirect_uri, self.clock() + CODE_TTL)
        return code

    def _issue_pair(self) -> dict[str, Any]:
        now = self.clock()
        access = "eyJsandbox." + secrets.token_urlsafe(32)
        refresh = "AB11" + secrets.token_urlsafe(36)
        self._access[access] = now + ACCESS_TOKEN_TTL
        self._refresh[refresh] = _Refresh(expires=now + REFRESH_TOKEN_TTL)
        self.issued_access_tokens.add(access)
        self.issued_refresh_tokens.add(refresh)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": int(ACCESS_TOKEN_TTL.total_seconds()),
            "x_refresh_token_expires_in": int(REFRESH_TOKEN_TTL.total_seconds()),
            "token_type": "bearer",
        }

    def issue_refresh_token(self, value: str | None = None) -> str:
        """A fresh refresh token, as if the user had just connected the app (``value``: this one)."""
        with self._lock:
            if value is None:
                return str(self._issue_pair()["refresh_token"])
            self._refresh[value] = _Refresh(expires=self.clock() + REFRESH_TOKEN_TTL)
            self.issued_refresh_tokens.add(value)
            return value

    def revoke_access_tokens(self) -> None:
        """Revoke every access token but keep the refresh tokens: the next call gets a 401."""
        with self._lock:
            self._access.clear()

    def issue_access_token(self) -> str:
        """A valid access token (tests that do not care about the OAuth dance use this)."""
        with self._lock:
            return str(self._issue_pair()["access_token"])

    def exchange_code(self, code: str, redirect_uri: str | None) -> dict[str, Any]:
        """``grant_type=authorization_code``."""
        with self._lock:
            entry = self._codes.pop(code, None)
            if entry is None or entry[1] < self.clock():
                raise OAuthError("invalid_grant")
            if redirect_uri is not None and redirect_uri != entry[0]:
                raise OAuthError("invalid_grant", description="redirect_uri does not match")
            return self._issue_pair()

    def refresh(self, token: str) -> dict[str, Any]:
        """``grant_type=refresh_token``: rotate the refresh token."""
        with self._lock:
            now = self.clock()
            state = self._refresh.get(token)
            if state is None or state.expires < now:
                raise OAuthError("invalid_grant")
            if state.replacement is not None:
                if state.replaced_at is not None and now - state.replaced_at <= self.grace:
                    return dict(state.replacement)
                raise OAuthError("invalid_grant")
            pair = self._issue_pair()
            state.replaced_at = now
            state.replacement = pair
            return dict(pair)

    def revoke(self, token: str | None = None) -> None:
        """Revoke one token, or (``None``) every token: the user disconnected the app."""
        with self._lock:
            if token is None:
                self._access.clear()
                self._refresh.clear()
                return
            self._access.pop(token, None)
            self._refresh.pop(token, None)

    def access_status(self, token: str | None) -> str | None:
        """``None`` when the bearer token is valid, else why not (for the 401 detail)."""
        if not token:
            return "Authorization header missing"
        expires = self._access.get(token)
        if expires is None:
            return f"Token revoked or unknown: {token[:12]}"
        if expires < self.clock():
            return f"Token expired: {token[:12]}"
        return None
