"""A local server that answers like Microsoft Dynamics 365 Business Central for what arbridge uses.

``BusinessCentralSandbox`` serves, on one port, the Entra ID token endpoint (client credentials),
BC online's URL layout (``/v2.0/{tenant}/{environment}/api/...``) with bearer tokens, and the
on-premises layout (``/{instance}/api/...``) with a web-service access key (basic). Under each:
the standard API v2.0 and the arbridge extension's pages, with ``$metadata``, server-driven paging
(``Prefer: odata.maxpagesize``, ``@odata.nextLink``), the ``$filter`` subset clients send, ETags
with ``If-Match`` required on PATCH (412 when stale), JSON ``$batch`` (at most 100 requests),
journal posting, webhook subscriptions, and BC's throttling (6,000 requests per 5 minutes per
user, 100 at once) unless turned off.

    with BusinessCentralSandbox(seed="demo") as bc:
        print(bc.api_url, bc.token_url)
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from flask import Flask, Response, request

from sandboxes.business_central import metadata, wire
from sandboxes.business_central.company import Company, etag_of
from sandboxes.business_central.entities import API_V2, EXTENSION, Api, EntitySet
from sandboxes.business_central.errors import (
    BcError,
    bad_request,
    entity_changed,
    method_not_allowed,
    not_found,
    throttled,
    token_required,
    unauthorized,
)
from sandboxes.business_central.query import parse_filter
from sandboxes.business_central.seed import seed_company
from sandboxes.business_central.webhooks import Webhooks
from sandboxes.business_central.windows_auth import WindowsAuth
from sandboxes.serving import BackgroundServer
from sandboxes.throttle import ConcurrencyCap, SlidingWindow

__all__ = ["BusinessCentralSandbox"]

MAX_PAGE_SIZE = 20_000
BATCH_MAX = 100
REQUESTS_PER_WINDOW = 6_000
WINDOW_SECONDS = 300.0
MAX_CONCURRENT = 100
SCOPE = "https://api.businesscentral.dynamics.com/.default"
JSON_TYPE = "application/json; odata.metadata=minimal; odata.streaming=true"
_SEGMENT = re.compile(r"^(?P<name>[A-Za-z$][\w.$]*)(?:\((?P<key>[^)]*)\))?$")
_SAFE = "$'(),:"
_APIS: dict[str, Api] = {API_V2.route: API_V2, EXTENSION.route: EXTENSION}


@dataclass
class _Answer:
    status: int
    body: Any = None
    headers: dict[str, str] | None = None


@dataclass
class _Table:
    """Where an entity set's records live and how the API shows one."""

    rows: Callable[[], dict[str, dict[str, Any]]]
    view: Callable[[dict[str, Any]], dict[str, Any]]
    label: str


