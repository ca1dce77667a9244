"""A local SAP S/4HANA: OData V2 services from SAP's own EDMX and the journal-entry SOAP service.

    with S4Sandbox(seed="demo") as sap:
        print(sap.odata_url("API_BUSINESS_PARTNER"), sap.soap_url)

OData (``/sap/opu/odata/sap/<SERVICE>/``): ``$metadata`` is SAP's EDMX byte for byte; answers use
SAP's JSON envelope (``{"d": {"results": [...]}}``, ``__metadata`` with ``etag``); ``$filter``,
``$select``, ``$expand``, ``$orderby``, ``$top``/``$skip``, ``$inlinecount`` and server paging
(``__next``) work on every entity set; updates need ``If-Match`` (428 without, 412 when stale);
``$batch`` runs change sets all or nothing, each on its own. Changes need an ``X-CSRF-Token``
bound to the session cookie (403 "CSRF token validation failed" otherwise), as SAP Gateway does.

SOAP (``/sap/bc/srt/scs_ext/sap/journalentrycreaterequestconfi``): see ``soap.py``. Every message
accepted is posted, a resent one twice, as in SAP. ``run_automatic_clearing()`` is the scheduled
clearing job; tests call it when they want it to run.

Throttling: SAP publishes no request limit for S/4HANA. In the cloud the APIs are reached through
SAP's API management, whose Spike Arrest policy refuses a caller that sends faster than the rate
the customer set, with 429 and the policy's fault body, before the system sees the request. The
sandbox applies such a policy per caller by default (``spike_arrest`` requests a second; None for
benchmarks), and ``overload()`` makes it refuse every call, as it does while the system is overloaded.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from flask import Flask, Response, request

from sandboxes.sap_s4hana.book import Book, ClearingRun, KeyT
from sandboxes.sap_s4hana.edmx import EDMX_FILES, EntitySet, Service, load_service, specs_root
from sandboxes.sap_s4hana.query import QueryError, parse_filter, parse_key, parse_orderby, python_value
from sandboxes.sap_s4hana.seed import seed_book
from sandboxes.sap_s4hana.soap import JournalEntryService, SoapFault, fault_envelope, wsdl_for
from sandboxes.sap_s4hana.wire import (
    PartResponse,
    dumps,
    entity_json,
    error_body,
    parse_batch,
    render_batch,
)
from sandboxes.serving import BackgroundServer
from sandboxes.throttle import SlidingWindow

__all__ = ["SCENARIOS", "S4Sandbox"]

ODATA_PREFIX = "/sap/opu/odata/sap/"
SOAP_PATH = "/sap/bc/srt/scs_ext/sap/journalentrycreaterequestconfi"
SESSION_COOKIE = "SAP_SESSIONID_S4H_100"
#: The communication scenario that grants each service (what an admin assigns to the user).
SCENARIOS = {
    "API_BUSINESS_PARTNER": "SAP_COM_0008",
    "API_OPLACCTGDOCITEMCUBE_SRV": "SAP_COM_0303",
    "JOURNAL_ENTRY_POST": "SAP_COM_0002",
}
#: Entity sets whose entries carry an ETag (and whose updates need If-Match).
ETAG_SETS = {"A_Customer", "A_CustomerCompany", "A_CustomerDunning"}
#: The sandbox's Spike Arrest rate per caller and second (a customer's API management sets its own).
SPIKE_ARREST_PER_SECOND = 50
#: Dunning block reasons configured in this system (customising of dunning block reasons).
DUNNING_BLOCKS = {"": "", "X": "Blocked by clerk", "D": "Disputed", "P": "Promise to pay", "L": "Legal"}
_MODIFYING = {"POST", "PUT", "PATCH", "MERGE", "DELETE"}
_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    428: "Precondition Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class ODataError(Exception):
    """Answered in SAP's JSON error format with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class _Session:
    user: str
    token: str | None = None
    created: float = field(default_factory=time.monotonic)


@dataclass
class LoggedRequest:
    method: str
    path: str
    status: int
    kind: str  # "odata", "batch", "soap", "metadata", "token", "csrf", "throttled"


