"""A local server that behaves like QuickBooks Online for everything the connector uses.

Start it in-process (tests, the demo) with :class:`QuickBooksSandbox`, or from the command line
with ``arbridge sandbox quickbooks``. It speaks Intuit's URL layout, OAuth endpoints, query
language, CDC, batch, SyncToken and ``requestid`` semantics, throttling, and webhooks; it checks
every body against Intuit's own schema (``Finance.xsd``, read from the specs folder) and refuses
what QuickBooks would refuse with QuickBooks-shaped faults.

Throttling is on by default, at Intuit's published limits: 500 requests a minute per company,
10 a second and 10 at once per company and app (ERP-FACTS: developer.intuit.com limits and
throttles; the 2016 concurrency announcement). ``throttle=False`` turns it off for benchmarks.

A query with ``MAXRESULTS`` above 1,000 is refused as QuickBooks refuses it: ``4001 Invalid
query``, "QueryValidationError: value 1500 is too large. Max allowed value is 1000" (a real answer
quoted in ruckus/quickbooks-ruby issue #24; see ``query.py``), not clamped.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import re
import threading
import time as _time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from sandboxes.quickbooks import query as q
from sandboxes.quickbooks import render, schema
from sandboxes.quickbooks.app import create_app
from sandboxes.quickbooks.auth import OAuthError, TokenStore
from sandboxes.quickbooks.company import Company, Table, utc_clock
from sandboxes.quickbooks.faults import (
    THROTTLE_DETAIL,
    QboFault,
    RawResponse,
    required_param,
    system_fault,
    throttle_message,
)
from sandboxes.quickbooks.seed import seed
from sandboxes.quickbooks.webhooks import Delivery, WebhookSender
from sandboxes.serving import BackgroundServer
from sandboxes.throttle import ConcurrencyCap, SlidingWindow

__all__ = ["QuickBooksSandbox"]

_API = re.compile(r"^/v3/company/(?P<realm>[^/]+)/(?P<rest>.*)$")
_BY_LOWER = {name.lower(): name for name in schema.ENTITIES}
_NO_REPLAY_STATUSES = {401, 429, 500, 502, 503}

# Intuit's published limits (ERP-FACTS.md): per company a minute, per company and app a second and
# at once.
REQUESTS_PER_MINUTE = 500
REQUESTS_PER_SECOND = 10
MAX_CONCURRENT = 10
# Open connections the server holds; the next ones wait in the listen backlog.
CONNECTION_LIMIT = 1000


def _company_tz() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("America/Los_Angeles")
    except Exception:  # no tz database on this machine: a fixed Pacific offset is close enough
        return timezone(timedelta(hours=-8))


class _Response:
    """What one API call answers: a status and a payload in Intuit's JSON shape, or raw bytes."""

    def __init__(
        self, status: int, payload: dict[str, Any] | None = None, raw: RawResponse | None = None
    ) -> None:
        self.status = status
        self.payload = payload
        self.raw = raw


