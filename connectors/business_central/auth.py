"""Credentials for Business Central: Entra ID client credentials through msal, or an access key.

BC online takes a bearer token for ``https://api.businesscentral.dynamics.com/.default`` from the
tenant's Entra ID, obtained with the app registration's secret or certificate; msal caches it
until it expires. An on-premises server takes a user and its web-service access key (basic), or,
when its instance is set to Windows credentials, a Windows account over NTLM (``requests-ntlm``).
"""

from __future__ import annotations

import threading
from typing import Any

import msal
import requests
from requests.auth import AuthBase, HTTPBasicAuth
from requests_ntlm import HttpNtlmAuth

from connectors.errors import AuthError, PermanentError, TransientError

SCOPE = "https://api.businesscentral.dynamics.com/.default"

__all__ = ["SCOPE", "EntraAuth", "basic_auth", "windows_auth"]


class EntraAuth(AuthBase):
    """Adds a bearer token from Entra ID (client credentials) to each request.

    Args:
        authority: ``https://login.microsoftonline.com/{tenant}`` (or a private authority host).
        client_id: the app registration's id.
        credential: the client secret, or msal's certificate dict (``private_key``, ``thumbprint``).
        http_client: the session msal talks to Entra ID with (TLS settings of the connection).
        validate_authority: False for an authority host msal does not know (a sovereign cloud,
            a local test authority); msal then skips instance discovery.
    """

    def __init__(
        self,
        authority: str,
        client_id: str,
        credential: str | dict[str, str],
        http_client: requests.Session,
        *,
        validate_authority: bool = True,
    ) -> None:
        self.authority = authority
        self.client_id = client_id
        self._credential = credential
        self._http = http_client
        self._validate = validate_authority
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<EntraAuth authority={self.authority!r} client_id={self.client_id!r} credential=[secure]>"

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            try:
                self._app = msal.ConfidentialClientApplication(
                    self.client_id,
                    client_credential=self._credential,
                    authority=self.authority,
                    http_client=self._http,
                    validate_authority=self._validate,
                    instance_discovery=None if self._validate else False,
                )
            except ValueError as exc:
                # msal checks the authority while it builds the application.
                raise PermanentError(f"Entra ID authority {self.authority} unusable: {exc}") from None
            except requests.RequestException as exc:
                raise TransientError(f"Entra ID unreachable: {type(exc).__name__}") from None
        return self._app

    def token(self, *, fresh: bool = False) -> str:
        """An access token (msal's cached one while it is valid; ``fresh`` drops the cache first)."""
        with self._lock:
            app = self._application()
            if fresh:
                app.token_cache = msal.TokenCache()
            try:
                result: dict[str, Any] = app.acquire_token_for_client(scopes=[SCOPE])
            except requests.RequestException as exc:
                raise TransientError(f"Entra ID unreachable: {type(exc).__name__}") from None
        if "access_token" in result:
            return str(result["access_token"])
        error = str(result.get("error") or "unknown_error")
        description = str(result.get("error_description") or "").split("\r\n")[0]
        if error in ("temporarily_unavailable", "server_error"):
            raise TransientError(f"Entra ID: {error}: {description}")
        raise AuthError(f"Entra ID refused the app's credentials: {error}: {description}", erp_code=error)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request


def basic_auth(user: str, key: str) -> HTTPBasicAuth:
    """On-premises: the BC user and its web-service access key."""
    return HTTPBasicAuth(user, key)


def windows_auth(user: str, password: str) -> HttpNtlmAuth:
    """On-premises with Windows credentials: ``DOMAIN\\user`` and its password, over NTLM.

    NTLM authenticates a connection; the session's pooled connections keep it between calls.
    """
    return HttpNtlmAuth(user, password)
