"""A local SuiteTalk SOAP server for the parts of NetSuite arbridge uses.

It serves its WSDL, validates every request envelope against its schema (an invalid one gets a SOAP
fault, as NetSuite answers), checks the Token-Based Authentication ``tokenPassport`` signature,
enforces the account's concurrency limit, pages searches with ``searchMoreWithId``, applies
``externalId`` upsert semantics, and answers list operations with one status per record.

    with NetSuiteSandbox(seed="demo") as sandbox:
        print(sandbox.url, sandbox.wsdl_url)
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lxml import etree

from sandboxes.netsuite.schema import HERE, SOAP_ENV, VERSION, XSD, XSI, EnvelopeValidator, Namespaces
from sandboxes.netsuite.seed import PACIFIC
from sandboxes.netsuite.seed import seed as seed_book
from sandboxes.netsuite.store import (
    SUBLISTS,
    TRANSACTION_SEARCH_TYPES,
    Book,
    RecordError,
    WriteOutcome,
    fmt_datetime,
)

DEFAULT_CREDENTIALS = {
    "consumer_key": "sandbox-consumer-key",
    "consumer_secret": "sandbox-consumer-secret",
    "token_id": "sandbox-token-id",
    "token_secret": "sandbox-token-secret",
}
# SuiteTalk's synchronous record limits (SOAP Web Services Governance Overview).
LIST_LIMITS = {"updateList": 100, "upsertList": 100, "getList": 1000}
PAGE_SIZE_MIN = 5
TIMESTAMP_SKEW = 300
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


class SoapFault(Exception):
    """Answered as a ``soapenv:Fault`` with a SuiteTalk fault element in ``detail``."""

    def __init__(
        self, element: str | None, code: str, message: str, faultcode: str = "soapenv:Server.userException"
    ):
        super().__init__(message)
        self.element = element
        self.code = code
        self.message = message
        self.faultcode = faultcode


THROTTLE_FAULTS = {
    "concurrent": (
        "exceededConcurrentRequestLimitFault",
        "WS_REQUEST_BLOCKED",
        "SuiteTalk concurrent request limit exceeded. Request blocked.",
    ),
    "request": (
        "exceededRequestLimitFault",
        "WS_REQUEST_BLOCKED",
        "SuiteTalk concurrent request limit exceeded. Request blocked.",
    ),
    "session": (
        "exceededRequestLimitFault",
        "WS_CONCUR_SESSION_DISALLWD",
        "Only one request may be made against a session at a time",
    ),
}


@dataclass
class LoggedRequest:
    """One request as the sandbox received it, with how it was answered."""

    operation: str
    body: bytes
    status: int
    fault_code: str | None = None
    at: float = field(default_factory=time.time)


@dataclass
class LoggedWrite:
    """One record of a write operation: whether it created a record, changed one, or was refused."""

    operation: str
    record_type: str
    internal_id: str | None
    external_id: str | None
    ok: bool
    created: bool


@dataclass
class _Search:
    ids: list[tuple[str, str]]
    page_size: int
    body_fields_only: bool


class NetSuiteSandbox:
    """A SuiteTalk SOAP endpoint on loopback, seeded with data.

    Args:
        port: TCP port (0 picks a free one).
        seed: ``demo``, ``empty`` or ``large``.
        account: the account id the ``tokenPassport`` must name.
        consumer_key, consumer_secret, token_id, token_secret: the integration's TBA credentials.
        concurrency_limit: requests in flight at once before ``ExceededConcurrentRequestLimitFault``.
        page_size_max: the largest search page served.
        latency: seconds each request takes, so concurrent clients really overlap.
        invoices: invoice count of the ``large`` seed.

    Attributes:
        requests_log: every SOAP request received, with its status and fault code.
        writes_log: every record a write operation carried, with its ``externalId`` and whether it
            created a record or changed an existing one (an upsert of a known ``externalId``).
    """

    def __init__(
        self,
        port: int = 0,
        seed: str = "demo",
        account: str = "TSTDRV1234567",
        consumer_key: str = DEFAULT_CREDENTIALS["consumer_key"],
        consumer_secret: str = DEFAULT_CREDENTIALS["consumer_secret"],
        token_id: str = DEFAULT_CREDENTIALS["token_id"],
        token_secret: str = DEFAULT_CREDENTIALS["token_secret"],
        concurrency_limit: int = 5,
        page_size_max: int = 1000,
        latency: float = 0.0,
        invoices: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.account = account
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.token_id = token_id
        self.token_secret = token_secret
        self.concurrency_limit = concurrency_limit
        self.page_size_max = page_size_max
        self.latency = latency
        self.ns = Namespaces(VERSION)
        self.book = Book(self.ns, clock=lambda: datetime.now(PACIFIC))
        seed_book(self.book, seed, invoices=invoices)
        self.validator = EnvelopeValidator()
        self.requests_log: list[LoggedRequest] = []
        self.writes_log: list[LoggedWrite] = []
        self._lock = threading.RLock()
        self._in_flight = 0
        self._forced: list[str] = []
        self._searches: dict[str, _Search] = {}
        self._nonces: set[tuple[str, str]] = set()
        self._nsid = itertools.count(1)
        self._host = host
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """The SOAP endpoint (what ``DATACENTER_URL_TEMPLATE`` points at in production)."""
        return f"{self.base_url}/services/NetSuitePort_{VERSION}"

    @property
    def wsdl_url(self) -> str:
        return f"{self.base_url}/wsdl/v{VERSION}_0/netsuite.wsdl"

    def start(self) -> NetSuiteSandbox:
        """Serve in a background thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="netsuite-sandbox", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread (the CLI)."""
        self._server.serve_forever()

    def __enter__(self) -> NetSuiteSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls ----------------------------------------------------------------------------

    def touch(self, record_type: str, internal_id: str, **fields: Any) -> None:
        """Change a record as a user in NetSuite would: set ``fields`` and bump ``lastModifiedDate``."""
        with self._lock:
            rec = copy.deepcopy(self.book.get(record_type, internal_id))
            for name, value in fields.items():
                self.book.set_field(rec, record_type, name, value)
            self.book.put(record_type, rec)

    def delete(self, record_type: str, internal_id: str) -> None:
        """Delete a record; ``getDeleted`` reports it from now on."""
        with self._lock:
            self.book.delete(record_type, internal_id)

    def exceed_concurrency(self, n: int = 1, kind: str = "concurrent") -> None:
        """Answer the next ``n`` requests with a throttling fault of ``kind`` (see ``THROTTLE_FAULTS``)."""
        if kind not in THROTTLE_FAULTS:
            raise ValueError(f"kind must be one of {sorted(THROTTLE_FAULTS)}")
        with self._lock:
            self._forced.extend([kind] * n)

    def ids(self, record_type: str) -> list[str]:
        """Internal ids of the records of one type, for tests."""
        with self._lock:
            return list(self.book.records[record_type])

    def record(self, record_type: str, internal_id: str) -> etree._Element:
        """A copy of one stored record."""
        with self._lock:
            return copy.deepcopy(self.book.get(record_type, internal_id))

    def calls(self, operation: str | None = None) -> int:
        """How many SOAP requests were received (of one operation, if given)."""
        return sum(1 for r in self.requests_log if operation is None or r.operation == operation)

    # -- HTTP -------------------------------------------------------------------------------------

    def serve_file(self, path: str) -> tuple[int, bytes, str]:
        prefix = f"/wsdl/v{VERSION}_0/"
        if not path.startswith(prefix):
            return 404, b"not found", "text/plain"
        rel = Path(path[len(prefix) :])
        target = (HERE / rel).resolve()
        if HERE not in target.parents or not target.is_file() or target.suffix not in (".wsdl", ".xsd"):
            return 404, b"not found", "text/plain"
        data = target.read_bytes()
        if target.suffix == ".wsdl":
            data = data.replace(
                b"http://localhost/services/NetSuitePort_" + VERSION.encode(), self.url.encode()
            )
        return 200, data, "text/xml; charset=utf-8"

    def handle_soap(self, body: bytes) -> tuple[int, bytes]:
        """Answer one SOAP request: (HTTP status, response envelope)."""
        operation = "?"
        with self._lock:
            forced = self._forced.pop(0) if self._forced else None
            over = self._in_flight >= self.concurrency_limit
            self._in_flight += 1
        try:
            try:
                envelope = etree.fromstring(body, _PARSER)
            except etree.XMLSyntaxError as exc:
                raise SoapFault(None, "", f"org.xml.sax.SAXParseException: {exc}", "soapenv:Client") from None
            operation = self._operation(envelope)
            if forced or over:
                element, code, message = THROTTLE_FAULTS[forced or "concurrent"]
                raise SoapFault(element, code, message)
            errors = self.validator.errors(envelope)
            if errors:
                raise SoapFault(
                    None, "", "org.xml.sax.SAXException: " + "; ".join(errors[:5]), "soapenv:Client"
                )
            headers = self._headers(envelope)
            self._authenticate(headers.get("tokenPassport"))
            if self.latency:
                time.sleep(self.latency)
            payload = self._dispatch(operation, envelope, headers)
            status, response = 200, self._envelope(payload)
            fault_code = None
        except SoapFault as fault:
            status, response, fault_code = 500, self._fault(fault), fault.code or fault.faultcode
        finally:
            with self._lock:
                self._in_flight -= 1
        with self._lock:
            self.requests_log.append(LoggedRequest(operation, body, status, fault_code))
        return status, response

    # -- SOAP plumbing ----------------------------------------------------------------------------

    def _operation(self, envelope: etree._Element) -> str:
        body = envelope.find(f"{{{SOAP_ENV}}}Body")
        if body is None or not len(body):
            raise SoapFault(None, "", "No SOAP body in the request", "soapenv:Client")
        return str(etree.QName(body[0]).localname)

    def _headers(self, envelope: etree._Element) -> dict[str, etree._Element]:
        header = envelope.find(f"{{{SOAP_ENV}}}Header")
        return (
            {} if header is None else {etree.QName(h).localname: h for h in header if isinstance(h.tag, str)}
        )

    def _authenticate(self, passport: etree._Element | None) -> None:
        if passport is None:
            raise SoapFault(
                "invalidSessionFault",
                "WS_LOG_IN_REQD",
                "A session or a tokenPassport is required for this operation.",
            )

        def text(name: str) -> str:
            el = passport.find(f"{{{self.ns.core}}}{name}")
            return "" if el is None or el.text is None else el.text

        signature = passport.find(f"{{{self.ns.core}}}signature")
        algorithm = signature.get("algorithm", "") if signature is not None else ""
        account, consumer, token, nonce, stamp = (
            text(n) for n in ("account", "consumerKey", "token", "nonce", "timestamp")
        )
        digest = {"HMAC-SHA256": hashlib.sha256, "HMAC_SHA256": hashlib.sha256}.get(algorithm)
        invalid = SoapFault("invalidCredentialsFault", "INVALID_LOGIN_CREDENTIALS", "Invalid login attempt.")
        if digest is None or account.upper().replace("-", "_") != self.account.upper():
            raise invalid
        if consumer != self.consumer_key or token != self.token_id:
            raise invalid
        key = f"{self.consumer_secret}&{self.token_secret}".encode()
        base = "&".join([account, consumer, token, nonce, stamp]).encode()
        expected = base64.b64encode(hmac.new(key, base, digest).digest()).decode()
        if signature is None or not hmac.compare_digest(expected, (signature.text or "").strip()):
            raise invalid
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > TIMESTAMP_SKEW:
            raise invalid
        with self._lock:
            # A nonce may be used once per timestamp: a replayed passport is an invalid login.
            if (nonce, stamp) in self._nonces:
                raise invalid
            self._nonces.add((nonce, stamp))

    def _m(self, name: str) -> str:
        return f"{{{self.ns.messages}}}{name}"

    def _c(self, name: str) -> str:
        return f"{{{self.ns.core}}}{name}"

    def _envelope(self, payload: etree._Element) -> bytes:
        env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=self.ns.nsmap())
        header = etree.SubElement(env, f"{{{SOAP_ENV}}}Header")
        info = etree.SubElement(header, self._m("documentInfo"))
        etree.SubElement(
            info, self._m("nsId")
        ).text = f"WEBSERVICES_{self.account}_{next(self._nsid):08d}_{uuid.uuid4().hex[:13]}"
        etree.SubElement(env, f"{{{SOAP_ENV}}}Body").append(payload)
        return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))

    def _fault(self, fault: SoapFault) -> bytes:
        env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV, "xsd": XSD, "xsi": XSI})
        body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
        f = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
        etree.SubElement(f, "faultcode").text = fault.faultcode
        etree.SubElement(f, "faultstring").text = fault.message
        detail = etree.SubElement(f, "detail")
        if fault.element:
            el = etree.SubElement(
                detail, f"{{{self.ns.faults}}}{fault.element}", nsmap={"platformFaults": self.ns.faults}
            )
            etree.SubElement(el, f"{{{self.ns.faults}}}code").text = fault.code
            etree.SubElement(el, f"{{{self.ns.faults}}}message").text = fault.message
        etree.SubElement(
            detail, "{http://xml.apache.org/axis/}hostname", nsmap={"ns1": "http://xml.apache.org/axis/"}
        ).text = "sandbox.arbridge.local"
        return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))

    def _status(
        self,
        parent: etree._Element,
        ok: bool,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        status = etree.SubElement(parent, self._c("status"), isSuccess="true" if ok else "false")
        if not ok:
            detail = etree.SubElement(status, self._c("statusDetail"), type="ERROR")
            etree.SubElement(detail, self._c("code")).text = code
            etree.SubElement(detail, self._c("message")).text = message

    # -- operations -------------------------------------------------------------------------------

    def _dispatch(
        self, operation: str, envelope: etree._Element, headers: dict[str, etree._Element]
    ) -> etree._Element:
        body = envelope.find(f"{{{SOAP_ENV}}}Body")
        assert body is not None
        request = body[0]
        handlers: dict[str, Callable[[etree._Element, dict[str, etree._Element]], etree._Element]] = {
            "search": self._search,
            "searchMoreWithId": self._search_more,
            "get": self._get,
            "getList": self._get_list,
            "getDeleted": self._get_deleted,
            "add": self._write_one,
            "update": self._write_one,
            "upsert": self._write_one,
            "updateList": self._write_list,
            "upsertList": self._write_list,
        }
        handler = handlers.get(operation)
        if handler is None:
            raise SoapFault(
                "unexpectedErrorFault", "UNEXPECTED_ERROR", f"Operation {operation} is not supported."
            )
        limit = LIST_LIMITS.get(operation)
        if limit is not None and len(request) > limit:
            raise SoapFault(
                "exceededRecordCountFault",
                "MAX_RCRDS_EXCEEDED",
                f"{operation} accepts at most {limit} records per request, got {len(request)}.",
            )
        with self._lock:
            return handler(request, headers)

    def _search_prefs(self, headers: dict[str, etree._Element]) -> tuple[int, bool]:
        prefs = headers.get("searchPreferences")
        size, body_only = self.page_size_max, True
        if prefs is not None:
            page = prefs.find(self._m("pageSize"))
            if page is not None and page.text:
                size = int(page.text)
            flag = prefs.find(self._m("bodyFieldsOnly"))
            if flag is not None and flag.text:
                body_only = flag.text.strip() in ("true", "1")
        return max(PAGE_SIZE_MIN, min(size, self.page_size_max)), body_only

    def _date_filter(self, field_el: etree._Element | None) -> Callable[[datetime], bool] | None:
        if field_el is None:
            return None
        op = field_el.get("operator", "")
        values = [
            datetime.fromisoformat(v.text or "")
            for v in field_el
            if etree.QName(v).localname.startswith("searchValue")
        ]
        if not values:
            raise SoapFault("unexpectedErrorFault", "USER_ERROR", "A date search needs a searchValue.")
        a = values[0]
        b = values[1] if len(values) > 1 else a
        ops: dict[str, Callable[[datetime], bool]] = {
            "after": lambda d: d > a,
            "onOrAfter": lambda d: d >= a,
            "before": lambda d: d < a,
            "onOrBefore": lambda d: d <= a,
            "notBefore": lambda d: d >= a,
            "notAfter": lambda d: d <= a,
            "within": lambda d: a <= d <= b,
            "on": lambda d: d.date() == a.date(),
        }
        if op not in ops:
            raise SoapFault(
                "unexpectedErrorFault", "USER_ERROR", f"The date operator {op!r} is not supported here."
            )
        return ops[op]

    def _search(self, request: etree._Element, headers: dict[str, etree._Element]) -> etree._Element:
        record = request[0]
        xsi_type = (record.get(f"{{{XSI}}}type") or "").rpartition(":")[2]
        criteria = {etree.QName(c).localname: c for c in record}
        when = self._date_filter(criteria.get("lastModifiedDate"))

        def multi(name: str, attr: str | None) -> set[str] | None:
            el = criteria.get(name)
            if el is None:
                return None
            return {(v.get(attr) if attr else v.text) or "" for v in el}

        inactive = None
        if "isInactive" in criteria:
            flag = criteria["isInactive"].find(self._c("searchValue"))
            inactive = flag is not None and flag.text == "true"
        if xsi_type == "CustomerSearchBasic":
            types = ["customer"]
        elif xsi_type == "TransactionSearchBasic":
            wanted = multi("type", None)
            types = [t for k, t in TRANSACTION_SEARCH_TYPES.items() if wanted is None or k in wanted]
        else:
            raise SoapFault(
                "unexpectedErrorFault", "INVALID_SRCH", f"Search type {xsi_type} is not supported here."
            )
        ids = self.book.match(
            types, when, multi("internalId", "internalId"), multi("externalId", "externalId"), inactive
        )
        size, body_only = self._search_prefs(headers)
        search_id = f"WEBSERVICES_{self.account}_{uuid.uuid4().hex}"
        self._searches[search_id] = _Search(ids, size, body_only)
        return self._search_page(self._m("searchResponse"), search_id, 1)

    def _search_more(self, request: etree._Element, headers: dict[str, etree._Element]) -> etree._Element:
        search_id = request.findtext(self._m("searchId")) or ""
        page = int(request.findtext(self._m("pageIndex")) or "0")
        return self._search_page(self._m("searchMoreWithIdResponse"), search_id, page)

    def _search_page(self, tag: str, search_id: str, page: int) -> etree._Element:
        response = etree.Element(tag)
        result = etree.SubElement(response, self._c("searchResult"))
        search = self._searches.get(search_id)
        pages = max(1, math.ceil(len(search.ids) / search.page_size)) if search else 0
        if search is None or not 1 <= page <= pages:
            self._status(
                result,
                False,
                "INVALID_PAGE_INDEX" if search else "INVALID_SRCH",
                f"Invalid page index {page}." if search else "The search id has expired or is unknown.",
            )
            return response
        self._status(result, True)
        for name, value in (
            ("totalRecords", len(search.ids)),
            ("pageSize", search.page_size),
            ("totalPages", pages),
            ("pageIndex", page),
            ("searchId", search_id),
        ):
            etree.SubElement(result, self._c(name)).text = str(value)
        records = etree.SubElement(result, self._c("recordList"))
        start = (page - 1) * search.page_size
        for rtype, rid in search.ids[start : start + search.page_size]:
            stored = self.book.records[rtype].get(rid)
            if stored is not None:
                records.append(self._copy(stored, self._c("record"), search.body_fields_only))
        return response

    @staticmethod
    def _copy(stored: etree._Element, tag: str, body_only: bool = False) -> etree._Element:
        rec = copy.deepcopy(stored)
        rec.tag = tag
        if body_only:
            for child in list(rec):
                if etree.QName(child).localname in SUBLISTS:
                    rec.remove(child)
        return rec

    def _ref_target(self, ref: etree._Element) -> tuple[str, str | None, str | None]:
        return ref.get("type") or "", ref.get("internalId"), ref.get("externalId")

    def _read(self, parent: etree._Element, ref: etree._Element) -> None:
        rtype, iid, ext = self._ref_target(ref)
        try:
            stored = self.book.get(rtype, iid, None if iid else ext)
        except RecordError as exc:
            self._status(parent, False, exc.code, exc.message)
            return
        self._status(parent, True)
        parent.append(self._copy(stored, self._m("record")))

    def _get(self, request: etree._Element, headers: dict[str, etree._Element]) -> etree._Element:
        response = etree.Element(self._m("getResponse"))
        self._read(etree.SubElement(response, self._m("readResponse")), request[0])
        return response

    def _get_list(self, request: etree._Element, headers: dict[str, etree._Element]) -> etree._Element:
        response = etree.Element(self._m("getListResponse"))
        lst = etree.SubElement(response, self._m("readResponseList"))
        self._status(lst, True)
        for ref in request:
            self._read(etree.SubElement(lst, self._m("readResponse")), ref)
        return response

    def _get_deleted(self, request: etree._Element, headers: dict[str, etree._Element]) -> etree._Element:
        flt = request.find(self._m("getDeletedFilter"))
        page = int(request.findtext(self._m("pageIndex")) or "1")
        when = self._date_filter(flt.find(self._c("deletedDate")) if flt is not None else None)
        type_el = flt.find(self._c("type")) if flt is not None else None
        types = {v.text for v in type_el} if type_el is not None else None
        rows = [
            d
            for d in self.book.deleted
            if (when is None or when(d.deleted_at)) and (types is None or d.record_type in types)
        ]
        size = self.page_size_max
        pages = max(1, math.ceil(len(rows) / size))
        response = etree.Element(self._m("getDeletedResponse"))
        result = etree.SubElement(response, self._c("getDeletedResult"))
        if not 1 <= page <= pages:
            self._status(result, False, "INVALID_PAGE_INDEX", f"Invalid page index {page}.")
            return response
        self._status(result, True)
        for name, value in (
            ("totalRecords", len(rows)),
            ("pageSize", size),
            ("totalPages", pages),
            ("pageIndex", page),
        ):
            etree.SubElement(result, self._c(name)).text = str(value)
        lst = etree.SubElement(result, self._c("deletedRecordList"))
        for row in rows[(page - 1) * size : page * size]:
            item = etree.SubElement(lst, self._c("deletedRecord"))
            etree.SubElement(item, self._c("deletedDate")).text = fmt_datetime(row.deleted_at)
            ref = etree.SubElement(item, self._c("record"), internalId=row.internal_id, type=row.record_type)
            ref.set(f"{{{XSI}}}type", "platformCore:RecordRef")
            if row.name:
                etree.SubElement(ref, self._c("name")).text = row.name
        return response

    def _apply(self, operation: str, record: etree._Element) -> WriteOutcome:
        before = sum(len(ids) for ids in self.book.records.values())
        try:
            method = {"add": self.book.add, "update": self.book.update, "upsert": self.book.upsert}[operation]
            outcome = method(record)
        except RecordError as exc:
            outcome = WriteOutcome(
                False, "", record.get("internalId"), record.get("externalId"), exc.code, exc.message
            )
        created = sum(len(ids) for ids in self.book.records.values()) > before
        self.writes_log.append(
            LoggedWrite(
                operation,
                outcome.record_type,
                outcome.internal_id,
                outcome.external_id or record.get("externalId"),
                outcome.ok,
                created,
            )
        )
        return outcome

    def _write_response(self, parent: etree._Element, outcome: WriteOutcome) -> None:
        self._status(parent, outcome.ok, outcome.code, outcome.message)
        ref = etree.SubElement(parent, self._m("baseRef"))
        ref.set(f"{{{XSI}}}type", "platformCore:RecordRef")
        if outcome.internal_id:
            ref.set("internalId", outcome.internal_id)
        if outcome.external_id:
            ref.set("externalId", outcome.external_id)
        if outcome.record_type:
            ref.set("type", outcome.record_type)

    def _write_one(self, request: etree._Element, headers: dict[str, etree._Element]) -> etree._Element:
        operation = etree.QName(request).localname
        response = etree.Element(self._m(operation + "Response"))
        self._write_response(
            etree.SubElement(response, self._m("writeResponse")), self._apply(operation, request[0])
        )
        return response

    def _write_list(self, request: etree._Element, headers: dict[str, etree._Element]) -> etree._Element:
        operation = etree.QName(request).localname
        single = operation.removesuffix("List")
        response = etree.Element(self._m(operation + "Response"))
        lst = etree.SubElement(response, self._m("writeResponseList"))
        self._status(lst, True)
        for record in request:
            self._write_response(etree.SubElement(lst, self._m("writeResponse")), self._apply(single, record))
        return response


def _handler_for(sandbox: NetSuiteSandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; without this, delayed ACKs add 40 ms a call.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            status, data, ctype = sandbox.serve_file(self.path.split("?", 1)[0])
            self._send(status, data, ctype)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path.split("?", 1)[0] != f"/services/NetSuitePort_{VERSION}":
                self._send(404, b"not found", "text/plain")
                return
            status, data = sandbox.handle_soap(body)
            self._send(status, data, "text/xml; charset=utf-8")

    return Handler
