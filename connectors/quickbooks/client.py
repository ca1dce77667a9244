"""HTTP client for the QuickBooks Online v3 API: auth, limits, minorversion, fault classification.

Every call goes through :meth:`QuickBooksClient.request`, which

* takes a slot from the company's limiter (``connectors.limits``: a token bucket under 500
  requests/minute and 10 requests in flight, shared by every client of the company in the process),
* adds ``minorversion`` and a fresh bearer token (refreshing once on a 401),
* turns Intuit ``Fault`` bodies — JSON or XML, whatever was asked for — into classified errors,
* waits and retries a throttled call a bounded number of times, then raises ``ThrottledError``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import requests

from connectors.errors import (
    AuthError,
    BadRecordError,
    ConflictError,
    ConnectorError,
    PermanentError,
    ThrottledError,
    TransientError,
    classify_http,
    parse_retry_after,
)
from connectors.http import classify_transport_error
from connectors.limits import RateLimiter, shared_limiter
from connectors.quickbooks.auth import TokenManager
from connectors.quickbooks.wire import looks_like_xml, xml_to_dict

log = logging.getLogger("arbridge.connectors.quickbooks")

REQUESTS_PER_MINUTE = 500
MAX_CONCURRENT = 10
# Intuit also counts 10 requests a second per company and app: a bucket of one request refilling
# at 499 a minute sends at most 9 in any second and 500 in any minute.
PACED_BURST = 1
# Intuit's advice after a 429 is "wait 60 seconds".
THROTTLE_WAIT_S = 60.0

# Fault codes (Intuit's error-code reference): 3001 throttle, 5010 stale object, 3100/3200
# authorization, 610 object not found, 6000-range business validation, 10000 system failure.
_THROTTLE_CODES = {"3001", "003001"}
_STALE_CODES = {"5010"}
_AUTH_CODES = {"100", "3100", "3200", "3202"}


def company_budget_key(base_url: str, realm_id: str) -> str:
    """The request budget Intuit keeps per company: every connection to one realm spends it."""
    return f"quickbooks:{base_url.rstrip('/')}|{realm_id}"


def parse_body(text: str) -> dict[str, Any]:
    """Decode a QuickBooks body, JSON or XML, into Intuit's JSON shape (money as ``Decimal``)."""
    if not text.strip():
        return {}
    if looks_like_xml(text):
        return xml_to_dict(text)
    data = json.loads(text, parse_float=Decimal)
    return data if isinstance(data, dict) else {"items": data}


