"""SuiteTalk SOAP client: zeep builds the envelopes from the account's WSDL, lxml reads the answers.

Why not netsuitesdk's ``NetSuiteClient`` end to end (see README): its type table is keyed by zeep's
positional prefixes (``ns0``, ``ns5`` …) that depend on the WSDL's import order, it has no
``CustomerPayment``, it sends ``searchPreferences`` only with ``search``, and it deserializes answers
through zeep, which rejects envelopes of other WSDL versions. This client keeps netsuitesdk's URL
conventions (``WSDL_URL_TEMPLATE``, ``DATACENTER_URL_TEMPLATE``) and its TBA signature scheme, asks
zeep for every request envelope (so requests always follow the WSDL in use), and parses responses
by local name, so any SuiteTalk version's answers read the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from lxml import etree
from netsuitesdk.internal.client import NetSuiteClient
from pydantic import SecretStr

from connectors.errors import (
    AuthError,
    BadRecordError,
    ConflictError,
    ConnectorError,
    PermanentError,
    ThrottledError,
    TransientError,
    classify_http,
)
from connectors.http import classify_transport_error
from connectors.limits import RateLimiter

log = logging.getLogger("arbridge.connector.netsuite")

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=True)

# Fault detail elements and codes that mean "the account's request governance said no".
THROTTLE_FAULTS = {
    "exceededConcurrentRequestLimitFault",
    "exceededRequestLimitFault",
    "exceededUsageLimitFault",
}
THROTTLE_CODES = {
    "WS_CONCUR_SESSION_DISALLWD",
    "WS_REQUEST_BLOCKED",
    "EXCEEDED_MAX_CONCUR_RQST",
    "SSS_REQUEST_LIMIT_EXCEEDED",
    "WS_EXCEEDED_CONCUR_USERS_ALLWD",
}
AUTH_FAULTS = {"invalidCredentialsFault", "invalidSessionFault", "invalidAccountFault", "invalidVersionFault"}
AUTH_CODES = {
    "INVALID_LOGIN_CREDENTIALS",
    "INVALID_LOGIN_ATTEMPT",
    "INVALID_LOGIN",
    "WS_LOG_IN_REQD",
    "SESSION_TIMED_OUT",
    "INVALID_ACCT",
    "LOGIN_DISABLED",
    "INVALID_ROLE",
    "ROLE_REQUIRED",
}
PERMISSION_CODES = {
    "INSUFFICIENT_PERMISSION",
    "WS_PERMISSION_REQD",
    "WS_FEATURE_REQD",
    "OI_PERMISSION_REQD",
    "INVALID_CSTM_FIELD_REF",
    "INVALID_CSTM_FIELD_RCRD_TYP",
    "UNSUPPORTED_WS_VERSION",
    "INVALID_WS_VERSION",
}
TRANSIENT_CODES = {"UNEXPECTED_ERROR", "ACCT_TEMP_UNAVAILABLE", "SEARCH_TIMED_OUT"}

# A versioned WSDL never changes, and parsing Oracle's takes a second or more: every client of the
# process shares one parse per URL. Requests never go through zeep (envelopes are built with
# ``create_message`` and sent by this client), so sharing it shares no connection.
_PARSED: dict[str, Any] = {}
_PARSED_LOCK = threading.Lock()
CONFLICT_CODES = {"RCRD_HAS_BEEN_CHANGED"}


@dataclass(frozen=True)
class Namespaces:
    """SuiteTalk's namespaces for one WSDL version: never hard-code ``2023_2``."""

    version: str

    def urn(self, name: str) -> str:
        area = {
            "relationships": "lists",
            "sales": "transactions",
            "customers": "transactions",
            "communication": "general",
        }.get(name, "platform")
        return f"urn:{name}_{self.version}.{area}.webservices.netsuite.com"

    @property
    def binding(self) -> str:
        return f"{{urn:platform_{self.version}.webservices.netsuite.com}}NetSuiteBinding"


def local(el: etree._Element) -> str:
    """An element's name without its (versioned) namespace."""
    return str(etree.QName(el).localname)