class BusinessCentralSandbox:
    """A BC tenant with one environment and one company, on a local port.

    Args:
        port: TCP port (0 picks a free one).
        seed: ``demo`` (a small company), ``empty`` or ``large``.
        invoices: invoice count of the ``large`` seed.
        tenant: the Entra tenant id in URLs.
        environment: the BC environment name in URLs.
        instance: the on-premises server instance name in URLs.
        client_id, client_secret: the Entra app registration allowed to call the API.
        web_service_user, web_service_key: the on-premises user and its web-service access key.
        throttle: enforce BC's request limits (turn off for benchmarks).
        clock: the current time, aware (injected so tests control expiry and modification times).
        notification_delay: seconds changes are collected before webhooks are sent (BC: 30).
        unfilterable: ``{entity set: {property}}`` the server refuses to filter on.
        token_lifetime: seconds an access token is valid.
        public_url: the origin clients reach the sandbox at when it sits behind a proxy (an
            HTTPS front for msal, which takes HTTPS authorities only); links are built on it.
        windows_users: ``{"DOMAIN\\user": password}``: the on-premises layout then also takes
            Windows authentication (NTLM), as a server instance set to Windows credentials does.

    Attributes:
        requests_log: every request: method, path, status, and for ``$batch`` the inner count.
        patches: every PATCH applied, by record id: what changed, in order (the ledger of effects).
    """

    def __init__(
        self,
        port: int = 0,
        seed: str = "demo",
        invoices: int | None = None,
        tenant: str = "5f8a2c1e-7d3b-4e9a-b6c2-0d1e2f3a4b5c",
        environment: str = "production",
        instance: str = "BC",
        client_id: str = "3c9e7b2a-51d4-4f8e-9a06-b7c1d2e3f4a5",
        client_secret: str = "sandbox-client-secret",
        web_service_user: str = "ARBRIDGE",
        web_service_key: str = "sandbox-web-service-key",
        throttle: bool = True,
        clock: Callable[[], datetime] | None = None,
        notification_delay: float = 30.0,
        unfilterable: dict[str, set[str]] | None = None,
        token_lifetime: float = 3599.0,
        public_url: str | None = None,
        windows_users: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self.tenant = tenant
        self.environment = environment
        self.instance = instance
        self.client_id = client_id
        self.client_secret = client_secret
        self.web_service_user = web_service_user
        self.web_service_key = web_service_key
        self.clock = clock or (lambda: datetime.now(UTC))
        self.token_lifetime = token_lifetime
        self.public_url = public_url.rstrip("/") if public_url else None
        self.windows = WindowsAuth(windows_users) if windows_users else None
        self.company = Company(self.clock)
        seed_company(self.company, seed, invoices)
        self.webhooks = Webhooks(self.clock, delay=notification_delay)
        self.company.listeners.append(self._changed)
        self.unfilterable = {k: frozenset(v) for k, v in (unfilterable or {}).items()}
        self.requests_log: list[dict[str, Any]] = []
        self.patches: dict[str, list[dict[str, Any]]] = {}
        self._tokens: dict[str, tuple[str, datetime]] = {}
        self._revoked = False
        self._window: SlidingWindow | None = (
            SlidingWindow(REQUESTS_PER_WINDOW, WINDOW_SECONDS) if throttle else None
        )
        self._cap: ConcurrencyCap | None = ConcurrencyCap(MAX_CONCURRENT) if throttle else None
        self._fail: list[int] = []
        self._guard = threading.Lock()
        self._server: BackgroundServer | None = None
        self.app = self._build_app()

    # ----------------------------------------------------------------- lifecycle and addresses

    def start(self) -> BusinessCentralSandbox:
        self._server = BackgroundServer(self.app, port=self.port, threads=8, name="bc-sandbox").start()
        self.port = self._server.port
        self.webhooks.start()
        return self

    def stop(self) -> None:
        self.webhooks.stop()
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> BusinessCentralSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def local_url(self) -> str:
        """Where the server listens (a proxy in front forwards here)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """Where clients reach the server: ``public_url`` when a proxy fronts it."""
        return self.public_url or self.local_url

    @property
    def authority(self) -> str:
        """The Entra authority of the tenant (``https://login.microsoftonline.com/{tenant}`` online)."""
        return f"{self.base_url}/{self.tenant}"

    @property
    def token_url(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    @property
    def api_url(self) -> str:
        """BC online's API root for the environment: ``…/v2.0/{tenant}/{environment}/api``."""
        return f"{self.base_url}/v2.0/{self.tenant}/{self.environment}/api"

    @property
    def onprem_api_url(self) -> str:
        """An on-premises server instance's API root: ``…/{instance}/api``."""
        return f"{self.base_url}/{self.instance}/api"

    # ----------------------------------------------------------------- test and admin helpers

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(32)
        self._tokens[token] = (self.client_id, self.clock() + timedelta(seconds=self.token_lifetime))
        return token

    def revoke(self) -> None:
        """Refuse every credential from now on (the app registration was removed)."""
        self._revoked = True
        self._tokens.clear()

    def set_throttle(self, limit: int | None, window: float = WINDOW_SECONDS) -> None:
        """Allow ``limit`` requests per ``window`` seconds per user (None: no limit)."""
        self._window = SlidingWindow(limit, window) if limit else None

    def fail_next(self, n: int, status: int = 503, retry_after: str | None = "1") -> None:
        """Answer the next ``n`` API requests with ``status`` (BC adds Retry-After to 502/503)."""
        with self._guard:
            self._fail.extend([status] * n)
        self._fail_retry_after = retry_after

    def touch(self, entity_set: str, record_id: str) -> None:
        """Change a record as a user editing it in BC would: new ETag and lastModifiedDateTime."""
        with self.company.lock:
            rows = self._table(
                API_V2 if entity_set != "customerLedgerEntries" else EXTENSION, entity_set
            ).rows()
            record = rows[record_id]
            self.company.stamp(record)
            if entity_set == "customerLedgerEntries":
                record["description"] = (record.get("description") or "")[:90] + " (edited)"
        self._changed(entity_set, record_id, "updated")

    def entity_url(self, entity_set: str, record_id: str | None = None, api: Api = API_V2) -> str:
        url = f"{self.api_url}/{api.route}/companies({self.company.id})/{entity_set}"
        return f"{url}({record_id})" if record_id else url

    def resource(self, entity_set: str, api: Api = API_V2) -> str:
        """The ``resource`` of a webhook subscription to ``entity_set``."""
        return f"api/{api.route}/companies({self.company.id})/{entity_set}"

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        return self.webhooks.idle(timeout)

    def _changed(self, entity_set: str, record_id: str, change: str) -> None:
        api = EXTENSION if entity_set == "customerLedgerEntries" else API_V2
        prefix = self.resource(entity_set, api)
        self.webhooks.changed(prefix, f"{prefix}({record_id})", change)
        if entity_set == "customers":  # one table, two pages
            prefix = self.resource("customers", EXTENSION)
            self.webhooks.changed(prefix, f"{prefix}({record_id})", change)

    # ----------------------------------------------------------------- Flask app

    def _build_app(self) -> Flask:
        app = Flask("bc-sandbox")
        app.url_map.strict_slashes = False

        @app.get("/<tenant>/v2.0/.well-known/openid-configuration")
        def openid(tenant: str) -> Response:
            base = f"{self._origin()}/{tenant}"
            doc = {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{self._origin()}/{tenant}/v2.0",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "tenant_region_scope": "EU",
            }
            return self._json(200, doc, log="oauth2/openid")

        @app.post("/<tenant>/oauth2/v2.0/token")
        def token(tenant: str) -> Response:
            return self._token(tenant)

        @app.route("/v2.0/<tenant>/<environment>/api/<path:rest>", methods=["GET", "POST", "PATCH", "DELETE"])
        def cloud(tenant: str, environment: str, rest: str) -> Response:
            if tenant.lower() != self.tenant.lower() or environment != self.environment:
                return self._error(
                    BcError(404, "BadRequest_NotFound", f"Environment '{environment}' not found.")
                )
            return self._api(rest, cloud=True)

        @app.route("/<instance>/api/<path:rest>", methods=["GET", "POST", "PATCH", "DELETE"])
        def onprem(instance: str, rest: str) -> Response:
            if instance != self.instance:
                return self._error(not_found(instance))
            return self._api(rest, cloud=False)

        return app

    def _origin(self) -> str:
        return self.public_url or request.host_url.rstrip("/")

    def _json(
        self, status: int, body: Any, headers: dict[str, str] | None = None, log: str | None = None
    ) -> Response:
        if log is not None:
            self._log(log, status)
        if isinstance(body, _Xml):
            response = Response(bytes(body), status=status, content_type="application/xml")
        else:
            payload = b"" if body is None else json.dumps(body).encode()
            response = Response(payload, status=status, content_type=JSON_TYPE if body is not None else None)
        response.headers["OData-Version"] = "4.0"
        for k, v in (headers or {}).items():
            response.headers[k] = v
        return response

    def _error(self, err: BcError) -> Response:
        return self._json(err.status, err.body(), err.headers)

    def _log(self, path: str, status: int, **extra: Any) -> None:
        self.requests_log.append({"method": request.method, "path": path, "status": status, **extra})

    # ----------------------------------------------------------------- Entra ID

    def _token(self, tenant: str) -> Response:
        form = request.form
        if tenant.lower() != self.tenant.lower():
            return self._oauth_error(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return self._oauth_error(
                400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type."
            )
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        if self._revoked or client_id != self.client_id:
            return self._oauth_error(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory.",
            )
        if secret != self.client_secret:
            return self._oauth_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        if SCOPE not in (form.get("scope") or "").split():
            return self._oauth_error(
                400,
                "invalid_scope",
                f"AADSTS1002012: The provided value for scope {form.get('scope')} is not valid.",
            )
        lifetime = int(self.token_lifetime)
        body = {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self.issue_token(),
        }
        return self._json(200, body, log="oauth2/token")

    def _oauth_error(self, status: int, error: str, description: str) -> Response:
        return self._json(
            status, {"error": error, "error_description": description, "error_codes": []}, log="oauth2/token"
        )

    def _user(self, cloud: bool) -> str:
        header = request.headers.get("Authorization", "")
        if cloud and header.lower().startswith("bearer "):
            found = self._tokens.get(header[7:].strip())
            if found and found[1] > self.clock() and not self._revoked:
                return found[0]
        if not cloud and header.lower().startswith("basic "):
            try:
                user, _, key = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                raise unauthorized() from None
            if (
                user.upper() == self.web_service_user.upper()
                and key == self.web_service_key
                and not self._revoked
            ):
                return user.upper()
        if not cloud and self.windows is not None and not header.lower().startswith("basic "):
            connection = (str(request.environ.get("REMOTE_ADDR")), str(request.environ.get("REMOTE_PORT")))
            return self.windows.user(header, connection)
        raise unauthorized()

    # ----------------------------------------------------------------- the API

    def _api(self, rest: str, *, cloud: bool) -> Response:
        path = urlsplit(request.full_path).path
        status = 500
        try:
            user = self._user(cloud)
            wait = self._window.admit(user) if self._window else None
            if wait is not None:
                raise throttled(wait)
            with self._cap.slot(user) if self._cap else _always() as admitted:
                if not admitted:
                    raise throttled(1.0)
                with self._guard:
                    failure = self._fail.pop(0) if self._fail else None
                if failure is not None:
                    retry = getattr(self, "_fail_retry_after", None)
                    raise BcError(
                        failure,
                        "Internal_ServiceUnavailable",
                        "The service is temporarily unavailable.",
                        {"Retry-After": retry} if retry else None,
                    )
                root = self._origin() + request.path.split("/api/", 1)[0] + "/api"
                body = request.get_data()
                answer = self._dispatch(
                    request.method, rest, dict(request.args), dict(request.headers), body, root
                )
            status = answer.status
            batch = (
                len(answer.body["responses"])
                if rest.endswith("$batch") and isinstance(answer.body, dict)
                else None
            )
            self._log(path, status, **({"batch": batch} if batch is not None else {}))
            return self._json(answer.status, answer.body, answer.headers)
        except BcError as err:
            status = err.status
            self._log(path, status)
            headers = dict(err.headers)
            if status == 401 and "WWW-Authenticate" not in headers:
                headers["WWW-Authenticate"] = (
                    'Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"'
                )
            return self._json(err.status, err.body(), headers)

    def _dispatch(
        self, method: str, rest: str, args: dict[str, str], headers: dict[str, str], body: bytes, root: str
    ) -> _Answer:
        api, tail = self._api_of(rest)
        base = f"{root}/{api.route}"
        if tail == "$metadata":
            return self._metadata(api)
        if tail == "$batch":
            if method != "POST":
                raise method_not_allowed(method, "$batch")
            return self._batch(api, self._parse_json(body), headers, root)
        if tail == "":
            return _Answer(
                200,
                {
                    "@odata.context": f"{base}/$metadata",
                    "value": [
                        {"name": s.name, "kind": "EntitySet", "url": s.name} for s in api.entity_sets.values()
                    ],
                },
            )
        segments = [s for s in _split_path(tail)]
        first = _segment(segments[0])
        if first[0] == "subscriptions" and api is API_V2:
            return self._subscriptions(method, first[1], body, headers, base)
        if first[0] == "companies":
            if first[1] is None:
                if method != "GET" or len(segments) > 1:
                    raise method_not_allowed(method, "companies")
                return _Answer(
                    200, {"@odata.context": f"{base}/$metadata#companies", "value": [self._company_json(api)]}
                )
            if _key(first[1]) != self.company.id and first[1].strip("'") != self.company.name:
                raise BcError(404, "Internal_CompanyNotFound", f"The company '{first[1]}' does not exist.")
            segments = segments[1:]
            if not segments:
                body_ = {"@odata.context": f"{base}/$metadata#companies/$entity", **self._company_json(api)}
                return _Answer(200, body_)
        else:
            # BC also takes a company from the Company header or the ?company= parameter.
            named = headers.get("Company") or args.get("company")
            if not named:
                raise BcError(
                    400,
                    "Internal_CompanyNotFound",
                    "Can't process the request because the default company can't be found. You can "
                    "specify a default company in the service configuration file, or specify one for "
                    "each tenant, or add a query string in the form of company=[name].",
                )
            if named not in (self.company.name, self.company.id):
                raise BcError(404, "Internal_CompanyNotFound", f"The company '{named}' does not exist.")
        context = f"{base}/$metadata#companies({self.company.id})"
        with self.company.lock:
            return self._entity_request(api, method, segments, args, headers, body, context, base)

    def _api_of(self, rest: str) -> tuple[Api, str]:
        for route, api in _APIS.items():
            if rest == route or rest.startswith(route + "/"):
                return api, rest[len(route) + 1 :]
        raise not_found(rest.split("/", 1)[0])

    def _metadata(self, api: Api) -> _Answer:
        return _Answer(200, _Xml(metadata.render(api)))

    def _company_json(self, api: Api) -> dict[str, Any]:
        c = self.company
        record = {
            "id": c.id,
            "systemVersion": "26.0.30643.32100",
            "timestamp": 4006,
            "name": c.name,
            "displayName": c.name,
            "businessProfileId": "",
            "systemCreatedAt": datetime(2025, 3, 24, tzinfo=UTC),
            "systemCreatedBy": None,
            "systemModifiedAt": datetime(2025, 3, 24, tzinfo=UTC),
            "systemModifiedBy": None,
        }
        return wire.render(api.entity_sets["companies"], record)

    # ----------------------------------------------------------------- entity sets

    def _table(self, api: Api, name: str) -> _Table:
        c = self.company
        if name == "customers":
            return _Table(lambda: c.customers, c.customer_view, "Customer")
        if name == "salesInvoices" and api is API_V2:
            return _Table(lambda: c.invoices, c.invoice_view, "Sales Invoice Header")
        if name == "salesCreditMemos" and api is API_V2:
            return _Table(lambda: c.credit_memos, c.credit_memo_view, "Sales Cr.Memo Header")
        if name in ("customerPaymentJournals", "paymentJournals"):
            return _Table(lambda: c.journals, dict, "Gen. Journal Batch")
        if name == "customerPayments" and api is API_V2:
            return _Table(lambda: c.journal_lines, dict, "Gen. Journal Line")
        if name == "customerLedgerEntries" and api is EXTENSION:
            return _Table(lambda: c.entries, dict, "Cust. Ledger Entry")
        if name == "paymentApplications" and api is EXTENSION:
            return _Table(lambda: c.applications, dict, "ARB Payment Application")
        if name == "customerComments" and api is EXTENSION:
            return _Table(lambda: c.comments, dict, "Comment Line")
        raise not_found(name)

    def _entity_request(
        self,
        api: Api,
        method: str,
        segments: list[str],
        args: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        context: str,
        base: str,
    ) -> _Answer:
        name, key = _segment(segments[0])
        entity_set = api.entity_sets.get(name)
        if entity_set is None or not entity_set.in_company:
            raise not_found(name)
        table = self._table(api, name)
        parent: dict[str, Any] | None = None
        rest = segments[1:]
        if key is not None and rest and not rest[0].startswith("Microsoft.NAV."):
            # A contained collection: customerPaymentJournals({id})/customerPayments.
            child_name, child_key = _segment(rest[0])
            if child_name not in entity_set.children:
                raise not_found(child_name)
            parent = self.company.get(table.rows(), _key(key), table.label)
            entity_set = api.entity_sets[entity_set.children[child_name]]
            table = self._table(api, entity_set.name)
            context = f"{context}/{name}({_key(key)})"
            name, key, rest = entity_set.name, child_key, rest[1:]
        context = f"{context}/{name}"
        if rest:
            action = rest[0].removeprefix("Microsoft.NAV.")
            if key is None or method != "POST" or action not in entity_set.actions or len(rest) > 1:
                raise BcError(
                    400, "BadRequest_MethodNotImplemented", "Entity does not support bound actions."
                )
            return self._action(entity_set, table, _key(key), action)
        if key is None:
            if method == "GET":
                return self._collection(api, entity_set, table, args, headers, context, base, parent)
            if method == "POST":
                return self._insert(entity_set, table, self._parse_json(body), context, base, parent)
            raise method_not_allowed(method, name)
        record = self.company.get(table.rows(), _key(key), table.label)
        if parent is not None and record.get("journalId") != parent["id"]:
            raise BcError(404, "Internal_RecordNotFound", f"The {table.label} does not exist.")
        if method == "GET":
            return _Answer(
                200, {"@odata.context": f"{context}/$entity", **self._render(entity_set, table, record)}
            )
        if method == "PATCH":
            if not entity_set.updatable:
                raise method_not_allowed(method, name)
            self._check_etag(record, headers)
            values = wire.parse_body(entity_set, self._parse_json(body), allow=frozenset({entity_set.key}))
            values.pop(entity_set.key, None)
            record.update(values)
            self.patches.setdefault(record["id"], []).append(values)
            self.company.stamp(record)
            self._changed(name, record["id"], "updated")
            return _Answer(
                200, {"@odata.context": f"{context}/$entity", **self._render(entity_set, table, record)}
            )
        if method == "DELETE":
            if not entity_set.deletable:
                raise method_not_allowed(method, name)
            self._check_etag(record, headers)
            self._delete(name, record)
            return _Answer(204)
        raise method_not_allowed(method, name)

    def _render(self, entity_set: EntitySet, table: _Table, record: dict[str, Any]) -> dict[str, Any]:
        return {"@odata.etag": etag_of(record["_version"]), **wire.render(entity_set, table.view(record))}

    @staticmethod
    def _check_etag(record: dict[str, Any], headers: dict[str, str]) -> None:
        given = headers.get("If-Match")
        if not given:
            raise token_required()
        if given.strip() != "*" and given.strip() != etag_of(record["_version"]):
            raise entity_changed()

    def _collection(
        self,
        api: Api,
        entity_set: EntitySet,
        table: _Table,
        args: dict[str, str],
        headers: dict[str, str],
        context: str,
        base: str,
        parent: dict[str, Any] | None,
    ) -> _Answer:
        rows: Iterator[dict[str, Any]] = iter(table.rows().values())
        if parent is not None:
            rows = (r for r in rows if r.get("journalId") == parent["id"])
        views = [table.view(r) for r in rows]
        if "$filter" in args:
            predicate = parse_filter(
                args["$filter"], entity_set, self.unfilterable.get(entity_set.name, frozenset())
            )
            views = [v for v in views if predicate(v)]
        views.sort(key=lambda v: v[entity_set.key])
        skiptoken = args.get("$skiptoken")
        if skiptoken:
            after = skiptoken.strip("'").lower()
            views = [v for v in views if v[entity_set.key] > after]
        skip = _int_arg(args, "$skip")
        if skip:
            views = views[skip:]
        top = _int_arg(args, "$top")
        size = MAX_PAGE_SIZE
        prefer = _max_page_size(headers.get("Prefer"))
        response_headers: dict[str, str] = {}
        if prefer:
            size = min(prefer, MAX_PAGE_SIZE)
            response_headers["Preference-Applied"] = f"odata.maxpagesize={size}"
        next_link = None
        if top is not None:
            # $top returns what it asks for and never a nextLink (microsoft/AL#6858).
            page = views[:top]
        else:
            page = views[:size]
            if len(views) > size:
                keep = {k: v for k, v in args.items() if k not in ("$skiptoken", "$skip")}
                keep["$skiptoken"] = f"'{page[-1][entity_set.key]}'"
                next_link = (
                    f"{context.replace('/$metadata#', '/')}?{urlencode(keep, quote_via=quote, safe=_SAFE)}"
                )
        select = [s.strip() for s in args.get("$select", "").split(",") if s.strip()]
        for name in select:
            if entity_set.prop(name) is None:
                raise bad_request(
                    f"Could not find a property named '{name}' on type "
                    f"'Microsoft.NAV.{entity_set.entity_type}'."
                )
        value = []
        for v in page:
            rendered = {"@odata.etag": etag_of(v["_version"]), **wire.render(entity_set, v)}
            if select:
                rendered = {k: rendered[k] for k in ("@odata.etag", *select)}
            value.append(rendered)
        out: dict[str, Any] = {"@odata.context": context, "value": value}
        if next_link:
            out["@odata.nextLink"] = next_link
        return _Answer(200, out, response_headers)

    def _insert(
        self,
        entity_set: EntitySet,
        table: _Table,
        data: Any,
        context: str,
        base: str,
        parent: dict[str, Any] | None,
    ) -> _Answer:
        if entity_set.name == "paymentApplications":
            row = self.company.apply_payment(wire.parse_body(entity_set, data))
            location = f"{context.replace('/$metadata#', '/')}({row['id']})"
            body = {"@odata.context": f"{context}/$entity", **self._render(entity_set, table, row)}
            return _Answer(201, body, {"Location": location})
        if entity_set.name == "customerComments":
            row = self.company.add_comment(wire.parse_body(entity_set, data))
            location = f"{context.replace('/$metadata#', '/')}({row['id']})"
            body = {"@odata.context": f"{context}/$entity", **self._render(entity_set, table, row)}
            return _Answer(201, body, {"Location": location})
        if entity_set.name != "customerPayments":
            raise method_not_allowed("POST", entity_set.name)
        values = wire.parse_body(entity_set, data)
        journal_id = parent["id"] if parent else values.get("journalId")
        if not journal_id:
            raise BcError(
                400, "BadRequest_RequiredParamNotProvided", "Field 'journalId' must not be blank or empty."
            )
        journal = self.company.get(self.company.journals, journal_id, "Gen. Journal Batch")
        line = self.company.add_payment_line(journal, values)
        location = f"{context.replace('/$metadata#', '/')}({line['id']})"
        body = {"@odata.context": f"{context}/$entity", **self._render(entity_set, table, line)}
        return _Answer(201, body, {"Location": location})

    def _action(self, entity_set: EntitySet, table: _Table, key: str, action: str) -> _Answer:
        if entity_set.name == "paymentJournals" and action == "post":
            journal = self.company.get(table.rows(), key, table.label)
            self.company.post_journal(journal)
            return _Answer(204)
        raise BcError(400, "BadRequest_MethodNotImplemented", f"The action '{action}' is not available here.")

    def _delete(self, name: str, record: dict[str, Any]) -> None:
        c = self.company
        if name == "customers":
            if any(e["customerId"] == record["id"] for e in c.entries.values()):
                raise BcError(
                    400,
                    "Application_DialogException",
                    f"You cannot delete Customer {record['number']} because there is at least one "
                    "outstanding Cust. Ledger Entry for this customer.",
                )
            del c.customers[record["id"]]
            self._changed("customers", record["id"], "deleted")
        elif name == "customerPayments":
            del c.journal_lines[record["id"]]
        else:
            raise method_not_allowed("DELETE", name)

    # ----------------------------------------------------------------- $batch

    def _batch(self, api: Api, data: Any, headers: dict[str, str], root: str) -> _Answer:
        if not isinstance(data, dict) or not isinstance(data.get("requests"), list):
            raise bad_request("Invalid Request Body")
        requests_ = data["requests"]
        if len(requests_) > BATCH_MAX:
            raise bad_request(
                f"The batch request contains {len(requests_)} operations; at most {BATCH_MAX} are allowed."
            )
        snapshot = self._snapshot() if (headers.get("Isolation") or "").lower() == "snapshot" else None
        responses = []
        failed: set[str] = set()
        for item in requests_:
            rid = item.get("id")
            if any(str(d) in failed for d in item.get("dependsOn") or []):
                responses.append(
                    {
                        "id": rid,
                        "status": 424,
                        "headers": {},
                        "body": {
                            "error": {
                                "code": "BadRequest",
                                "message": "A request this one depends on failed.",
                            }
                        },
                    }
                )
                failed.add(str(rid))
                continue
            answer = self._batch_item(api, item, root)
            entry: dict[str, Any] = {"id": rid, "status": answer.status, "headers": {}}
            if answer.body is not None:
                entry["headers"] = {"content-type": JSON_TYPE, "odata-version": "4.0"}
                entry["body"] = answer.body
            for k, v in (answer.headers or {}).items():
                entry["headers"][k.lower()] = v
            responses.append(entry)
            if answer.status >= 400:
                failed.add(str(rid))
        if snapshot is not None and failed:
            self._restore(snapshot)
        return _Answer(200, {"responses": responses})

    def _batch_item(self, api: Api, item: dict[str, Any], root: str) -> _Answer:
        method = str(item.get("method") or "GET").upper()
        url = str(item.get("url") or "")
        headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
        headers = {_canonical_header(k): v for k, v in headers.items()}
        parts = urlsplit(url)
        path = parts.path
        if parts.scheme:
            path = path.split("/api/", 1)[1]
        elif path.startswith("/"):
            path = path.lstrip("/")
        else:
            path = f"{api.route}/{path}"
        if not path.startswith(api.route + "/"):
            # Each API route is its own OData service: a batch holds requests to its own route only.
            return _Answer(*_refused(not_found(path.split("/", 1)[0])))
        args = dict(parse_qsl(parts.query, keep_blank_values=True))
        body = json.dumps(item["body"]).encode() if "body" in item else b""
        try:
            if path.endswith("$batch"):
                raise bad_request("A $batch request cannot contain another $batch request.")
            return self._dispatch(method, path, args, headers, body, root)
        except BcError as err:
            return _Answer(err.status, err.body())

    def _snapshot(self) -> dict[str, Any]:
        c = self.company
        with c.lock:
            return copy.deepcopy(
                {
                    k: getattr(c, k)
                    for k in (
                        "customers",
                        "entries",
                        "invoices",
                        "credit_memos",
                        "journals",
                        "journal_lines",
                        "applications",
                        "comments",
                        "balances",
                    )
                }
            )

    def _restore(self, snapshot: dict[str, Any]) -> None:
        with self.company.lock:
            for k, v in snapshot.items():
                setattr(self.company, k, v)

    # ----------------------------------------------------------------- webhook subscriptions

    def _subscriptions(
        self, method: str, key: str | None, body: bytes, headers: dict[str, str], base: str
    ) -> _Answer:
        entity_set = API_V2.entity_sets["subscriptions"]
        context = f"{base}/$metadata#subscriptions"
        if key is None and method == "GET":
            value = [
                {"@odata.etag": etag_of(s.version), **wire.render(entity_set, s.as_record())}
                for s in self.webhooks.listing()
            ]
            return _Answer(200, {"@odata.context": context, "value": value})
        if key is None and method == "POST":
            values = wire.parse_body(entity_set, self._parse_json(body))
            for required in ("notificationUrl", "resource"):
                if not values.get(required):
                    raise BcError(
                        400,
                        "BadRequest_RequiredParamNotProvided",
                        f"Field '{required}' must not be blank or empty.",
                    )
            self._check_resource(values["resource"])
            sub = self.webhooks.create(
                values["notificationUrl"], values["resource"], values.get("clientState") or "", self.client_id
            )
            record = {
                "@odata.context": f"{context}/$entity",
                "@odata.etag": etag_of(sub.version),
                **wire.render(entity_set, sub.as_record()),
            }
            return _Answer(201, record)
        if key is None:
            raise method_not_allowed(method, "subscriptions")
        sub = self.webhooks.live(key.strip("'"))
        if method == "GET":
            return _Answer(
                200,
                {
                    "@odata.context": f"{context}/$entity",
                    "@odata.etag": etag_of(sub.version),
                    **wire.render(entity_set, sub.as_record()),
                },
            )
        given = headers.get("If-Match")
        if not given:
            raise token_required()
        if given != "*" and given != etag_of(sub.version):
            raise entity_changed()
        if method == "PATCH":
            values = wire.parse_body(entity_set, self._parse_json(body) if body else {})
            sub = self.webhooks.renew(sub, values)
            return _Answer(
                200,
                {
                    "@odata.context": f"{context}/$entity",
                    "@odata.etag": etag_of(sub.version),
                    **wire.render(entity_set, sub.as_record()),
                },
            )
        if method == "DELETE":
            self.webhooks.delete(sub.subscription_id)
            return _Answer(204)
        raise method_not_allowed(method, "subscriptions")

    def _check_resource(self, resource: str) -> None:
        m = re.match(r"^/?api/(?P<route>.+?)/companies\((?P<company>[^)]+)\)/(?P<set>\w+)$", resource)
        api = _APIS.get(m["route"]) if m else None
        if not m or api is None or _key(m["company"]) != self.company.id or m["set"] not in api.entity_sets:
            raise BcError(
                400, "BadRequest_ResourceNotFound", f"The resource '{resource}' cannot be subscribed to."
            )
        if m["set"] in ("customerPayments", "companies", "paymentJournals"):
            raise BcError(400, "BadRequest", f"Entity set '{m['set']}' does not support webhooks.")

    # ----------------------------------------------------------------- helpers

    @staticmethod
    def _parse_json(body: bytes) -> Any:
        try:
            return json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            raise bad_request("Invalid Request Body") from None


class _Xml(bytes):
    """A ``$metadata`` body: served as XML rather than JSON."""


class _always:
    def __enter__(self) -> bool:
        return True

    def __exit__(self, *exc: object) -> None:
        return None


def _refused(err: BcError) -> tuple[int, dict[str, Any]]:
    return err.status, err.body()


def _split_path(tail: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in tail:
        if ch == "/" and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        current += ch
    if current:
        parts.append(current)
    return parts


def _segment(text: str) -> tuple[str, str | None]:
    m = _SEGMENT.match(text)
    if not m:
        raise not_found(text)
    return m["name"], m["key"]


def _key(text: str) -> str:
    text = text.strip().strip("'")
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return text.lower()


def _int_arg(args: dict[str, str], name: str) -> int | None:
    if name not in args:
        return None
    try:
        value = int(args[name])
    except ValueError:
        raise bad_request(f"Invalid value for {name}: '{args[name]}'") from None
    if value < 0:
        raise bad_request(f"Invalid value for {name}: '{args[name]}'")
    return value


def _max_page_size(prefer: str | None) -> int | None:
    for part in (prefer or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "odata.maxpagesize" and value.strip().isdigit():
            return max(1, int(value))
    return None


def _canonical_header(name: str) -> str:
    return "-".join(p.capitalize() for p in name.split("-"))