def fault_errors(fault: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``Error`` entries of a ``Fault`` (a list in JSON, possibly a single dict elsewhere)."""
    errors = fault.get("Error") or []
    if isinstance(errors, Mapping):
        errors = [errors]
    return [dict(e) for e in errors if isinstance(e, Mapping)]


def classify_fault(
    fault: Mapping[str, Any], status: int | None = None, headers: Mapping[str, str] | None = None
) -> ConnectorError:
    """Sort an Intuit ``Fault`` into an error family.

    The fault's own code wins over the HTTP status: Intuit has sent throttling as 403 and as 429,
    and batch items carry faults inside a 200.
    """
    errors = fault_errors(fault)
    first = errors[0] if errors else {}
    code = str(first.get("code") or "").strip()
    message = str(first.get("Message") or "").strip()
    detail = str(first.get("Detail") or "").strip()
    element = str(first.get("element") or "").strip()
    ftype = str(fault.get("type") or "")
    text = (
        "; ".join(p for p in (message, detail, f"element {element}" if element else "") if p)
        or ftype
        or "fault"
    )
    retry_after = parse_retry_after((headers or {}).get("Retry-After") or (headers or {}).get("retry-after"))
    if code in _THROTTLE_CODES or "ThrottleExceeded" in message or status == 429:
        return ThrottledError(text, retry_after=retry_after or THROTTLE_WAIT_S, erp_code=code or "3001")
    if code in _STALE_CODES or "Stale Object" in message:
        return ConflictError(text, erp_code=code)
    if code in _AUTH_CODES or ftype == "AUTHENTICATION" or status == 401:
        return AuthError(text, erp_code=code)
    if ftype == "AuthorizationFault" or status == 403:
        return PermanentError(f"permission denied: {text}", erp_code=code)
    if ftype == "SystemFault" or (status is not None and status >= 500):
        return TransientError(text, retry_after=retry_after, erp_code=code)
    if ftype in ("ValidationFault", "ValidationFaultException") or code == "610" or code.startswith("6"):
        return BadRecordError(text, erp_code=code)
    if status is not None:
        err = classify_http(status, headers, text, erp_code=code or None)
        if err is not None:
            return err
    return BadRecordError(text, erp_code=code or None)


_SECRET_PARAM = re.compile(r"(access_token|refresh_token|code)=[^&\s]+")


class QuickBooksClient:
    """One company's v3 API.

    Args:
        base_url: ``https://quickbooks.api.intuit.com`` (or the sandbox's).
        realm_id: the company id.
        tokens: hands out access tokens.
        minor_version: sent on every call.
        session: the HTTP session (injectable).
        limiter: the company's rate limiter (defaults to the process-wide one for the realm).
        timeout: seconds per call (Intuit cuts requests at 120 s).
        verify: TLS verification (``True``, ``False`` or a CA bundle path).
        throttle_retries: how many times a throttled call is retried here before the error goes up.
        max_throttle_wait: the longest wait made here; a throttle asking for longer (Intuit's
            usual minute) goes to the engine at once, with its ``retry_after``.
        sleep: how to wait between throttle retries (injectable).
    """

    def __init__(
        self,
        base_url: str,
        realm_id: str,
        tokens: TokenManager,
        *,
        minor_version: int = 75,
        session: requests.Session | None = None,
        limiter: RateLimiter | None = None,
        timeout: float = 60.0,
        verify: bool | str = True,
        throttle_retries: int = 2,
        max_throttle_wait: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.realm_id = realm_id
        self.tokens = tokens
        self.minor_version = minor_version
        self.session = session or requests.Session()
        self.limiter = limiter or shared_limiter(
            company_budget_key(self.base_url, realm_id),
            REQUESTS_PER_MINUTE,
            MAX_CONCURRENT,
            burst=PACED_BURST,
        )
        self.timeout = timeout
        self.verify = verify
        self.throttle_retries = throttle_retries
        self.max_throttle_wait = max_throttle_wait
        self._sleep = sleep
        self.calls = 0

    def __repr__(self) -> str:
        return (
            f"<QuickBooksClient base_url={self.base_url!r} realm_id={self.realm_id!r} Authorization=[secure]>"
        )

    def url(self, path: str) -> str:
        """The absolute URL of a company-relative path such as ``query`` or ``invoice/12``."""
        return f"{self.base_url}/v3/company/{self.realm_id}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        text_body: str | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """Send one API call and return its decoded body.

        Raises:
            ThrottledError: still throttled after the allowed retries.
            AuthError: credentials rejected even after a refresh.
            ConflictError, BadRecordError, PermanentError, TransientError: as Intuit's fault says.
        """
        query = dict(params or {})
        query["minorversion"] = str(self.minor_version)
        if body is not None:
            data: str | None = json.dumps(body, default=_json_default, separators=(",", ":"))
        else:
            data = text_body
        attempt = 0
        refreshed = False
        while True:
            token = self.tokens.access_token()
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = content_type
            try:
                with self.limiter:
                    self.calls += 1
                    resp = self.session.request(
                        method,
                        self.url(path),
                        params=query,
                        data=data.encode("utf-8") if data is not None else None,
                        headers=headers,
                        timeout=self.timeout,
                        verify=self.verify,
                    )
            except requests.RequestException as exc:
                raise classify_transport_error(exc, f"{method} {path}") from None
            try:
                return self._decode(resp)
            except AuthError:
                if refreshed or resp.status_code != 401:
                    raise
                # The access token may have been revoked early; one refresh, then give up.
                refreshed = True
                self.tokens.access_token(force_refresh=True)
            except ThrottledError as exc:
                attempt += 1
                wait = exc.retry_after or THROTTLE_WAIT_S
                # A long wait is the engine's to make: it can be interrupted, a wait in here cannot.
                if attempt > self.throttle_retries or wait > self.max_throttle_wait:
                    raise
                log.warning(
                    "QuickBooks throttled %s %s; waiting %.0fs (attempt %d)", method, path, wait, attempt
                )
                self._sleep(wait)

    def _decode(self, resp: requests.Response) -> dict[str, Any]:
        text = resp.text or ""
        headers = dict(resp.headers)
        if resp.status_code < 300 and _is_html(headers, text):
            # A proxy or gateway page: read as XML it would look like an empty answer, and an
            # empty page ends a stream early without a word.
            raise TransientError(
                f"unreadable answer (HTTP {resp.status_code}): an HTML page instead of JSON or XML "
                "(a proxy or gateway in between?)"
            )
        try:
            data = parse_body(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("Fault"), Mapping):
            raise classify_fault(data["Fault"], resp.status_code, headers)
        if isinstance(data, dict) and "fault" in data and isinstance(data["fault"], Mapping):
            # The gateway (before the API) answers auth failures with a lower-case "fault".
            raise classify_fault(
                {"Error": data["fault"].get("error") or [], "type": data["fault"].get("type")},
                resp.status_code,
                headers,
            )
        err = classify_http(resp.status_code, headers, _SECRET_PARAM.sub(r"\1=[secure]", text))
        if err is not None:
            if isinstance(err, ThrottledError) and err.retry_after is None:
                err.retry_after = THROTTLE_WAIT_S
            raise err
        if data is None:
            raise TransientError(f"unreadable answer (HTTP {resp.status_code}): {text[:200]!r}")
        return data

    # -- endpoints -------------------------------------------------------------------------------

    def query(self, statement: str) -> dict[str, Any]:
        """Run a query statement; returns the ``QueryResponse`` object."""
        data = self.request("POST", "query", text_body=statement, content_type="application/text")
        qr = data.get("QueryResponse")
        return dict(qr) if isinstance(qr, Mapping) else {}

    def get(self, entity: str, remote_id: str) -> dict[str, Any] | None:
        """Read one entity by id; None when Intuit says it does not exist."""
        try:
            data = self.request("GET", f"{entity.lower()}/{remote_id}")
        except BadRecordError as exc:
            if exc.erp_code == "610" or "not found" in exc.message.lower():
                return None
            raise
        found = data.get(entity)
        return dict(found) if isinstance(found, Mapping) else None

    def cdc(
        self, entities: list[str], changed_since: str
    ) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
        """Change data capture: every object of ``entities`` changed since ``changed_since``.

        Returns:
            The objects per entity name, and the server time of the answer (when it said).
        """
        data = self.request(
            "GET", "cdc", params={"entities": ",".join(entities), "changedSince": changed_since}
        )
        out: dict[str, list[dict[str, Any]]] = {e: [] for e in entities}
        blocks = data.get("CDCResponse") or []
        if isinstance(blocks, Mapping):
            blocks = [blocks]
        for block in blocks:
            responses = block.get("QueryResponse") if isinstance(block, Mapping) else None
            if isinstance(responses, Mapping):
                responses = [responses]
            for qr in responses or []:
                if not isinstance(qr, Mapping):
                    continue
                for key, value in qr.items():
                    if key in out:
                        items = value if isinstance(value, list) else [value]
                        out[key].extend(dict(v) for v in items if isinstance(v, Mapping))
        time_ = data.get("time")
        return out, (str(time_) if time_ else None)

    def batch(self, items: list[dict[str, Any]], request_id: str) -> dict[str, dict[str, Any]]:
        """Send one batch request; returns each ``BatchItemResponse`` by its ``bId``."""
        data = self.request(
            "POST", "batch", params={"requestid": request_id}, body={"BatchItemRequest": items}
        )
        answers = data.get("BatchItemResponse") or []
        if isinstance(answers, Mapping):
            answers = [answers]
        return {str(a.get("bId")): dict(a) for a in answers if isinstance(a, Mapping)}


def _is_html(headers: Mapping[str, str], text: str) -> bool:
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    start = text.lstrip()[:15].lower()
    return "html" in content_type.lower() or start.startswith(("<!doctype html", "<html"))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # JSON numbers; Decimal keeps cents exact up to here.
        return float(value) if value != value.to_integral_value() else int(value)
    raise TypeError(f"cannot encode {type(value).__name__}")
