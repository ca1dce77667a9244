"""HTTP to SAP S/4HANA: one session for OData (pyodata) and SOAP (zeep), CSRF, auth, SAP's errors.

``SapSession`` is the SDK's ``RestSession`` (limited, TLS as configured, secrets masked) that
also keeps SAP Gateway's CSRF protocol: before the first change it fetches ``X-CSRF-Token`` with
the session's cookies, sends the token with every change, and when SAP answers 403 "CSRF token
validation failed" (the security session expired or a cookie was lost) it fetches once more and
sends the request once more. pyodata and zeep both take this session, so every call of either
goes through the limiter and the CSRF handling.

SAP publishes no request limit; in the cloud, API management refuses a caller that sends faster
than the rate the customer set (429, a Spike Arrest fault, usually without ``Retry-After``). Such
a refusal passes within a second, so the session sends the request again a few times, waiting
0.5, 1 and 2 seconds (jittered); a refusal that outlasts them, or that asks for a longer wait,
goes to the engine as a ``ThrottledError``. A refused request never reached the system, so
sending it again, a change included, does nothing twice.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter

from connectors.errors import (
    AuthError,
    BadRecordError,
    ConflictError,
    ConnectorError,
    PermanentError,
    ThrottledError,
    TransientError,
    parse_retry_after,
)
from connectors.http import classify_transport_error
from connectors.limits import RateLimiter
from connectors.rest import RestSession

__all__ = [
    "SCENARIOS",
    "ClientCredentials",
    "SapSession",
    "classify_response",
    "csrf_failed",
    "sap_message",
]

log = logging.getLogger("arbridge.connectors.sap_s4hana")
# pyodata warns about every SAP annotation it does not model (hundreds per service); they say
# nothing about the data.
logging.getLogger("pyodata.model").setLevel(logging.ERROR)

_MODIFYING = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})
#: Sends of a request API management refused (429) before the refusal goes to the engine.
THROTTLED_SENDS = 4
#: The first wait after a refusal without Retry-After, doubled each time (jittered to half).
THROTTLE_WAIT = 0.5
#: The longest Retry-After waited out inside a call; a longer one goes to the engine at once.
THROTTLE_MAX_WAIT = 5.0
#: The communication scenario that grants each service: what an admin assigns to the
#: communication user (S/4HANA Cloud) or the role behind it (on-premise).
SCENARIOS = {
    "API_BUSINESS_PARTNER": "SAP_COM_0008 (Business Partner, Customer and Supplier Integration)",
    "API_OPLACCTGDOCITEMCUBE_SRV": "SAP_COM_0303 (Finance - Accounting Analytics Integration)",
    "journalentrycreaterequestconfi": "SAP_COM_0002 (Finance - Posting Integration)",
}


def csrf_failed(response: requests.Response) -> bool:
    """Whether a 403 is SAP Gateway refusing the CSRF token (rather than an authorization)."""
    if response.status_code != 403:
        return False
    if response.headers.get("x-csrf-token", "").lower() == "required":
        return True
    return "csrf token" in (response.text or "").lower()


class ClientCredentials(requests.auth.AuthBase):
    """OAuth 2.0 client credentials: a bearer token fetched from the token URL and renewed before it ends."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, *, timeout: float = 30.0) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.timeout = timeout
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self.session: requests.Session | None = None

    def __repr__(self) -> str:
        return (
            f"<ClientCredentials token_url={self.token_url!r} client_id={self.client_id!r} secret=[secure]>"
        )

    def token(self, *, renew: bool = False) -> str:
        with self._lock:
            if renew or self._token is None or time.monotonic() > self._expires - 60:
                session = self.session or requests.Session()
                try:
                    resp = session.post(
                        self.token_url,
                        data={"grant_type": "client_credentials"},
                        auth=(self.client_id, self._secret),
                        timeout=self.timeout,
                    )
                except requests.RequestException as exc:
                    raise classify_transport_error(exc, "OAuth token request") from None
                if resp.status_code in (400, 401, 403):
                    raise AuthError(
                        f"the OAuth token URL refused the client credentials (HTTP {resp.status_code})",
                        erp_code="invalid_client",
                    )
                if resp.status_code >= 300:
                    raise TransientError(f"OAuth token request failed (HTTP {resp.status_code})")
                data = resp.json()
                self._token = str(data["access_token"])
                self._expires = time.monotonic() + float(data.get("expires_in") or 3600)
            return self._token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request


