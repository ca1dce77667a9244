"""The Service Layer session: ``POST /Login``, both cookies kept, a new login when the session timed out.

The Service Layer answers a login with two cookies, ``B1SESSION`` (the session) and ``ROUTEID``
(the load balancer's stickiness); every later request must carry both (SAP's guide, 3.1.1). The
``requests`` session's cookie jar keeps them. A session ends after ``SessionTimeout`` idle minutes
(30 by default); the next call then gets 401 with code 301, and this client logs in once more and
repeats that call (the Service Layer refused it before acting on it). A refused login is an
``AuthError``: never retried here.
"""

from __future__ import annotations

import threading
from typing import Any

import requests

from connectors.errors import AuthError, ConnectorError, ThrottledError
from connectors.odata import ODataClient

__all__ = ["SESSION_EXPIRED", "ServiceLayer"]

#: The Service Layer's code for "Invalid session or session already timeout." (SAP's guide, p. 15).
SESSION_EXPIRED = "301"


class ServiceLayer(ODataClient):
    """An OData v4 client of one Service Layer that owns its login session.

    Args:
        company_db, username, password: what ``POST /Login`` takes.
        kwargs: as for ``RestClient`` (base URL = the ``/b1s/v2`` root, session, backoff …).
    """

    def __init__(
        self,
        base_url: str,
        session: requests.Session,
        *,
        company_db: str,
        username: str,
        password: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url, session, **kwargs)
        self._login_body = {"CompanyDB": company_db, "UserName": username, "Password": password}
        self._lock = threading.Lock()
        self.session_id: str | None = None
        self.session_timeout: int | None = None
        self.version: str | None = None
        self.logins = 0

    def __repr__(self) -> str:
        return f"<ServiceLayer base_url={self.base_url!r} Password=[secure]>"

    def classify(self, response: requests.Response) -> ConnectorError | None:
        error = super().classify(response)
        # A Service Layer node (or its balancer) too busy to take the call, asking to come back:
        # that is back-pressure, waited out like a 429.
        if response.status_code == 503 and error is not None and error.retry_after is not None:
            return ThrottledError(error.message, retry_after=error.retry_after, erp_code=error.erp_code)
        return error

    def login(self) -> None:
        """Open a session (the cookies land in the session's jar)."""
        with self._lock:
            self.session.cookies.clear()
            response = super().request("POST", "Login", json=self._login_body, idempotent=True)
            try:
                data = response.json()
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise AuthError(f"{self.what}: the login answer is no session (HTTP {response.status_code})")
            self.logins += 1
            self.session_id = str(data.get("SessionId") or "") or None
            timeout = data.get("SessionTimeout")
            self.session_timeout = int(timeout) if isinstance(timeout, int | float) else None
            self.version = str(data.get("Version")) if data.get("Version") is not None else None

    def logout(self) -> None:
        """End the session, so it does not hold a licence until it times out."""
        if self.session_id is None:
            return
        try:
            super().request("POST", "Logout", idempotent=True)
        except ConnectorError:
            pass  # the session ends by timeout anyway
        finally:
            self.session_id = None
            self.session.cookies.clear()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if self.session_id is None:
            self.login()
        try:
            return super().request(method, path, **kwargs)
        except AuthError as exc:
            if exc.erp_code != SESSION_EXPIRED:
                raise
        self.login()  # the session timed out or was ended: one new login, then the call once more
        return super().request(method, path, **kwargs)

    def entity(self, path: str) -> dict[str, Any] | None:
        """One entity by its URL, or None when the Service Layer says it does not exist (404)."""
        response = self.request("GET", path, accept=[404])
        if response.status_code == 404:
            return None
        data = response.json()
        return data if isinstance(data, dict) else None