class QuickBooksSandbox:
    """A QuickBooks Online company on a local port.

    Args:
        port: TCP port (0 picks a free one).
        seed: ``"demo"``, ``"empty"`` or ``"large"``.
        records: invoices to generate for ``large`` (and the demo's invoice count if given).
        realm_id: the company id in URLs.
        throttle: answer 429 ThrottleExceeded beyond Intuit's limits (off for benchmarks).
        throttle_per_minute: requests per company and minute before 429 (None: no such limit).
        throttle_per_second: requests per company and app and second before 429 (None: no such limit).
        max_concurrent: requests served at once before 429 (Intuit allows 10).
        webhook_url: where change notifications are posted (None: no webhooks).
        webhook_verifier_token: the HMAC key for ``intuit-signature``.
        client_id: the app's OAuth client id.
        client_secret: the app's OAuth client secret.
        clock: returns the current time (aware); injected so tests control aging and token expiry.
        throttle_clock: monotonic seconds the rate windows count in (injectable for tests).
        webhook_format: ``"legacy"`` or ``"cloudevents"``.
        batch_max: items allowed in one ``/batch`` request.
        refresh_grace_seconds: how long a rotated-away refresh token still answers.
        specs: the folder holding Intuit's schema (``quickbooks/xsd``); None looks in the default
            place (``sandboxes.specs``).
        threads: requests served at once by the HTTP server; more wait in its queue.

    Raises:
        SpecsNotFound: Intuit's schema is not in the specs folder.

    Attributes:
        requests_log: every request received: method, path, query, ``requestid`` and status.
        writes_log: every batch item of a request carrying a ``requestid``: its ``bId``, entity and
            Id, and whether it was applied then (``applied``) or answered from the earlier reply to
            the same ``requestid`` (``replayed``): the ledger that shows a write took effect once.
    """

    def __init__(
        self,
        port: int = 0,
        seed: str = "demo",
        records: int | None = None,
        realm_id: str = "9130355377",
        throttle: bool = True,
        throttle_per_minute: int | None = REQUESTS_PER_MINUTE,
        throttle_per_second: int | None = REQUESTS_PER_SECOND,
        max_concurrent: int = MAX_CONCURRENT,
        webhook_url: str | None = None,
        webhook_verifier_token: str | None = None,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        clock: Callable[[], datetime] | None = None,
        throttle_clock: Callable[[], float] = _time.monotonic,
        webhook_format: str = "legacy",
        batch_max: int = 30,
        refresh_grace_seconds: float = 60.0,
        specs: str | Path | None = None,
        threads: int = 16,
    ) -> None:
        self.intuit = schema.load(specs)
        self.port = port
        self.realm_id = realm_id
        self.clock = clock or utc_clock
        self.batch_max = batch_max
        self.company = Company(self.clock, _company_tz(), realm_id, self.intuit)
        self.tokens = TokenStore(
            client_id, client_secret, self.clock, timedelta(seconds=refresh_grace_seconds)
        )
        self.requests_log: list[dict[str, Any]] = []
        self.writes_log: list[dict[str, Any]] = []
        self._throttle_clock = throttle_clock
        self._per_minute: SlidingWindow | None = None
        self._per_second: SlidingWindow | None = None
        self._concurrency: ConcurrencyCap | None = None
        self._throttle_all = False
        if throttle:
            self.set_throttle(throttle_per_minute)
            if throttle_per_second is not None:
                self._per_second = SlidingWindow(throttle_per_second, 1.0, clock=throttle_clock)
            self._concurrency = ConcurrencyCap(max_concurrent)
        self._in_flight = 0
        self._guard = threading.Lock()
        self._fail: list[int] = []
        self._replies: dict[str, _Response] = {}
        self._replies_lock = threading.Lock()
        self._threads = threads
        self._server: BackgroundServer | None = None
        seed_company(self.company, seed, records)
        self.webhooks: WebhookSender | None = None
        if webhook_url:
            self.webhooks = WebhookSender(webhook_url, webhook_verifier_token or "", realm_id, webhook_format)
            self.company.listeners.append(self.webhooks)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> QuickBooksSandbox:
        """Serve on a background thread; returns self."""
        self._server = BackgroundServer(
            create_app(self),
            port=self.port,
            threads=self._threads,
            name="qbo-sandbox",
            # Clients that keep their connections open must not lock out a burst of new ones.
            connection_limit=CONNECTION_LIMIT,
        ).start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        """Stop serving and stop the webhook sender."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.webhooks is not None:
            self.webhooks.close()

    def __enter__(self) -> QuickBooksSandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``; the API lives under ``/v3/company/{realm_id}``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The company's API root, ``{base_url}/v3/company/{realm_id}``."""
        return f"{self.base_url}/v3/company/{self.realm_id}"

    @property
    def token_url(self) -> str:
        """Intuit's token endpoint on this server."""
        return f"{self.base_url}/oauth2/v1/tokens/bearer"

    @property
    def authorize_url(self) -> str:
        """The consent page (answers at once with a redirect carrying ``code`` and ``realmId``)."""
        return f"{self.base_url}/connect/oauth2"

    @property
    def discovery_url(self) -> str:
        """An OpenID discovery document, so ``intuitlib.AuthClient(environment=...)`` can use this server."""
        return f"{self.base_url}/.well-known/openid_configuration"

    @property
    def client_id(self) -> str:
        """The app's OAuth client id."""
        return self.tokens.client_id

    @property
    def client_secret(self) -> str:
        """The app's OAuth client secret."""
        return self.tokens.client_secret

    # ----------------------------------------------------------------- admin / test API

    @property
    def db(self) -> Mapping[str, Table]:
        """Records by entity and Id (change them through the API or :meth:`touch`, not in place)."""
        return self.company.tables

    def touch(self, entity: str, ident: str) -> dict[str, Any]:
        """Change a record as a user editing it in QuickBooks would: new SyncToken and LastUpdatedTime."""
        return render_copy(self.company.touch(entity, ident))

    def issue_refresh_token(self, value: str | None = None) -> str:
        """A refresh token for a freshly connected app (``value``: accept this one)."""
        return self.tokens.issue_refresh_token(value)

    def issue_access_token(self) -> str:
        """A valid bearer token, skipping the OAuth dance."""
        return self.tokens.issue_access_token()

    def revoke_tokens(self) -> None:
        """Revoke every token: the user disconnected the app."""
        self.tokens.revoke(None)

    def set_throttle(self, n_per_minute: int | None) -> None:
        """Allow ``n_per_minute`` API requests per company and minute, then answer 429 (None: no limit)."""
        self._throttle_all = n_per_minute == 0
        self._per_minute = (
            SlidingWindow(n_per_minute, 60.0, clock=self._throttle_clock) if n_per_minute else None
        )

    @property
    def in_flight(self) -> int:
        """API requests being answered right now."""
        return self._in_flight

    def fail_next(self, n: int, status: int = 500) -> None:
        """Make the next ``n`` API requests fail with ``status`` and a SystemFault body."""
        with self._guard:
            self._fail.extend([status] * n)

    @property
    def webhook_deliveries(self) -> list[Delivery]:
        """Webhook notifications sent so far."""
        return list(self.webhooks.deliveries) if self.webhooks else []

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """Block until queued webhook notifications are delivered."""
        return self.webhooks.wait_idle(timeout) if self.webhooks else True

    # ----------------------------------------------------------------- request pipeline

    def _now_ts(self) -> float:
        return self.clock().timestamp()

    def response_time(self) -> str:
        """The ``time`` stamp of a response, company-local with milliseconds."""
        now = self.company.now()
        return (
            now.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{now.microsecond // 1000:03d}"
            + now.strftime("%z")[:3]
            + ":"
            + now.strftime("%z")[3:]
        )

    def _throttled(self) -> float | None:
        """Seconds until the request would be admitted when a rate window is full, else None."""
        if self._throttle_all:
            return 60.0
        app = f"{self.realm_id}|{self.client_id}"
        for window, key in ((self._per_minute, self.realm_id), (self._per_second, app)):
            if window is not None:
                wait = window.admit(key)
                if wait is not None:
                    return wait
        return None

    def _throttle_response(self, retry_after: float = 60.0) -> _Response:
        # Intuit sends this one as XML whatever the Accept header says.
        body = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<IntuitResponse time="{self.response_time()}" xmlns="{render.NAMESPACE}">'
            '<Fault type="SERVICE"><Error code="3001">'
            f"<Message>{throttle_message(429)}</Message><Detail>{THROTTLE_DETAIL}</Detail>"
            "</Error></Fault></IntuitResponse>"
        ).encode()
        headers = {"Retry-After": str(max(1, int(retry_after + 0.999)))}
        return _Response(429, raw=RawResponse(429, body, "application/xml", headers))

    def _auth_response(self, detail: str) -> _Response:
        # A 401 comes in a different, lower-case envelope from the rest of the API.
        body: dict[str, Any] = {
            "warnings": None,
            "intuitObject": None,
            "fault": {
                "error": [
                    {
                        "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                        "detail": detail,
                        "code": "3200",
                        "element": None,
                    }
                ],
                "type": "AUTHENTICATION",
            },
            "report": None,
            "queryResponse": None,
            "batchItemResponse": [],
            "attachableResponse": [],
            "syncErrorResponse": None,
            "requestId": None,
            "time": int(self._now_ts() * 1000),
            "status": None,
            "cdcresponse": [],
        }
        headers = {"WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'}
        return _Response(401, raw=RawResponse(401, json.dumps(body).encode(), "application/json", headers))

    def handle_api(
        self, method: str, path: str, params: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> _Response:
        """Run one API request through auth, throttling, injected failures and de-duplication."""
        cap = self._concurrency
        slot = cap.slot(f"{self.realm_id}|{self.client_id}") if cap else contextlib.nullcontext(True)
        with slot as admitted:
            with self._guard:
                self._in_flight += 1
            try:
                if not admitted:
                    return self._throttle_response(1.0)
                return self._admitted(method, path, params, headers, body)
            finally:
                with self._guard:
                    self._in_flight -= 1

    def _admitted(
        self, method: str, path: str, params: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> _Response:
        authorization = headers.get("authorization") or ""
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        problem = self.tokens.access_status(token)
        if problem:
            return self._auth_response(problem)
        wait = self._throttled()
        if wait is not None:
            return self._throttle_response(wait)
        with self._guard:
            failure = self._fail.pop(0) if self._fail else None
        if failure is not None:
            fault = system_fault()
            fault.status = failure
            return _Response(failure, render.fault_payload(fault, self.response_time()))
        match = _API.match(path)
        if not match:
            return self._fault(QboFault("404", "Resource not found", f"No resource at {path}", status=404))
        if match["realm"] != self.realm_id:
            return self._fault(
                QboFault(
                    "3100",
                    "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                    f"The token is not authorized for company {match['realm']}",
                    fault_type="AuthorizationFault",
                    status=403,
                )
            )
        request_id = params.get("requestid")
        if method == "POST" and request_id:
            return self._deduplicated(request_id, lambda: self._dispatch(method, match["rest"], params, body))
        return self._dispatch(method, match["rest"], params, body)

    def _deduplicated(self, request_id: str, run: Callable[[], _Response]) -> _Response:
        # One lock for all request ids: a retry racing its original waits and then gets the replay.
        with self._replies_lock:
            if request_id in self._replies:
                replay = copy.deepcopy(self._replies[request_id])
                self._log_writes(request_id, replay, replayed=True)
                return replay
            response = run()
            self._log_writes(request_id, response, replayed=False)
            if response.status not in _NO_REPLAY_STATUSES:
                self._replies[request_id] = copy.deepcopy(response)
            return response

    def _log_writes(self, request_id: str, response: _Response, *, replayed: bool) -> None:
        """Remember each batch item a request carried: applied now, refused, or answered from the replay."""
        items = (response.payload or {}).get("BatchItemResponse") or []
        for item in items:
            entity = next((e for e in schema.ENTITIES if isinstance(item.get(e), dict)), None)
            self.writes_log.append(
                {
                    "requestid": request_id,
                    "bId": item.get("bId"),
                    "entity": entity,
                    "Id": item[entity].get("Id") if entity else None,
                    "applied": entity is not None and not replayed,
                    "replayed": replayed,
                }
            )

    def _fault(self, fault: QboFault) -> _Response:
        return _Response(fault.status, render.fault_payload(fault, self.response_time()))

    def _dispatch(self, method: str, rest: str, params: dict[str, str], body: bytes) -> _Response:
        try:
            parts = [p for p in rest.split("/") if p]
            head = parts[0].lower() if parts else ""
            if head == "query":
                text = params.get("query") if method == "GET" else (body.decode() or params.get("query"))
                if not text:
                    raise required_param("query")
                return _Response(200, {"QueryResponse": self.run_query(text), "time": self.response_time()})
            if head == "cdc" and method == "GET":
                return _Response(200, self._cdc(params))
            if head == "batch" and method == "POST":
                return _Response(200, self._batch(self._json(body)))
            entity = _BY_LOWER.get(head)
            if entity is None:
                raise QboFault("404", "Resource not found", f"Unsupported entity /{head}", status=404)
            if method == "GET" and len(parts) == 2:
                with self.company.lock:
                    record = copy.deepcopy(self.company.get(entity, parts[1]))
                return _Response(200, {entity: record, "time": self.response_time()})
            if method == "POST" and len(parts) == 1:
                data = self._json(body)
                if isinstance(data, dict) and set(data) == {entity}:
                    data = data[entity]  # some clients wrap the entity in its name
                record = self.company.save(
                    entity, data, operation=params.get("operation"), include=params.get("include")
                )
                return _Response(200, {entity: record, "time": self.response_time()})
            raise QboFault("405", "Unsupported Operation", f"{method} /{rest} is not supported", status=405)
        except QboFault as fault:
            return self._fault(fault)

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body or b"null", parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            raise QboFault(
                "2010",
                "Request has invalid or unsupported property",
                f"Property Name:Unexpected character in the request body ({exc}) "
                "specified is unsupported or invalid",
            ) from None

    def run_query(self, text: str) -> dict[str, Any]:
        """Run a query and build the ``QueryResponse`` object."""
        parsed = q.parse(text, self.intuit)
        records, count = self.company.run_query(parsed)
        if parsed.count:
            return {"totalCount": count}
        if not records:
            return {}
        return {parsed.entity: records, "startPosition": parsed.start_position, "maxResults": len(records)}

    def _cdc(self, params: dict[str, str]) -> dict[str, Any]:
        names = [n.strip() for n in (params.get("entities") or "").split(",") if n.strip()]
        if not names:
            raise required_param("entities")
        since_text = params.get("changedSince")
        if not since_text:
            raise required_param("changedSince")
        entities = []
        for name in names:
            entity = _BY_LOWER.get(name.lower())
            if entity is None or entity == "CompanyInfo":
                raise QboFault(
                    "4001",
                    "Invalid query",
                    f"QueryValidationError: Unsupported entity in CDC: {name}",
                    element="entities",
                )
            entities.append(entity)
        since = q.parse_datetime(since_text, self.company.tz)
        responses = []
        for entity, records in self.company.change_data_capture(entities, since):
            if records:
                responses.append(
                    {
                        entity: records,
                        "startPosition": 1,
                        "maxResults": len(records),
                        "totalCount": len(records),
                    }
                )
            else:
                responses.append({})
        return {"CDCResponse": [{"QueryResponse": responses}], "time": self.response_time()}

    def _batch(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("BatchItemRequest"), list):
            raise required_param("BatchItemRequest")
        items = body["BatchItemRequest"]
        if len(items) > self.batch_max:
            raise QboFault(
                "1040",
                "Batch request too large",
                f"Batch request contains {len(items)} items; at most {self.batch_max} are allowed.",
                element="BatchItemRequest",
            )
        out = []
        for item in items:
            bid = str(item.get("bId", ""))
            try:
                out.append({"bId": bid, **self._batch_item(item)})
            except QboFault as fault:
                out.append({"bId": bid, "Fault": fault.to_json()})
        return {"BatchItemResponse": out, "time": self.response_time()}

    def _batch_item(self, item: dict[str, Any]) -> dict[str, Any]:
        if "Query" in item:
            return {"QueryResponse": self.run_query(str(item["Query"]))}
        entities = [key for key in item if key in schema.ENTITIES]
        if len(entities) != 1:
            raise required_param("BatchItemRequest entity")
        entity = entities[0]
        operation = str(item.get("operation") or "create").lower()
        data = item[entity]
        if operation == "delete":
            record = self.company.save(entity, data, operation="delete")
        elif operation == "update":
            if not isinstance(data, dict) or data.get("Id") in (None, ""):
                raise required_param("Id")
            record = self.company.save(entity, data, include=item.get("optionsData"))
        elif operation == "create":
            if isinstance(data, dict) and data.get("Id") not in (None, ""):
                raise QboFault(
                    "2010",
                    "Request has invalid or unsupported property",
                    "Property Name:Id is not allowed on create specified is unsupported or invalid",
                    element="Id",
                )
            record = self.company.save(entity, data)
        else:
            raise QboFault(
                "2170", "Invalid Enumeration", f"Invalid Enumeration : {operation}", element="operation"
            )
        return {entity: record}

    def handle_oauth(
        self, path: str, params: dict[str, str], headers: Mapping[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """The token and revoke endpoints."""
        authorization = headers.get("authorization") or ""
        client_id = client_secret = None
        if authorization.lower().startswith("basic "):
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
        try:
            self.tokens.check_client(client_id, client_secret)
            if path.endswith("/revoke"):
                self.tokens.revoke(params.get("token") or "")
                return 200, {}
            grant = params.get("grant_type")
            if grant == "refresh_token":
                return 200, self.tokens.refresh(params.get("refresh_token") or "")
            if grant == "authorization_code":
                return 200, self.tokens.exchange_code(params.get("code") or "", params.get("redirect_uri"))
            raise OAuthError("unsupported_grant_type")
        except OAuthError as err:
            return err.status, err.body()

    def authorize_redirect(self, params: dict[str, str]) -> str:
        """Where the consent page sends the browser: ``redirect_uri?code=…&state=…&realmId=…``."""
        redirect = params.get("redirect_uri") or ""
        code = self.tokens.issue_code(redirect)
        query = {"code": code, "realmId": self.realm_id}
        if "state" in params:
            query["state"] = params["state"]
        separator = "&" if "?" in redirect else "?"
        return f"{redirect}{separator}{urlencode(query)}"

    def discovery(self) -> dict[str, Any]:
        """The OpenID discovery document intuitlib reads its endpoints from."""
        return {
            "issuer": self.base_url,
            "authorization_endpoint": self.authorize_url,
            "token_endpoint": self.token_url,
            "userinfo_endpoint": f"{self.base_url}/v1/openid_connect/userinfo",
            "revocation_endpoint": f"{self.base_url}/oauth2/v1/tokens/revoke",
            "jwks_uri": f"{self.base_url}/oauth2/v1/keys",
        }


def render_copy(record: dict[str, Any]) -> dict[str, Any]:
    """A record as a client would decode it from JSON (money as numbers)."""
    result: dict[str, Any] = json.loads(render.to_json(record))
    return result


def seed_company(company: Company, kind: str, records: int | None) -> None:
    """Fill the company (kept apart so the seed's clock games never race live requests)."""
    started = _time.monotonic()
    seed(company, kind, records)
    company.seed_seconds = _time.monotonic() - started  # type: ignore[attr-defined]