class S4Sandbox:
    """A seeded S/4HANA system on a local port.

    Args:
        port: TCP port (0 picks a free one).
        seed: ``demo``, ``empty`` or ``large``.
        invoices: invoices of the seed (default: 36 for demo, 5,000 for large).
        specs: the vendor specs folder (default: ``$ARBRIDGE_SPECS`` or ``../shared/specs``).
        users: communication users and their passwords (basic authentication).
        clients: OAuth 2.0 clients and their secrets (client-credentials grant).
        scenarios: communication scenarios granted to every user (default: all three).
        clock: the system's local time.
        page_cap: server-side paging: at most this many entries per answer, then ``__next``.
        spike_arrest: requests per second and caller before API management answers 429 (None: off).
        soap_answer_delay: seconds between posting a journal entry and answering the call (a slow
            system; a client that gives up meanwhile never learns that its entry was posted).
    """

    def __init__(
        self,
        port: int = 0,
        seed: str = "demo",
        *,
        invoices: int | None = None,
        specs: str | Path | None = None,
        users: dict[str, str] | None = None,
        clients: dict[str, str] | None = None,
        scenarios: set[str] | None = None,
        clock: Callable[[], datetime] = datetime.now,
        page_cap: int | None = None,
        spike_arrest: int | None = SPIKE_ARREST_PER_SECOND,
        soap_answer_delay: float = 0.0,
    ) -> None:
        self.specs = specs_root(specs)
        self.book = Book(clock)
        seed_book(self.book, seed, invoices=invoices)
        self.services: dict[str, Service] = {name: load_service(name, self.specs) for name in EDMX_FILES}
        self.users = dict(users or {"ARBRIDGE_COMM": "Sandbox-Passw0rd-1"})
        self.clients = dict(clients or {"arbridge-client": "sandbox-client-secret"})
        self.scenarios = set(scenarios if scenarios is not None else SCENARIOS.values())
        self.page_cap = page_cap
        self.spike_arrest = spike_arrest
        self.throttle = SlidingWindow(spike_arrest, 1.0) if spike_arrest else None
        self.overloaded = False
        self.soap_answer_delay = soap_answer_delay
        self.journal = JournalEntryService(self.book, self.specs)
        self.requests_log: list[LoggedRequest] = []
        self.writes_log: list[dict[str, Any]] = []
        self._sessions: dict[str, _Session] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._server: BackgroundServer | None = None
        self._port = port
        self.app = self._make_app()

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> S4Sandbox:
        self._server = BackgroundServer(self.app, port=self._port, name="sap-s4hana-sandbox").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> S4Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the sandbox first"
        return self._server.url

    def odata_url(self, service: str) -> str:
        return f"{self.base_url}{ODATA_PREFIX}{service}/"

    @property
    def soap_url(self) -> str:
        return f"{self.base_url}{SOAP_PATH}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    # -- what tests drive -------------------------------------------------------------------------

    def expire_sessions(self) -> None:
        """End every security session (SAP's session timeout): cookies and CSRF tokens go stale."""
        with self._lock:
            self._sessions.clear()

    def run_automatic_clearing(self) -> ClearingRun:
        """Run the scheduled clearing job once (what F.13 does on its schedule)."""
        return self.book.run_automatic_clearing()

    def overload(self) -> None:
        """API management refuses every call from now on (429), as while the system is overloaded."""
        self.overloaded = True

    def recover(self) -> None:
        self.overloaded = False

    def calls(self, kind: str | None = None) -> int:
        return sum(1 for r in self.requests_log if kind is None or r.kind == kind)

    # -- the app ----------------------------------------------------------------------------------

    def customer_texts(self, customer: str) -> list[dict[str, Any]]:
        """The customer's long texts as SAP's customer master shows them: general texts
        (A_CustomerText) and those of its company codes (A_CustomerCompanyText)."""
        with self.book.lock:
            return [
                {"entity_set": name, **row}
                for name in ("A_CustomerText", "A_CustomerCompanyText")
                for _, row in sorted(self.book.tables[name].items())
                if row.get("Customer") == customer
            ]

    def _make_app(self) -> Flask:
        app = Flask("sap_s4hana_sandbox")

        @app.post("/oauth/token")
        def token() -> Response:
            return self._token()

        @app.route(SOAP_PATH, methods=["GET", "POST"])
        def soap() -> Response:
            return self._guarded(
                "soap", lambda user: self._soap(user), scenario=SCENARIOS["JOURNAL_ENTRY_POST"]
            )

        @app.route(f"{ODATA_PREFIX}<service>/", methods=["GET", "HEAD"])
        @app.route(f"{ODATA_PREFIX}<service>", methods=["GET", "HEAD"])
        def service_document(service: str) -> Response:
            return self._odata(service, "")

        @app.route(
            f"{ODATA_PREFIX}<service>/<path:resource>",
            methods=["GET", "HEAD", "POST", "PUT", "PATCH", "MERGE", "DELETE"],
        )
        def resource(service: str, resource: str) -> Response:
            return self._odata(service, resource)

        return app

    # -- authentication, sessions, CSRF ---------------------------------------------------------

    def _authenticate(self) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            return user if self.users.get(user) == password else None
        if header.startswith("Bearer "):
            with self._lock:
                found = self._tokens.get(header[7:])
            if found and found[1] > time.monotonic():
                return found[0]
        return None

    def _token(self) -> Response:
        form = request.form
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        self.requests_log.append(LoggedRequest("POST", "/oauth/token", 200, "token"))
        if form.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type"})
        if self.clients.get(client_id) != secret:
            return _json(401, {"error": "invalid_client", "error_description": "Bad credentials"})
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (client_id, time.monotonic() + 3600)
        return _json(200, {"access_token": token, "token_type": "bearer", "expires_in": 3599, "scope": ""})

    def revoke_credentials(self) -> None:
        """Every user and client is refused from now on (a locked communication user)."""
        with self._lock:
            self.users = {u: secrets.token_hex(8) for u in self.users}
            self.clients = {c: secrets.token_hex(8) for c in self.clients}
            self._tokens.clear()
            self._sessions.clear()

    def _guarded(self, kind: str, handler: Callable[[str], Response], *, scenario: str) -> Response:
        caller = request.headers.get("Authorization", "")
        if self.overloaded or (self.throttle is not None and self.throttle.admit(caller) is not None):
            # API management's answer, before the system sees the request: no Retry-After.
            rate = f"{self.spike_arrest}ps" if self.spike_arrest else "0ps"
            resp = _json(429, spike_arrest_fault(rate))
            self.requests_log.append(LoggedRequest(request.method, request.path, 429, "throttled"))
            return resp
        user = self._authenticate()
        if user is None:
            resp = Response(
                "<html><head><title>Logon Error Message</title></head><body>Logon failed</body></html>",
                status=401,
                mimetype="text/html",
            )
            resp.headers["WWW-Authenticate"] = 'Basic realm="SAP NetWeaver Application Server [S4H/100]"'
            self.requests_log.append(LoggedRequest(request.method, request.path, 401, kind))
            return resp
        if scenario not in self.scenarios:
            # The user authenticates but no communication arrangement grants it this service.
            service = request.path.split("/")[5] if kind != "soap" else "journal entry"
            resp = _json(403, error_body("/IWFND/CM_CONSUMER/101", f"No authorization for service {service}"))
            self.requests_log.append(LoggedRequest(request.method, request.path, 403, kind))
            return resp
        resp = handler(user)
        self.requests_log.append(LoggedRequest(request.method, request.path, resp.status_code, kind))
        return resp

    def _session(self, user: str) -> tuple[_Session, str, bool]:
        sid = request.cookies.get(SESSION_COOKIE, "")
        with self._lock:
            found = self._sessions.get(sid)
            if found is not None and found.user == user:
                return found, sid, False
            sid = secrets.token_urlsafe(24)
            session = self._sessions[sid] = _Session(user)
            return session, sid, True

    # -- SOAP -------------------------------------------------------------------------------------

    def _soap(self, user: str) -> Response:
        if request.method == "GET":
            if "wsdl" in {k.lower() for k in request.args}:
                return Response(wsdl_for(self.specs, self.soap_url), mimetype="text/xml")
            return Response("Use POST", status=405)
        try:
            body = self.journal.handle(request.get_data(), user)
        except SoapFault as fault:
            return Response(fault_envelope(fault), status=500, mimetype="text/xml")
        if self.soap_answer_delay:
            time.sleep(self.soap_answer_delay)
        return Response(body, status=200, mimetype="text/xml")

    # -- OData ------------------------------------------------------------------------------------

    def _odata(self, service_name: str, resource: str) -> Response:
        service = self.services.get(service_name)
        if service is None:
            return _json(
                404,
                error_body(
                    "/IWFND/MED/170",
                    f"No service found for namespace '/SAP/', name '{service_name}', version '0001'",
                ),
            )
        return self._guarded(
            "metadata" if resource == "$metadata" else "batch" if resource == "$batch" else "odata",
            lambda user: self._odata_as(user, service, resource),
            scenario=SCENARIOS[service_name],
        )

    def _odata_as(self, user: str, service: Service, resource: str) -> Response:
        session, sid, fresh = self._session(user)
        method = request.method.upper()
        if request.headers.get("X-HTTP-Method", "").upper() == "MERGE":
            method = "MERGE"
        if method in _MODIFYING:
            token = request.headers.get("X-CSRF-Token", "")
            if fresh or not token or token != session.token:
                resp = Response("CSRF token validation failed", status=403, mimetype="text/plain")
                resp.headers["x-csrf-token"] = "Required"
                return self._with_cookies(resp, sid, fresh)
        headers: dict[str, str] = {}
        if request.headers.get("X-CSRF-Token", "").lower() == "fetch":
            with self._lock:
                session.token = session.token or base64.b64encode(secrets.token_bytes(16)).decode()
            headers["x-csrf-token"] = session.token
        if resource == "$batch" and method == "POST":
            resp = self._batch(service)
        else:
            part = self._dispatch(
                service,
                method,
                resource,
                request.query_string.decode("latin-1"),
                {k.lower(): v for k, v in request.headers.items()},
                request.get_data(),
            )
            resp = Response(part.body, status=part.status)
            for name, value in part.headers.items():
                resp.headers[name] = value
        for name, value in headers.items():
            resp.headers[name] = value
        if method == "HEAD":
            resp.set_data(b"")
        return self._with_cookies(resp, sid, fresh)

    @staticmethod
    def _with_cookies(resp: Response, sid: str, fresh: bool) -> Response:
        if fresh:
            resp.set_cookie(SESSION_COOKIE, sid, path="/", httponly=True)
            resp.set_cookie("sap-usercontext", "sap-client=100", path="/")
        return resp

    def _batch(self, service: Service) -> Response:
        try:
            parsed = parse_batch(request.headers.get("Content-Type", ""), request.get_data())
        except ValueError as exc:
            return _json(
                400, error_body("/IWBEP/CM_MGW_RT/004", f"Malformed batch request: {exc}", service.name)
            )
        results: list[PartResponse | list[PartResponse]] = []
        for item in parsed.items:
            if isinstance(item, list):
                results.append(self._changeset(service, item))
            else:
                if item.method != "GET":
                    results.append(
                        _part_error(
                            400,
                            "/IWBEP/CM_MGW_RT/004",
                            "Changing requests must be inside a change set",
                            service.name,
                        )
                    )
                    continue
                path, _, query = item.path.partition("?")
                results.append(
                    self._dispatch(service, "GET", _relative(path, service.name), query, item.headers, b"")
                )
        content_type, body = render_batch(results)
        return Response(body, status=202, content_type=content_type)

    def _changeset(self, service: Service, parts: list[Any]) -> PartResponse | list[PartResponse]:
        with self.book.lock:
            snapshot = {name: dict(rows) for name, rows in self.book.tables.items()}
            etags = dict(self.book.etags)
            writes = len(self.writes_log)
            out: list[PartResponse] = []
            for part in parts:
                path, _, query = part.path.partition("?")
                resp = self._dispatch(
                    service, part.method, _relative(path, service.name), query, part.headers, part.body
                )
                if resp.status >= 400:
                    # A change set is all or nothing: undo what its earlier requests did.
                    self.book.tables.update(snapshot)
                    self.book.etags.clear()
                    self.book.etags.update(etags)
                    del self.writes_log[writes:]
                    return resp
                out.append(resp)
            return out

    def _dispatch(
        self, service: Service, method: str, resource: str, query: str, headers: dict[str, str], body: bytes
    ) -> PartResponse:
        try:
            return self._resource(
                service,
                method,
                unquote(resource),
                dict(parse_qsl(query, keep_blank_values=True)),
                headers,
                body,
            )
        except ODataError as exc:
            return _part_error(exc.status, exc.code, exc.message, service.name)
        except QueryError as exc:
            return _part_error(400, "/IWBEP/CM_MGW_RT/022", str(exc), service.name)

    def _resource(
        self,
        service: Service,
        method: str,
        resource: str,
        params: dict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> PartResponse:
        if resource == "$metadata":
            return PartResponse(
                200, "OK", {"Content-Type": "application/xml", "dataserviceversion": "2.0"}, service.metadata
            )
        if resource in ("", "/"):
            doc = {"d": {"EntitySets": sorted(service.entity_sets)}}
            return PartResponse(200, "OK", {"Content-Type": "application/json"}, dumps(doc))
        name, key_text, nav, count = _split_resource(resource)
        entity_set = service.entity_set(name)
        if entity_set is None:
            raise ODataError(404, "/IWBEP/CM_MGW_RT/021", f"Resource not found for segment '{name}'")
        if key_text is None:
            if method == "POST" and not count:
                return self._create(service, entity_set, {}, body)
            if method != "GET":
                raise ODataError(405, "/IWBEP/CM_MGW_RT/020", f"Method {method} is not allowed on {name}")
            return self._collection(service, entity_set, params, count=count)
        key = parse_key(key_text, entity_set.entity_type)
        key_tuple = tuple(key[k] for k in entity_set.entity_type.keys)
        if nav:
            if method not in ("GET", "POST"):
                raise ODataError(405, "/IWBEP/CM_MGW_RT/020", f"Method {method} is not allowed on {nav}")
            parent = self._row(entity_set, key_tuple)
            navigation = entity_set.entity_type.navigations.get(nav)
            if navigation is None:
                raise ODataError(404, "/IWBEP/CM_MGW_RT/021", f"Resource not found for segment '{nav}'")
            target = service.entity_sets[navigation.target_set]
            if method == "POST":
                if not navigation.many:
                    raise ODataError(405, "/IWBEP/CM_MGW_RT/020", f"Method POST is not allowed on {nav}")
                # The child's keys it shares with the parent come from the parent's address.
                shared = [k for k in entity_set.entity_type.keys if k in target.entity_type.properties]
                return self._create(service, target, {k: parent[k] for k in shared}, body)
            children = self._children(entity_set, parent, target)
            return self._answer_rows(service, target, children, params, count=False)
        if method == "GET":
            row = self._row(entity_set, key_tuple)
            etag = self.book.etag(name, key_tuple) if name in ETAG_SETS else None
            select = _select(params)
            expanded = self._expand(service, entity_set, row, params.get("$expand", ""), select)
            data = entity_json(
                entity_set.entity_type,
                service.namespace,
                self._uri(service, entity_set, key_tuple),
                row,
                etag=etag,
                select=[s for s in select if "/" not in s],
                expanded=expanded,
            )
            out_headers = {"Content-Type": "application/json"}
            if etag:
                out_headers["ETag"] = etag
            return PartResponse(200, "OK", out_headers, dumps({"d": data}))
        if method in ("PATCH", "MERGE", "PUT"):
            return self._update(service, entity_set, key_tuple, headers, body, method)
        raise ODataError(405, "/IWBEP/CM_MGW_RT/020", f"Method {method} is not allowed on {name}")

    def _row(self, entity_set: EntitySet, key: KeyT) -> dict[str, Any]:
        row = self.book.tables.get(entity_set.name, {}).get(key)
        if row is None:
            raise ODataError(
                404, "/IWBEP/CM_MGW_RT/021", f"Resource not found for segment '{entity_set.name}'"
            )
        return row

    def _children(
        self, parent_set: EntitySet, parent: dict[str, Any], target: EntitySet
    ) -> list[tuple[KeyT, dict[str, Any]]]:
        shared = [k for k in parent_set.entity_type.keys if k in target.entity_type.properties]
        rows = self.book.tables.get(target.name, {})
        return sorted((k, r) for k, r in rows.items() if all(r.get(s) == parent.get(s) for s in shared))

    def _uri(self, service: Service, entity_set: EntitySet, key: KeyT) -> str:
        et = entity_set.entity_type
        if len(et.keys) == 1:
            predicate = f"'{key[0]}'"
        else:
            predicate = ",".join(f"{k}='{v}'" for k, v in zip(et.keys, key, strict=True))
        base = self._server.url if self._server is not None else ""
        return f"{base}{ODATA_PREFIX}{service.name}/{entity_set.name}({quote(predicate, safe=',=')})"

    def _expand(
        self, service: Service, entity_set: EntitySet, row: dict[str, Any], expand: str, select: list[str]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        paths = [p.strip() for p in unquote(expand).split(",") if p.strip()]
        firsts: dict[str, list[str]] = {}
        for path in paths:
            head, _, rest = path.partition("/")
            firsts.setdefault(head, [])
            if rest:
                firsts[head].append(rest)
        for nav_name, rests in firsts.items():
            navigation = entity_set.entity_type.navigations.get(nav_name)
            if navigation is None:
                raise QueryError(f"Property {nav_name} not found in type {entity_set.entity_type.name}")
            target = service.entity_sets[navigation.target_set]
            children = []
            sub_select = [s.partition("/")[2] for s in select if s.startswith(nav_name + "/")]
            for key, child in self._children(entity_set, row, target):
                etag = self.book.etag(target.name, key) if target.name in ETAG_SETS else None
                nested = self._expand(service, target, child, ",".join(rests), sub_select) if rests else None
                children.append(
                    entity_json(
                        target.entity_type,
                        service.namespace,
                        self._uri(service, target, key),
                        child,
                        etag=etag,
                        select=[s for s in sub_select if "/" not in s],
                        expanded=nested,
                    )
                )
            out[nav_name] = {"results": children} if navigation.many else (children[0] if children else None)
        return out

    def _collection(
        self, service: Service, entity_set: EntitySet, params: dict[str, str], *, count: bool
    ) -> PartResponse:
        rows = sorted(self.book.tables.get(entity_set.name, {}).items())
        return self._answer_rows(service, entity_set, rows, params, count=count)

    def _answer_rows(
        self,
        service: Service,
        entity_set: EntitySet,
        rows: list[tuple[KeyT, dict[str, Any]]],
        params: dict[str, str],
        *,
        count: bool,
    ) -> PartResponse:
        et = entity_set.entity_type
        if params.get("$filter"):
            predicate = parse_filter(params["$filter"], et)
            rows = [(k, r) for k, r in rows if predicate(r)]
        if params.get("$orderby"):
            for name, desc in reversed(parse_orderby(params["$orderby"], et)):
                rows.sort(key=_sort_key(name), reverse=desc)
        if count:
            return PartResponse(200, "OK", {"Content-Type": "text/plain"}, str(len(rows)).encode())
        total = len(rows)
        skip = _int_param(params, "$skip") or 0
        skip += _int_param(params, "$skiptoken") or 0
        top = _int_param(params, "$top")
        window = rows[skip:]
        if top is not None:
            window = window[:top]
        next_link = None
        if self.page_cap is not None and len(window) > self.page_cap:
            window = window[: self.page_cap]
            following = {k: v for k, v in params.items() if k not in ("$skiptoken",)}
            if top is not None:
                following["$top"] = str(top - self.page_cap)
                following.pop("$skip", None)
                following["$skiptoken"] = str(skip + self.page_cap)
            else:
                following["$skiptoken"] = str(skip + self.page_cap)
            base = self._server.url if self._server is not None else ""
            next_link = f"{base}{ODATA_PREFIX}{service.name}/{entity_set.name}?" + "&".join(
                f"{k}={quote(v, safe='$,()')}" for k, v in following.items()
            )
        select = _select(params)
        results = []
        for key, row in window:
            etag = self.book.etag(entity_set.name, key) if entity_set.name in ETAG_SETS else None
            expanded = self._expand(service, entity_set, row, params.get("$expand", ""), select)
            results.append(
                entity_json(
                    et,
                    service.namespace,
                    self._uri(service, entity_set, key),
                    row,
                    etag=etag,
                    select=[s for s in select if "/" not in s],
                    expanded=expanded,
                )
            )
        data: dict[str, Any] = {"results": results}
        if params.get("$inlinecount") == "allpages":
            data["__count"] = str(total)
        elif params.get("$inlinecount") not in (None, "none"):
            raise QueryError(f"Invalid value {params['$inlinecount']!r} for $inlinecount")
        if next_link:
            data["__next"] = next_link
        return PartResponse(200, "OK", {"Content-Type": "application/json"}, dumps({"d": data}))

    def _update(
        self,
        service: Service,
        entity_set: EntitySet,
        key: KeyT,
        headers: dict[str, str],
        body: bytes,
        method: str,
    ) -> PartResponse:
        if not entity_set.updatable:
            raise ODataError(405, "/IWBEP/CM_MGW_RT/020", f"Entity set {entity_set.name} is not updatable")
        current = self._row(entity_set, key)
        if entity_set.name in ETAG_SETS:
            expected = headers.get("if-match")
            if not expected:
                # SAP's message class; the number of this message was not found in public material.
                raise ODataError(
                    428,
                    "/IWBEP/CM_MGW_RT/191",
                    "Data service request is required to be conditional; try using If-Match",
                )
            if expected != "*" and expected != self.book.etag(entity_set.name, key):
                raise ODataError(
                    412,
                    "/IWBEP/CM_MGW_RT/190",
                    "State of the resource (entity) was already changed (If-Match)",
                )
        payload = _payload(body)
        et = entity_set.entity_type
        changes: dict[str, Any] = {}
        for name, value in payload.items():
            if name == "__metadata":
                continue
            prop = et.properties.get(name)
            if prop is None:
                raise ODataError(
                    400, "/IWBEP/CM_MGW_RT/022", f"Property {name} is invalid for type {et.name}"
                )
            if name in et.keys:
                if python_value(prop, value) != current.get(name):
                    raise ODataError(400, "/IWBEP/CM_MGW_RT/022", f"Key property {name} cannot be changed")
                continue
            if not prop.updatable:
                raise ODataError(400, "/IWBEP/CM_MGW_RT/022", f"Property {name} is read-only")
            changes[name] = python_value(prop, value)
        self._check_business_rules(entity_set.name, changes)
        if method == "PUT":
            changes = {
                n: changes.get(n) for n in et.properties if n not in et.keys and et.properties[n].updatable
            }
        before = dict(current)
        self.book.update(entity_set.name, key, changes)
        self.writes_log.append(
            {"entity_set": entity_set.name, "key": key, "changes": changes, "before": before}
        )
        return PartResponse(204, "No Content", {"ETag": self.book.etag(entity_set.name, key) or ""})

    def _create(
        self, service: Service, entity_set: EntitySet, inherited: dict[str, Any], body: bytes
    ) -> PartResponse:
        """A POST: a new entity with the properties sent, as the EDMX allows them on create.

        Properties SAP marks ``sap:creatable="false"`` can only come from the parent's address (a
        POST on a navigation property), never from the body.
        """
        if not entity_set.creatable or entity_set.name not in self.book.tables:
            raise ODataError(405, "/IWBEP/CM_MGW_RT/020", f"Entity set {entity_set.name} is not creatable")
        payload = _payload(body)
        et = entity_set.entity_type
        row: dict[str, Any] = dict(inherited)
        for name, value in payload.items():
            if name == "__metadata":
                continue
            prop = et.properties.get(name)
            if prop is None:
                raise ODataError(
                    400, "/IWBEP/CM_MGW_RT/022", f"Property {name} is invalid for type {et.name}"
                )
            converted = python_value(prop, value)
            if name in inherited:
                if converted != inherited[name]:
                    raise ODataError(400, "/IWBEP/CM_MGW_RT/022", f"Key property {name} cannot be changed")
                continue
            if not prop.creatable:
                raise ODataError(400, "/IWBEP/CM_MGW_RT/022", f"Property {name} is read-only")
            row[name] = converted
        missing = [k for k in et.keys if not row.get(k)]
        if missing:
            raise ODataError(400, "/IWBEP/CM_MGW_RT/022", f"Key property {missing[0]} is missing")
        for name, prop in et.properties.items():
            row.setdefault(name, None if prop.nullable else "")
        key = tuple(row[k] for k in et.keys)
        with self.book.lock:
            if key in self.book.tables[entity_set.name]:
                # SAP's message number for a duplicate was not found in public material.
                raise ODataError(400, "/IWBEP/CM_MGW_RT/022", f"{et.name} {'/'.join(key)} already exists")
            self.book.put(entity_set.name, key, row)
        self.writes_log.append(
            {"entity_set": entity_set.name, "key": key, "changes": dict(row), "before": None}
        )
        uri = self._uri(service, entity_set, key)
        data = entity_json(et, service.namespace, uri, row, etag=None, select=[])
        return PartResponse(
            201, "Created", {"Content-Type": "application/json", "Location": uri}, dumps({"d": data})
        )

    @staticmethod
    def _check_business_rules(entity_set: str, changes: dict[str, Any]) -> None:
        if entity_set != "A_CustomerDunning":
            return
        block = changes.get("DunningBlock")
        if block is not None and block not in DUNNING_BLOCKS:
            raise ODataError(400, "F2/101", f"Dunning block reason {block} is not defined")
        level = changes.get("DunningLevel")
        if level is not None and not (len(level) == 1 and level.isdigit()):
            raise ODataError(400, "F2/102", f"Dunning level {level} is not valid (0 to 9)")


def spike_arrest_fault(rate: str) -> dict[str, Any]:
    """The fault body of API management's Spike Arrest policy (an Apigee policy) when it refuses a call."""
    return {
        "fault": {
            "faultstring": f"Spike arrest violation. Allowed rate : {rate}",
            "detail": {"errorcode": "policies.ratelimit.SpikeArrestViolation"},
        }
    }


def _payload(body: bytes) -> dict[str, Any]:
    """A request body's entity: SAP takes the properties bare or wrapped in ``d``."""
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise ODataError(400, "/IWBEP/CM_MGW_RT/004", "Malformed request body: not JSON") from None
    if isinstance(payload, dict) and isinstance(payload.get("d"), dict):
        payload = payload["d"]
    if not isinstance(payload, dict):
        raise ODataError(400, "/IWBEP/CM_MGW_RT/004", "Malformed request body: expected an object")
    return payload


def _relative(path: str, service: str) -> str:
    marker = f"{ODATA_PREFIX}{service}/"
    path = urlsplit(path).path if path.startswith("http") else path
    if marker in path:
        return path.split(marker, 1)[1]
    return path.lstrip("/")


def _split_resource(resource: str) -> tuple[str, str | None, str | None, bool]:
    count = resource.endswith("/$count")
    if count:
        resource = resource[: -len("/$count")]
    if "(" not in resource:
        return resource.strip("/"), None, None, count
    name, _, rest = resource.partition("(")
    key_text, _, tail = rest.rpartition(")")
    return name, key_text, (tail.strip("/") or None), count


def _sort_key(name: str) -> Callable[[tuple[KeyT, dict[str, Any]]], tuple[bool, Any]]:
    """Rows ordered by one property, blanks (null) first as SAP's database sorts them."""

    def key(kr: tuple[KeyT, dict[str, Any]]) -> tuple[bool, Any]:
        value = kr[1].get(name)
        return value is not None, value or ""

    return key


def _select(params: dict[str, str]) -> list[str]:
    return [s.strip() for s in unquote(params.get("$select", "")).split(",") if s.strip()]


def _int_param(params: dict[str, str], name: str) -> int | None:
    if name not in params:
        return None
    try:
        value = int(params[name])
    except ValueError:
        raise QueryError(f"Invalid value {params[name]!r} for {name}") from None
    if value < 0:
        raise QueryError(f"Invalid value {params[name]!r} for {name}")
    return value


def _json(status: int, data: Any) -> Response:
    return Response(dumps(data), status=status, content_type="application/json")


def _part_error(status: int, code: str, message: str, service: str) -> PartResponse:
    return PartResponse(
        status,
        _REASONS.get(status, "Error"),
        {"Content-Type": "application/json"},
        dumps(error_body(code, message, service)),
    )


def new_message_id() -> str:
    return uuid.uuid4().hex.upper()
