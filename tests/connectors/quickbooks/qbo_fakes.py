"""A scripted QuickBooks Online for the connector's unit tests (``responses`` callbacks, no sockets).

Bodies are shaped like Intuit's JSON; tests that need Intuit's real bytes load them from the
vendor fixtures under ``shared/specs/quickbooks/samples``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests
import responses

from connectors.base import ConnectorContext, MemoryKeyValueStore
from connectors.quickbooks import QuickBooksConnector
from connectors.quickbooks.client import RateLimiter

BASE = "https://qbo.test"
TOKEN_URL = "https://oauth.test/oauth2/v1/tokens/bearer"
REALM = "9130357766090541"
API = f"{BASE}/v3/company/{REALM}"


@dataclass
class Sent:
    """One API request the connector made."""

    method: str
    path: str
    params: dict[str, str]
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class RecordingStore(MemoryKeyValueStore):
    """A state store that remembers the order of its writes relative to API calls."""

    def __init__(self, events: list[str], initial: dict[str, str] | None = None) -> None:
        super().__init__(initial)
        self.events = events

    def put(self, key: str, value: str) -> None:
        self.events.append(f"put {key}")
        super().put(key, value)


@dataclass
class FakeQbo:
    """Token endpoint and API routes; each route is a callback returning (status, headers, body)."""

    rsps: responses.RequestsMock
    sent: list[Sent] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    token_answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    token_forms: list[dict[str, str]] = field(default_factory=list)
    handlers: dict[str, Callable[[Sent], tuple[int, dict[str, str], str]]] = field(default_factory=dict)
    access_counter: int = 0

    def install(self) -> None:
        # Tests register every route; not every test uses all of them.
        self.rsps.assert_all_requests_are_fired = False
        self.rsps.add_callback(responses.POST, TOKEN_URL, callback=self._token)
        for method in ("GET", "POST"):
            self.rsps.add_callback(method, re.compile(re.escape(API) + r"/.*"), callback=self._api)

    def _token(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        form = {k: v[0] for k, v in parse_qs(str(request.body or "")).items()}
        self.token_forms.append(form)
        self.events.append(f"token {form.get('grant_type')}")
        if self.token_answers:
            status, body = self.token_answers.pop(0)
        else:
            self.access_counter += 1
            status, body = (
                200,
                {
                    "access_token": f"at-{self.access_counter}",
                    "refresh_token": form.get("refresh_token", "rt-code"),
                    "expires_in": 3600,
                    "x_refresh_token_expires_in": 8726400,
                    "token_type": "bearer",
                },
            )
        return status, {"Content-Type": "application/json"}, json.dumps(body)

    def _api(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        url = urlparse(str(request.url))
        path = url.path[len(f"/v3/company/{REALM}/") :]
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        sent = Sent(str(request.method), path, params, body, dict(request.headers))
        self.sent.append(sent)
        self.events.append(f"api {path} {request.headers.get('Authorization')}")
        route = path.split("/")[0]
        handler = self.handlers.get(route)
        if handler is None:
            return 404, {}, "no route"
        return handler(sent)

    def api_calls(self, route: str | None = None) -> list[Sent]:
        return [s for s in self.sent if route is None or s.path.split("/")[0] == route]


def json_answer(data: Any, status: int = 200) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json"}, json.dumps(data, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def make_connector(
    fake: FakeQbo | None = None,
    *,
    state: MemoryKeyValueStore | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] | None = None,
    **settings: Any,
) -> QuickBooksConnector:
    values: dict[str, Any] = {
        "base_url": BASE,
        "token_url": TOKEN_URL,
        "realm_id": REALM,
        "client_id": "client-id",
        "client_secret": "client-secret-value",
        "refresh_token": "rt-bootstrap",
        "collection_status_field_id": "1",
    }
    values.update(settings)
    context = ConnectorContext(connection="qbo-test", state=state or MemoryKeyValueStore())
    validated = QuickBooksConnector.settings_model.model_validate(values)
    clock = now or datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    return QuickBooksConnector(
        validated,
        context,
        limiter=RateLimiter(10**6, 100, burst=10**5),
        sleep=sleep or (lambda s: None),
        now=lambda: clock,
    )


def invoice(n: int, *, updated: datetime | None = None, **extra: Any) -> dict[str, Any]:
    """An invoice in Intuit's JSON shape."""
    when = updated or datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    body: dict[str, Any] = {
        "domain": "QBO",
        "sparse": False,
        "Id": str(n),
        "SyncToken": "0",
        "MetaData": {"CreateTime": when.isoformat(), "LastUpdatedTime": when.isoformat()},
        "DocNumber": f"{1000 + n}",
        "TxnDate": "2026-01-01",
        "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
        "Line": [
            {
                "Id": "1",
                "LineNum": 1,
                "Amount": 100.0,
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {
                    "ItemRef": {"value": "1", "name": "Services"},
                    "UnitPrice": 100,
                    "Qty": 1,
                },
            },
            {"Amount": 100.0, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}},
        ],
        "CustomerRef": {"value": "7", "name": "Sunset Bakery"},
        "DueDate": "2026-01-31",
        "TotalAmt": 100.0,
        "Balance": 100.0,
    }
    body.update(extra)
    return body


def paged_query_handler(
    entity: str, rows: list[dict[str, Any]]
) -> Callable[[Sent], tuple[int, dict[str, str], str]]:
    """Serve ``SELECT … STARTPOSITION n MAXRESULTS m`` from ``rows`` (already in LastUpdatedTime order)."""

    def handle(sent: Sent) -> tuple[int, dict[str, str], str]:
        text = sent.body
        start = int(re.search(r"STARTPOSITION (\d+)", text).group(1))  # type: ignore[union-attr]
        size = int(re.search(r"MAXRESULTS (\d+)", text).group(1))  # type: ignore[union-attr]
        matching = rows
        for op, value in re.findall(r"MetaData\.LastUpdatedTime (>=|<) '([^']+)'", text):
            bound = datetime.fromisoformat(value)

            def keep(row: dict[str, Any], op: str = op, bound: datetime = bound) -> bool:
                when = datetime.fromisoformat(row["MetaData"]["LastUpdatedTime"])
                return when >= bound if op == ">=" else when < bound

            matching = [r for r in matching if keep(r)]
        chosen = matching[start - 1 : start - 1 + size]
        qr: dict[str, Any] = {"startPosition": start, "maxResults": len(chosen)}
        if chosen:
            qr[entity] = chosen
        return json_answer({"QueryResponse": qr, "time": "2026-05-04T05:00:00.000-07:00"})

    return handle