class SapSession(RestSession):
    """The one session of a connection: limiter, TLS, masked secrets, and SAP Gateway's CSRF protocol.

    Args:
        csrf_url: a GET-able OData URL of the system (a service root) to fetch tokens from.
        verify, limiter, secrets, transport: as for ``RestSession``.
        timeout: seconds per request unless a caller passes its own.
    """

    def __init__(
        self,
        csrf_url: str,
        verify: bool | str = True,
        *,
        limiter: RateLimiter | None = None,
        secrets: Iterable[str] = (),
        transport: BaseAdapter | None = None,
        timeout: float = 60.0,
    ) -> None:
        super().__init__(verify, limiter=limiter, secrets=secrets, transport=transport)
        self.csrf_url = csrf_url
        self.timeout = timeout
        self.csrf_token: str | None = None
        self.csrf_fetches = 0
        self._csrf_lock = threading.Lock()
        self.sleep: Callable[[float], None] = time.sleep
        self.throttled = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send once, and again after a short wait while API management refuses it (429)."""
        attempt = 1
        while True:
            response = super().send(request, **kwargs)
            if response.status_code != 429 or attempt == THROTTLED_SENDS:
                return response
            announced = parse_retry_after(response.headers.get("Retry-After"))
            if announced is not None and announced > THROTTLE_MAX_WAIT:
                return response
            wait = announced if announced is not None else THROTTLE_WAIT * 2 ** (attempt - 1)
            wait *= 1.0 if announced is not None else random.uniform(0.5, 1.0)
            log.debug(
                "SAP refused %s %s (429); sending again in %.2fs",
                request.method,
                _path(request.url or ""),
                wait,
            )
            response.close()
            self.throttled += 1
            self.sleep(wait)
            attempt += 1

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        verb = (method.decode() if isinstance(method, bytes) else method).upper()
        target = url.decode() if isinstance(url, bytes) else url
        kwargs.setdefault("timeout", self.timeout)
        if verb not in _MODIFYING or not _is_odata(target):
            return super().request(verb, target, *args, **kwargs)
        token = self.csrf_token or self.fetch_csrf_token()
        response = super().request(verb, target, *args, **_with_token(kwargs, token))
        if csrf_failed(response):
            # The token or the session it belongs to expired: fetch once more, send once more.
            log.info("SAP refused the CSRF token of %s %s; fetching a new one", verb, _path(target))
            token = self.fetch_csrf_token(stale=token)
            response = super().request(verb, target, *args, **_with_token(kwargs, token))
        return response

    def fetch_csrf_token(self, *, stale: str | None = None) -> str:
        """Fetch a token with the session's cookies (kept with it); ``stale`` is the one just refused."""
        with self._csrf_lock:
            if self.csrf_token is not None and self.csrf_token != stale:
                return self.csrf_token  # another thread fetched one meanwhile
            if stale is not None:
                # A refused token may come from a session SAP ended: start with fresh cookies.
                self.cookies.clear()
            self.csrf_fetches += 1
            response = super().request("HEAD", self.csrf_url, headers={"X-CSRF-Token": "Fetch"})
            token = response.headers.get("x-csrf-token")
            if response.status_code >= 400 or not token or token.lower() == "required":
                error = classify_response(response, "CSRF token fetch")
                raise error or TransientError("SAP answered the CSRF token fetch without a token")
            self.csrf_token = token
            return token


def _with_token(kwargs: dict[str, Any], token: str) -> dict[str, Any]:
    headers = dict(kwargs.get("headers") or {})
    headers["X-CSRF-Token"] = token
    return {**kwargs, "headers": headers}


def _is_odata(url: str) -> bool:
    return "/sap/opu/odata/" in url


def _path(url: str) -> str:
    return urlsplit(url).path


def service_of(url: str) -> str:
    """The service a URL belongs to (``API_BUSINESS_PARTNER``, ``journalentrycreaterequestconfi``)."""
    parts = [p for p in _path(url).split("/") if p]
    if "odata" in parts and len(parts) > parts.index("odata") + 2:
        return parts[parts.index("odata") + 2]
    return parts[-1] if parts else ""


def sap_message(response: requests.Response) -> tuple[str | None, str]:
    """SAP's error code and message from a JSON error body (``{"error": {"code", "message"}}``)."""
    try:
        data = response.json()
    except ValueError:
        return None, " ".join((response.text or "").split())[:300]
    fault = data.get("fault") if isinstance(data, dict) else None
    if isinstance(fault, dict):
        # API management's policy fault (Spike Arrest, Quota): {"fault": {"faultstring", "detail"}}.
        detail = fault.get("detail")
        code = detail.get("errorcode") if isinstance(detail, dict) else None
        return (str(code) if code else None), str(fault.get("faultstring") or "")[:300]
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, " ".join((response.text or "").split())[:300]
    message = error.get("message")
    value = message.get("value") if isinstance(message, dict) else message
    return (str(error.get("code")) if error.get("code") else None), str(value or "")[:300]


def classify_response(response: requests.Response, what: str) -> ConnectorError | None:
    """Sort an SAP answer into an error family (None for success).

    A 403 that is not about the CSRF token means the communication user lacks the service's
    authorization: the error names the communication scenario to assign.
    """
    status = response.status_code
    if status < 300:
        return None
    code, message = sap_message(response)
    text = f"{what}: HTTP {status}" + (f": {message}" if message else "")
    if status == 401:
        return AuthError(f"{what}: SAP refused the credentials (HTTP 401)", erp_code=code)
    if status == 403:
        if csrf_failed(response):
            return TransientError(f"{what}: CSRF token validation failed twice", erp_code="CSRF")
        service = service_of(response.url or "")
        scenario = SCENARIOS.get(service)
        hint = (
            f"; the communication user lacks {service}: assign communication scenario {scenario}"
            if scenario
            else ""
        )
        return PermanentError(f"permission denied: {text}{hint}", erp_code=code)
    if status in (409, 412):
        return ConflictError(text, erp_code=code)
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429:
        return ThrottledError(text, retry_after=retry_after, erp_code=code)
    if status >= 500 or status in (408, 425):
        return TransientError(text, retry_after=retry_after, erp_code=code)
    return BadRecordError(text, erp_code=code)


def guarded(what: str, call: Callable[[], Any]) -> Any:
    """Run a pyodata/zeep call and turn its failures into classified connector errors."""
    from pyodata.exceptions import HttpError, PyODataException

    try:
        return call()
    except HttpError as exc:
        response = getattr(exc, "response", None)
        if isinstance(response, requests.Response):
            error = classify_response(response, what)
            if error is not None:
                raise error from None
        raise TransientError(f"{what}: {exc}") from None
    except requests.RequestException as exc:
        raise classify_transport_error(exc, what) from None
    except PyODataException as exc:
        raise TransientError(f"{what}: unreadable answer: {exc}") from None
    except (ValueError, KeyError) as exc:
        # pyodata reads bodies as JSON: an HTML page from a proxy lands here.
        raise TransientError(f"{what}: unreadable answer: {type(exc).__name__}: {exc}") from None
