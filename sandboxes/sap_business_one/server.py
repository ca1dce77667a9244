"""A local server answering like SAP Business One's Service Layer (``/b1s/v2``, OData v4) for arbridge.

``ServiceLayerSandbox`` serves ``Login``/``Logout`` with the B1SESSION and ROUTEID cookies and a
session timeout; ``$metadata`` from SAP's own file in the vendor specs folder, against which every
body is validated (an unknown property is refused, a read-only one ignored, as the Service Layer
does); BusinessPartners, Invoices, CreditNotes, IncomingPayments and Activities with ``$filter``,
``$orderby``, ``$select`` and server-driven paging (``Prefer: odata.maxpagesize`` or
``B1S-PageSize``, default 20, ``@odata.nextLink``); ETags with ``If-Match`` (412 when stale);
user-defined fields created through ``UserFieldsMD`` and then accepted on the objects; incoming
payments that reduce the invoices' open amounts and refuse over-application; the payment's
``Cancel`` action; multipart ``$batch`` that stops at the first failure; and a loaded Service
Layer's back-pressure (a cap on requests in flight, answered 503 with Retry-After) unless off.

    with ServiceLayerSandbox(seed="demo") as b1:
        print(b1.service_root)
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from flask import Flask, Response, request

from sandboxes.sap_business_one.company import ENTITY_SETS, Company
from sandboxes.sap_business_one.errors import (
    B1Error,
    busy,
    invalid_property,
    invalid_session,
    login_failed,
    not_found,
    not_supported,
    stale,
)
from sandboxes.sap_business_one.metadata import Metadata, StructuredType, load_metadata
from sandboxes.sap_business_one.query import parse_filter, select, sort_key
from sandboxes.sap_business_one.seed import seed_company
from sandboxes.serving import BackgroundServer
from sandboxes.throttle import ConcurrencyCap, SlidingWindow

__all__ = ["ServiceLayerSandbox"]

ROOT = "/b1s/v2"
DEFAULT_PAGE = 20
VERSION = "1000280"
JSON_TYPE = "application/json;odata.metadata=minimal;charset=utf-8"
#: Requests one Service Layer node works on at once before its balancer answers 503.
MAX_IN_FLIGHT = 16
_SEGMENT = re.compile(r"^(?P<set>[A-Za-z_]\w*)(?:\((?P<key>[^)]*)\))?(?:/(?P<action>\w+))?$")
_MAXPAGESIZE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)")
_EDM_CHECK: dict[str, Callable[[Any], bool]] = {
    "Edm.String": lambda v: isinstance(v, str),
    "Edm.Int32": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Edm.Int64": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Edm.Double": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "Edm.Decimal": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "Edm.DateTimeOffset": lambda v: isinstance(v, str) and re.match(r"^\d{4}-\d{2}-\d{2}", v) is not None,
    "Edm.TimeOfDay": lambda v: isinstance(v, str) and re.match(r"^\d{2}:\d{2}(:\d{2})?$", v) is not None,
}


@dataclass
class _Session:
    user: str
    last_used: float
    route: str = ".node1"


@dataclass
class _Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class ServiceLayerSandbox:
    """One company database behind one Service Layer, on a local port.

    Args:
        port: TCP port (0 picks a free one).
        seed: ``demo``, ``empty`` or ``large``.
        invoices: invoice count of the ``large`` seed.
        company_db, users: the company database name and its users (user → password).
        session_timeout: minutes a session lives without a request (B1's default: 30).
        throttle: answer like a loaded Service Layer (at most ``MAX_IN_FLIGHT`` requests at once,
            503 with Retry-After beyond); off for benchmarks.
        clock: the current time, aware (injected so tests control update times and expiry).
        zone: the company server's time zone, in which UpdateDate and UpdateTime are stamped.
        specs: the vendor specs folder (default: ``$ARBRIDGE_SPECS`` or ``../shared/specs``).
        write_answer_delay: seconds between applying a POST or PATCH (a ``$batch`` of them too) and
            answering it: a slow network, in which a client may die after B1 acted and before it
            heard so.
        on_change: called after every POST or PATCH the company took (a ``$batch`` too), before
            the answer: keeps a copy of B1's tables (``database.B1Database``) up to date.

    Attributes:
        requests_log: every request: method, path, status (inner requests of a ``$batch`` too).
        patches: every PATCH applied, by ``(entity set, key)``: the properties it changed.
        ignored: read-only properties a client sent and the sandbox ignored (as B1 does).
    """

    def __init__(
        self,
        port: int = 0,
        seed: str = "demo",
        invoices: int | None = None,
        company_db: str = "SBODEMOUS",
        users: dict[str, str] | None = None,
        session_timeout: float = 30,
        throttle: bool = True,
        clock: Callable[[], datetime] | None = None,
        zone: str = "UTC",
        specs: str | None = None,
        write_answer_delay: float = 0.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.port = port
        self.company_db = company_db
        self.users = dict(users or {"manager": "B1-sandbox-password"})
        self.session_timeout = session_timeout
        self.write_answer_delay = write_answer_delay
        self.on_change = on_change
        self.clock = clock or (lambda: datetime.now(UTC))
        self.metadata: Metadata = load_metadata(specs)
        self.company = Company(self.clock, zone)
        seed_company(self.company, seed, invoices)
        self.requests_log: list[dict[str, Any]] = []
        self.patches: dict[tuple[str, Any], list[dict[str, Any]]] = {}
        self.ignored: list[tuple[str, str]] = []
        self.logins = 0
        self._locked = False
        self._sessions: dict[str, _Session] = {}
        self._cap: ConcurrencyCap | None = ConcurrencyCap(MAX_IN_FLIGHT) if throttle else None
        self._window: SlidingWindow | None = None
        self._busy_until = 0.0
        self._busy_retry = 1.0
        self._fail: list[int] = []
        self._guard = threading.Lock()
        self._server: BackgroundServer | None = None
        self.app = self._build_app()

    # ----------------------------------------------------------------- lifecycle and addresses

    def start(self) -> ServiceLayerSandbox:
        self._server = BackgroundServer(self.app, port=self.port, threads=8, name="b1-sandbox").start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> ServiceLayerSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def service_root(self) -> str:
        return f"{self.base_url}{ROOT}"

    @property
    def user(self) -> str:
        return next(iter(self.users))

    @property
    def password(self) -> str:
        return self.users[self.user]

    # ----------------------------------------------------------------- test and admin helpers

    def expire_sessions(self) -> None:
        """Let every session time out now, as if the client had been idle past SessionTimeout."""
        with self._guard:
            for session in self._sessions.values():
                session.last_used = -1e12

    def revoke(self) -> None:
        """Refuse every login and session from now on (the user was locked)."""
        with self._guard:
            self._locked = True
            self._sessions.clear()

    def busy_for(self, seconds: float, retry_after: float) -> None:
        """Answer every request 503 with ``Retry-After`` for ``seconds`` (a Service Layer under load)."""
        self._busy_until = time.monotonic() + seconds
        self._busy_retry = retry_after

    def set_rate(self, limit: int | None, window: float = 60.0) -> None:
        """At most ``limit`` requests per ``window`` seconds per user, 503 beyond (None: no limit)."""
        self._window = SlidingWindow(limit, window) if limit else None

    def fail_next(self, n: int, status: int = 503) -> None:
        with self._guard:
            self._fail.extend([status] * n)

    def touch(self, entity_set: str, key: Any, when: datetime | None = None, **changes: Any) -> None:
        """Change a record as a B1 user would: its fields, its update day and time, its ETag."""
        with self.company.lock:
            record = self.company.get(entity_set, key)
            record.update(changes)
            if entity_set == "BusinessPartners":
                self.company.copy_bill_to(record)
            self.company.stamp(record, when)

    def calls(self) -> int:
        """HTTP requests received (a ``$batch`` is one, whatever it holds)."""
        return sum(1 for r in self.requests_log if not r["inner"])

    def udf(self, table: str, name: str) -> dict[str, Any] | None:
        return next((u for u in self.company.udfs if u["TableName"] == table and u["Name"] == name), None)

    # ----------------------------------------------------------------- Flask app

    def _build_app(self) -> Flask:
        app = Flask("b1-sandbox")
        app.url_map.strict_slashes = False

        @app.route(f"{ROOT}/<path:rest>", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
        def service(rest: str) -> Response:
            return self._serve(rest)

        return app

    def _serve(self, rest: str) -> Response:
        raw_path = unquote(urlsplit(request.full_path).path)[len(ROOT) + 1 :]
        try:
            refusal = self._admit()
            if refusal is not None:
                raise refusal
            if self._cap is None:
                answer = self._front(raw_path)
            else:
                with self._cap.slot(self.company_db) as admitted:
                    if not admitted:
                        raise busy(1.0)
                    answer = self._front(raw_path)
        except B1Error as err:
            answer = _Answer(err.status, err.body(), dict(err.headers))
        self._log(request.method, raw_path, answer.status)
        changed = request.method in ("POST", "PATCH") and raw_path not in ("Login", "Logout")
        if changed and answer.status < 400 and self.on_change is not None:
            with self.company.lock:
                self.on_change()
        if (
            self.write_answer_delay
            and request.method in ("POST", "PATCH")
            and raw_path not in ("Login", "Logout")
        ):
            time.sleep(self.write_answer_delay)
        return self._respond(answer)

    def _admit(self) -> B1Error | None:
        with self._guard:
            if self._fail:
                status = self._fail.pop(0)
                return B1Error(
                    status, str(-status), "Service Layer is temporarily unavailable", {"Retry-After": "1"}
                )
        if time.monotonic() < self._busy_until:
            return busy(self._busy_retry)
        if self._window is not None:
            wait = self._window.admit(request.cookies.get("B1SESSION", ""))
            if wait is not None:
                return busy(wait)
        return None

    def _respond(self, answer: _Answer) -> Response:
        if isinstance(answer.body, bytes):
            response = Response(answer.body, status=answer.status)
        elif answer.body is None:
            response = Response(b"", status=answer.status)
        else:
            response = Response(
                json.dumps(answer.body).encode(), status=answer.status, content_type=JSON_TYPE
            )
        response.headers["OData-Version"] = "4.0"
        for k, v in answer.headers.items():
            if k == "Set-Cookie":
                for cookie in v.split("\n"):
                    response.headers.add("Set-Cookie", cookie)
            else:
                response.headers[k] = v
        return response

    def _log(self, method: str, path: str, status: int, inner: bool = False) -> None:
        with self._guard:
            self.requests_log.append({"method": method, "path": path, "status": status, "inner": inner})

    def _front(self, path: str) -> _Answer:
        if path == "Login" and request.method == "POST":
            return self._login()
        session_id = self._session()
        if path == "Logout" and request.method == "POST":
            with self._guard:
                self._sessions.pop(session_id, None)
            return _Answer(204)
        if path == "$metadata":
            return _Answer(200, self.metadata.raw, {"Content-Type": "application/xml"})
        if path == "$batch" and request.method == "POST":
            return self._batch(request.headers.get("Content-Type", ""), request.get_data())
        body = request.get_data()
        query = dict(parse_qsl(urlsplit(request.full_path).query, keep_blank_values=True))
        return self._dispatch(request.method, path, query, dict(request.headers), body)

    # ----------------------------------------------------------------- sessions

    def _login(self) -> _Answer:
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise B1Error(400, "-1000", "Invalid JSON in the request body") from None
        if not isinstance(body, dict):
            raise B1Error(400, "-1000", "Invalid JSON in the request body")
        allowed = {"CompanyDB", "UserName", "Password", "Language"}
        for name in body:
            if name not in allowed:
                raise invalid_property(name, "Login")
        user = str(body.get("UserName") or "")
        known = self.users.get(user) == body.get("Password")
        if self._locked or body.get("CompanyDB") != self.company_db or not known:
            raise login_failed()
        session_id = secrets.token_hex(18)
        with self._guard:
            self._sessions[session_id] = _Session(user, time.monotonic())
            self.logins += 1
        cookies = f"B1SESSION={session_id}; HttpOnly\nROUTEID=.node1; path=/b1s"
        payload = {
            "@odata.context": f"{request.host_url.rstrip('/')}{ROOT}/$metadata#B1Sessions/$entity",
            "SessionId": session_id,
            "Version": VERSION,
            "SessionTimeout": int(self.session_timeout),
        }
        return _Answer(200, payload, {"Set-Cookie": cookies})

    def _session(self) -> str:
        session_id = request.cookies.get("B1SESSION", "")
        route = request.cookies.get("ROUTEID")
        now = time.monotonic()
        with self._guard:
            session = self._sessions.get(session_id)
            if (
                session is None
                or route != session.route
                or now - session.last_used > self.session_timeout * 60
            ):
                self._sessions.pop(session_id, None)
                raise invalid_session()
            session.last_used = now
        return session_id

    # ----------------------------------------------------------------- resources

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Answer:
        match = _SEGMENT.match(path)
        if match is None:
            raise B1Error(404, "-1000", f"Resource not found for the segment '{path}'")
        name, key, action = match.group("set"), match.group("key"), match.group("action")
        if name == "UserFieldsMD":
            return self._user_fields(method, key, query, body)
        if name not in self.metadata.entity_sets:
            raise B1Error(404, "-1000", f"Resource not found for the segment '{name}'")
        if name not in ENTITY_SETS:
            raise not_supported()
        etype = self.metadata.entity_type(name)
        with self.company.lock:
            if key is None:
                if method == "GET":
                    return self._collection(name, etype, query, headers)
                if method == "POST":
                    return self._create(name, etype, self._json(body))
                raise not_supported()
            record_key = self._key(name, key)
            if action:
                if method != "POST" or action not in self.metadata.bound_actions.get(etype.name, set()):
                    raise B1Error(404, "-1000", f"Resource not found for the segment '{action}'")
                if name != "IncomingPayments" or action != "Cancel":
                    raise not_supported()
                self.company.cancel_payment(record_key)
                return _Answer(204)
            record = self.company.get(name, record_key)
            if method == "GET":
                view = select(self.company.view(name, record), query.get("$select"), etype, self._udfs(etype))
                etag = self.company.etag(name, record)
                return _Answer(
                    200,
                    {"@odata.context": self._context(name, "/$entity"), **view},
                    {"ETag": etag} if etag else {},
                )
            if method == "PATCH":
                return self._patch(name, etype, record, headers, self._json(body))
            raise not_supported()

    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise B1Error(400, "-1000", "Invalid JSON in the request body") from None
        if not isinstance(data, dict):
            raise B1Error(400, "-1000", "Invalid JSON in the request body")
        return data

    def _key(self, entity_set: str, text: str) -> Any:
        prop = ENTITY_SETS[entity_set][0]
        text = text.split("=", 1)[1] if "=" in text else text
        if prop == "CardCode":
            if not (text.startswith("'") and text.endswith("'")):
                raise B1Error(400, "-1000", f"Invalid key for '{entity_set}': {text}")
            return text[1:-1].replace("''", "'")
        try:
            return int(text)
        except ValueError:
            raise B1Error(400, "-1000", f"Invalid key for '{entity_set}': {text}") from None

    def _context(self, entity_set: str, suffix: str = "") -> str:
        return f"{request.host_url.rstrip('/')}{ROOT}/$metadata#{entity_set}{suffix}"

    def _udfs(self, etype: StructuredType) -> dict[str, str]:
        return self.company.udf_properties(etype.name)

    def _page_size(self, headers: dict[str, str]) -> int:
        lower = {k.lower(): v for k, v in headers.items()}
        prefer = _MAXPAGESIZE.search(lower.get("prefer", ""))
        if prefer:
            return int(prefer.group(1))
        if lower.get("b1s-pagesize", "").strip().isdigit():
            return int(lower["b1s-pagesize"])
        return DEFAULT_PAGE

    def _collection(
        self, name: str, etype: StructuredType, query: dict[str, str], headers: dict[str, str]
    ) -> _Answer:
        extra = self._udfs(etype)
        rows = list(self.company.tables[name].values())
        if query.get("$filter"):
            predicate = parse_filter(query["$filter"], etype, extra)
            rows = [r for r in rows if predicate(r)]
        rows.sort(key=sort_key(query.get("$orderby") or ENTITY_SETS[name][0], etype, extra))
        skip = int(query.get("$skip") or 0)
        top = int(query["$top"]) if query.get("$top") else None
        size = self._page_size(headers)
        end = len(rows) if top is None else min(len(rows), skip + top)
        limit = end if size == 0 else min(end, skip + size)
        page = rows[skip:limit]
        body: dict[str, Any] = {
            "@odata.context": self._context(name),
            "value": [select(self.company.view(name, r), query.get("$select"), etype, extra) for r in page],
        }
        answer_headers: dict[str, str] = {}
        if size and any(k.lower() == "prefer" for k in headers):
            answer_headers["Preference-Applied"] = f"odata.maxpagesize={size}"
        if limit < end and top is None:
            following = {k: v for k, v in query.items() if k != "$skip"}
            following["$skip"] = str(limit)
            body["@odata.nextLink"] = f"{name}?" + "&".join(
                f"{k}={quote(v, safe=chr(39) + '$,')}" for k, v in following.items()
            )
        return _Answer(200, body, answer_headers)

    def _check_body(self, etype: StructuredType, body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        """The body's properties B1 takes, after refusing unknown ones (read-only ones are dropped)."""
        extra = self._udfs(etype)
        kept: dict[str, Any] = {}
        for name, value in body.items():
            edm = etype.properties.get(name) or extra.get(name)
            if edm is None:
                raise invalid_property(name, etype.name)
            if name in etype.read_only or (not creating and name in etype.key):
                self.ignored.append((etype.name, name))
                continue
            self._check_value(etype.name, name, edm, value)
            kept[name] = value
        return kept

    def _check_value(self, type_name: str, name: str, edm: str, value: Any) -> None:
        if value is None:
            return
        if edm.startswith("Collection("):
            inner = self.metadata.structured(edm)
            if not isinstance(value, list) or inner is None:
                raise B1Error(400, "-1000", f"Property '{name}' of '{type_name}' expects a collection")
            for item in value:
                if not isinstance(item, dict):
                    raise B1Error(400, "-1000", f"Property '{name}' of '{type_name}' expects objects")
                self._check_body(inner, item, creating=True)
            return
        enum = self.metadata.enum_of(edm)
        if enum is not None:
            if value not in enum:
                raise B1Error(400, "-1000", f"Value '{value}' of property '{name}' is not a member of {edm}")
            return
        check = _EDM_CHECK.get(edm)
        if check is not None and not check(value):
            raise B1Error(400, "-1000", f"Value of property '{name}' of '{type_name}' is not a valid {edm}")

    def _create(self, name: str, etype: StructuredType, body: dict[str, Any]) -> _Answer:
        kept = self._check_body(etype, body, creating=True)
        if name == "Activities":
            activity = self.company.add_activity(kept)
            key = activity["ActivityCode"]
            return _Answer(
                201,
                {"@odata.context": self._context(name, "/$entity"), **self.company.view(name, activity)},
                {"Location": f"{request.host_url.rstrip('/')}{ROOT}/{name}({key})"},
            )
        if name != "IncomingPayments":
            raise not_supported()
        for line in kept.get("PaymentInvoices") or []:
            line.setdefault("InvoiceType", "it_Invoice")
        record = self.company.add_payment(kept)
        view = self.company.view(name, record)
        location = f"{request.host_url.rstrip('/')}{ROOT}/{name}({record['DocEntry']})"
        return _Answer(
            201, {"@odata.context": self._context(name, "/$entity"), **view}, {"Location": location}
        )

    def _patch(
        self,
        name: str,
        etype: StructuredType,
        record: dict[str, Any],
        headers: dict[str, str],
        body: dict[str, Any],
    ) -> _Answer:
        if name == "IncomingPayments":
            raise not_supported()
        if_match = next((v for k, v in headers.items() if k.lower() == "if-match"), None)
        current = self.company.etag(name, record)
        if if_match is not None and if_match != "*" and if_match != current:
            raise stale()
        kept = self._check_body(etype, body, creating=False)
        changed = {k: v for k, v in kept.items() if record.get(k) != v}
        record.update(kept)
        if name == "BusinessPartners":
            self.company.copy_bill_to(record)
        self.company.stamp(record)
        self.patches.setdefault((name, record[ENTITY_SETS[name][0]]), []).append(changed)
        return _Answer(204, None, {"ETag": self.company.etag(name, record) or ""})

    # ----------------------------------------------------------------- UserFieldsMD

    def _user_fields(self, method: str, key: str | None, query: dict[str, str], body: bytes) -> _Answer:
        etype = self.metadata.entity_type("UserFieldsMD")
        with self.company.lock:
            if key is None and method == "GET":
                rows = list(self.company.udfs)
                if query.get("$filter"):
                    predicate = parse_filter(query["$filter"], etype, {})
                    rows = [r for r in rows if predicate(r)]
                return _Answer(200, {"@odata.context": self._context("UserFieldsMD"), "value": rows})
            if key is None and method == "POST":
                data = self._json(body)
                for name, value in data.items():
                    edm = etype.properties.get(name)
                    if edm is None:
                        raise invalid_property(name, etype.name)
                    self._check_value(etype.name, name, edm, value)
                record = self.company.add_udf(data)
                return _Answer(201, {"@odata.context": self._context("UserFieldsMD", "/$entity"), **record})
            raise not_supported()

    # ----------------------------------------------------------------- $batch

    def _batch(self, content_type: str, body: bytes) -> _Answer:
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        if not message.is_multipart():
            raise B1Error(400, "-1000", "Incomplete Batch Request Body!")
        boundary = f"batchresponse_{secrets.token_hex(8)}"
        out: list[str] = []
        for part in message.iter_parts():
            if part.is_multipart():
                changeset = f"changesetresponse_{secrets.token_hex(8)}"
                answers: list[tuple[str, _Answer]] = []
                failed: _Answer | None = None
                for sub in part.iter_parts():
                    answer = self._inner(_payload(sub))
                    if answer.status >= 400:
                        failed = answer
                        break
                    answers.append((str(sub.get("Content-ID") or ""), answer))
                if failed is not None:
                    out.append(f"--{boundary}\r\n" + _http_part(failed))
                    break
                lines = [f"--{boundary}", f"Content-Type: multipart/mixed;boundary={changeset}", ""]
                for cid, answer in answers:
                    lines.append(f"--{changeset}\r\n" + _http_part(answer, cid))
                lines.append(f"--{changeset}--")
                out.append("\r\n".join(lines))
            else:
                answer = self._inner(_payload(part))
                out.append(f"--{boundary}\r\n" + _http_part(answer))
                if answer.status >= 400:
                    break
        payload = ("\r\n".join(out) + f"\r\n--{boundary}--\r\n").encode()
        return _Answer(200, payload, {"Content-Type": f"multipart/mixed;boundary={boundary}"})

    def _inner(self, payload: bytes) -> _Answer:
        text = payload.decode("utf-8").replace("\r\n", "\n")
        head, _, body = text.partition("\n\n")
        lines = head.split("\n")
        try:
            method, target, _ = lines[0].split(" ", 2)
        except ValueError:
            return _Answer(400, B1Error(400, "-1000", "Incomplete Batch Request Body!").body())
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip()] = v.strip()
        parts = urlsplit(target)
        path = unquote(parts.path)
        path = path[len(ROOT) + 1 :] if path.startswith(ROOT + "/") else path.lstrip("/")
        try:
            answer = self._dispatch(
                method, path, dict(parse_qsl(parts.query)), headers, body.strip().encode()
            )
        except B1Error as err:
            answer = _Answer(err.status, err.body(), dict(err.headers))
        self._log(method, path, answer.status, inner=True)
        return answer


def _payload(part: Any) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    412: "Precondition Failed",
    503: "Service Unavailable",
}


def _http_part(answer: _Answer, content_id: str = "") -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"HTTP/1.1 {answer.status} {_REASONS.get(answer.status, 'Error')}"]
    for k, v in answer.headers.items():
        lines.append(f"{k}: {v}")
    if answer.body is not None:
        lines += [f"Content-Type: {JSON_TYPE}", "", json.dumps(answer.body)]
    else:
        lines.append("")
    return "\r\n".join(lines)


__all__ += ["not_found"]