def to_python(el: etree._Element) -> Any:
    """A SuiteTalk element as plain data, whatever its namespace version.

    Leaves become strings; attributes (``internalId``, ``externalId``, ``type``) become keys;
    ``xsi:type`` becomes ``_type``; ``customFieldList`` becomes ``{scriptId: value}``; a ``…List``
    wrapper of one repeated element (``applyList``, ``recordList``) becomes a list.
    """
    children = [c for c in el if isinstance(c.tag, str)]
    attrs = {
        k if not k.startswith("{") else "_type": v
        for k, v in el.attrib.items()
        if not k.startswith("{") or k == f"{{{XSI}}}type"
    }
    if "_type" in attrs:
        attrs["_type"] = attrs["_type"].rpartition(":")[2]
    if not children:
        if attrs:
            if el.text and el.text.strip():
                attrs["_value"] = el.text
            return attrs
        return el.text
    name = local(el)
    if name == "customFieldList":
        fields: dict[str, Any] = {}
        for cf in children:
            key = cf.get("scriptId") or cf.get("internalId") or ""
            values = [to_python(v) for v in cf if isinstance(v.tag, str)]
            fields[key] = None if not values else values[0] if len(values) == 1 else values
        return fields
    names = {local(c) for c in children}
    if name.endswith("List") and len(names) == 1 and not attrs.get("_type"):
        return [to_python(c) for c in children]
    out: dict[str, Any] = dict(attrs)
    repeated: set[str] = set()
    for child in children:
        key, value = local(child), to_python(child)
        if key in out:
            if key not in repeated:
                out[key] = [out[key]]
                repeated.add(key)
            out[key].append(value)
        else:
            out[key] = value
    return out


def as_list(value: Any) -> list[Any]:
    """A repeated element as a list, whether it occurred none, one or many times."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def classify_status(code: str | None, message: str | None) -> ConnectorError:
    """Sort one record's ``statusDetail`` (inside a list response) into an error family."""
    code = code or "UNKNOWN"
    text = message or code
    if code in THROTTLE_CODES:
        return ThrottledError(text, erp_code=code)
    if code in AUTH_CODES:
        return AuthError(text, erp_code=code)
    if code in PERMISSION_CODES:
        return PermanentError(text, erp_code=code)
    if code in TRANSIENT_CODES:
        return TransientError(text, erp_code=code)
    if code in CONFLICT_CODES:
        return ConflictError(text, erp_code=code)
    return BadRecordError(text, erp_code=code)


def classify_fault(envelope: etree._Element) -> ConnectorError:
    """Sort a ``soapenv:Fault`` into an error family (the one place SOAP faults are decided)."""
    fault = envelope.find(f".//{{{SOAP_ENV}}}Fault")
    if fault is None:
        return TransientError("SOAP answer without a body or fault")
    faultcode = fault.findtext("faultcode") or ""
    faultstring = (fault.findtext("faultstring") or "").strip()
    detail = fault.find("detail")
    kind, code, message = "", "", faultstring
    if detail is not None:
        for item in detail:
            if isinstance(item.tag, str) and local(item).endswith("Fault"):
                kind = local(item)
                code = next((c.text or "" for c in item if local(c) == "code"), "")
                message = next((c.text or "" for c in item if local(c) == "message"), faultstring)
                break
    text = f"{kind or faultcode}: {message}" if message else kind or faultcode
    lowered = faultstring.lower()
    if kind in THROTTLE_FAULTS or code in THROTTLE_CODES or "concurrent request limit exceeded" in lowered:
        return ThrottledError(text, erp_code=code or kind)
    if kind in AUTH_FAULTS or code in AUTH_CODES or "invalid login attempt" in lowered:
        return AuthError(text, erp_code=code or kind)
    if kind == "insufficientPermissionFault" or code in PERMISSION_CODES:
        return PermanentError(f"permission denied: {text}", erp_code=code or kind)
    if kind in ("exceededRecordCountFault", "exceededRequestSizeFault"):
        return PermanentError(text, erp_code=code or kind)
    if code in TRANSIENT_CODES or kind == "unexpectedErrorFault":
        return TransientError(text, erp_code=code or kind)
    if faultcode.endswith("Client") or "saxexception" in lowered or "saxparseexception" in lowered:
        return PermanentError(
            f"NetSuite rejected the request envelope: {text}", erp_code=code or "INVALID_XML"
        )
    return PermanentError(text, erp_code=code or kind or None)


@dataclass(frozen=True)
class Credentials:
    """Token-Based Authentication credentials of one integration record and access token."""

    account: str
    consumer_key: str
    consumer_secret: SecretStr
    token_id: str
    token_secret: SecretStr

    def sign(self, nonce: str, timestamp: int) -> str:
        """HMAC-SHA256 over ``account&consumerKey&token&nonce&timestamp``, keyed by both secrets."""
        key = f"{self.consumer_secret.get_secret_value()}&{self.token_secret.get_secret_value()}".encode()
        base = "&".join([self.account, self.consumer_key, self.token_id, nonce, str(timestamp)]).encode()
        return base64.b64encode(hmac.new(key, base, hashlib.sha256).digest()).decode()


@dataclass
class RetryPolicy:
    """How throttled and transient calls are retried inside one logical call."""

    attempts: int = 6
    base: float = 1.0
    cap: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        # Full jitter: integrations sharing one account's limit should not retry in lockstep.
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


class SuiteTalkClient:
    """One NetSuite account over SOAP: signed requests, bounded concurrency, classified faults.

    Args:
        credentials: TBA credentials.
        wsdl_version: ``2023_2`` and the like; picks the WSDL, the endpoint and every namespace.
        wsdl_url: where the WSDL is (default: the account's own, as netsuitesdk builds it).
        endpoint: the SOAP endpoint (default: the account's data-center URL).
        session: the HTTP session (injectable: TLS settings, proxies, test transports).
        cache_dir: where the parsed WSDL is cached (a zeep SQLite cache, 30 days).
        limiter: the account's request budget (``connectors.limits``): every request takes a slot
            of it. The connector passes the SDK's limiter shared by every connection to the
            account in the process; alone, a client keeps 2 requests in flight (the account-wide
            concurrency limit is shared with every other integration, so keep it low).
        retry: retry policy for throttling and transient faults.
        sleep: the sleep function (tests pass a recorder).
        application_id: sent in the ``applicationInfo`` header when given.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        wsdl_version: str = "2023_2",
        wsdl_url: str | None = None,
        endpoint: str | None = None,
        session: requests.Session | None = None,
        cache_dir: Path | None = None,
        limiter: RateLimiter | None = None,
        timeout: float = 300.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        application_id: str | None = None,
    ) -> None:
        self.credentials = credentials
        self.version = wsdl_version
        self.ns = Namespaces(wsdl_version)
        host = credentials.account.lower().replace("_", "-")
        self.wsdl_url = wsdl_url or NetSuiteClient.WSDL_URL_TEMPLATE.format(
            account=host, wsdl_version=f"v{wsdl_version}_0"
        )
        self.endpoint = endpoint or NetSuiteClient.DATACENTER_URL_TEMPLATE.format(
            account=host, netsuite_port_version=f"NetSuitePort_{wsdl_version}"
        )
        self.session = session or requests.Session()
        self.cache_dir = cache_dir
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.application_id = application_id
        self.calls = 0
        self.calls_by_operation: dict[str, int] = {}
        self.limiter = limiter or RateLimiter(concurrency=2)
        self._zeep: Any = None
        self._service: Any = None
        self._zeep_lock = threading.Lock()
        self._auth_error: AuthError | None = None

    # -- zeep ---------------------------------------------------------------------------------

    @property
    def zeep(self) -> Any:
        """The zeep client for the WSDL, built on first use (the account's WSDL is large)."""
        with self._zeep_lock:
            if self._zeep is None:
                import zeep
                from zeep.cache import SqliteCache
                from zeep.transports import Transport

                cache = None
                if self.cache_dir is not None:
                    self.cache_dir.mkdir(parents=True, exist_ok=True)
                    cache = SqliteCache(path=str(self.cache_dir / "netsuite-wsdl.sqlite"), timeout=30 * 86400)
                transport = Transport(session=self.session, cache=cache, timeout=self.timeout)
                with _PARSED_LOCK:
                    parsed = _PARSED.get(self.wsdl_url)
                    if parsed is None:
                        try:
                            parsed = _PARSED[self.wsdl_url] = zeep.Client(self.wsdl_url, transport=transport)
                        except requests.RequestException as exc:
                            raise classify_transport_error(exc, "NetSuite WSDL") from None
                self._zeep = parsed
                self._service = self._zeep.create_service(self.ns.binding, self.endpoint)
            return self._zeep

    def type(self, namespace: str, name: str) -> Any:
        """A zeep type by SuiteTalk namespace short name (``core``, ``sales`` …) and type name."""
        return self.zeep.get_type(f"{{{self.ns.urn(namespace)}}}{name}")

    def element(self, namespace: str, name: str) -> Any:
        return self.zeep.get_element(f"{{{self.ns.urn(namespace)}}}{name}")

    def passport(self) -> Any:
        """A fresh ``tokenPassport``: a nonce is valid once, so every attempt signs anew."""
        nonce = secrets.token_hex(16)
        timestamp = int(time.time())
        signature = self.type("core", "TokenPassportSignature")(
            self.credentials.sign(nonce, timestamp), algorithm="HMAC-SHA256"
        )
        return self.type("core", "TokenPassport")(
            account=self.credentials.account,
            consumerKey=self.credentials.consumer_key,
            token=self.credentials.token_id,
            nonce=nonce,
            timestamp=timestamp,
            signature=signature,
        )

    def envelope(self, operation: str, headers: Mapping[str, Any] | None = None, **body: Any) -> bytes:
        """The request envelope zeep builds for ``operation`` from the WSDL in use."""
        client = self.zeep
        soap_headers: dict[str, Any] = {"tokenPassport": self.passport()}
        if self.application_id:
            soap_headers["applicationInfo"] = self.element("messages", "applicationInfo")(
                applicationId=self.application_id
            )
        soap_headers.update(headers or {})
        message = client.create_message(self._service, operation, _soapheaders=soap_headers, **body)
        return bytes(etree.tostring(message, xml_declaration=True, encoding="UTF-8"))

    # -- calls --------------------------------------------------------------------------------

    def reset_auth(self) -> None:
        """Forget a previous authentication failure (after an admin fixed the credentials)."""
        self._auth_error = None

    def call(self, operation: str, headers: Mapping[str, Any] | None = None, **body: Any) -> etree._Element:
        """Send one operation; return the body's response element (``searchResponse`` …).

        Throttling and transient faults are retried with backoff; an authentication failure is
        raised once and then remembered, so a broken token does not hammer the account (NetSuite
        locks out integrations after repeated failed logins).
        """
        if self._auth_error is not None:
            raise self._auth_error
        attempt = 0
        while True:
            try:
                return self._send(operation, self.envelope(operation, headers, **body))
            except AuthError as exc:
                self._auth_error = exc
                # A warning: the engine raises the one alert, when it pauses the connection.
                log.warning(
                    "NetSuite rejected the credentials of account %s: %s", self.credentials.account, exc
                )
                raise
            except TransientError as exc:
                attempt += 1
                if attempt >= self.retry.attempts:
                    raise
                wait = self.retry.delay(attempt, exc.retry_after)
                log.warning(
                    "NetSuite %s %s (attempt %d), retrying in %.1fs", operation, exc.kind.value, attempt, wait
                )
                self.sleep(wait)

    def _send(self, operation: str, data: bytes) -> etree._Element:
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{operation}"'}
        with self.limiter:
            self.calls += 1
            self.calls_by_operation[operation] = self.calls_by_operation.get(operation, 0) + 1
            try:
                response = self.session.post(self.endpoint, data=data, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                # Resets and truncated bodies are transient (ChunkedEncodingError is no
                # ConnectionError); an untrusted certificate is not.
                raise classify_transport_error(exc, f"NetSuite {operation}") from None
        return response_body(response.content, response.status_code, dict(response.headers), operation)


def response_body(
    content: bytes, status: int = 200, headers: Mapping[str, str] | None = None, operation: str = "call"
) -> etree._Element:
    """The response element of a SuiteTalk answer, or the classified error it carries.

    A fault is sorted by ``classify_fault``; a truncated or garbled answer is transient (a proxy
    or a dropped connection cut it), whatever the HTTP status said.
    """
    try:
        envelope = etree.fromstring(content, _PARSER) if content else None
    except etree.XMLSyntaxError:
        envelope = None
    if envelope is not None and envelope.find(f".//{{{SOAP_ENV}}}Fault") is not None:
        raise classify_fault(envelope)
    if status != 200 or envelope is None:
        error = classify_http(status, dict(headers or {}), content[:300].decode("utf-8", "replace"))
        raise error or TransientError(f"NetSuite {operation}: unreadable answer")
    body = envelope.find(f"{{{SOAP_ENV}}}Body")
    if body is None or not len(body):
        raise TransientError(f"NetSuite {operation}: answer without a SOAP body")
    return body[0]
