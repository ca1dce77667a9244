"""A local SuiteTalk SOAP server for NetSuite, strict exactly where NetSuite is.

It serves Oracle's own 2023_2 WSDL and XSDs (read from the specs folder, never kept in the
repository) with the endpoint rewritten to itself, so netsuitesdk and zeep load it unchanged;
validates every request envelope against that full schema (an invalid one gets a SOAP fault, as
NetSuite answers); checks the ``SOAPAction`` header (Apache Axis, which answers for NetSuite,
refuses a request without one: ``Client.NoSOAPAction``, "no SOAPAction header!"); checks the
Token-Based Authentication ``tokenPassport`` signature; enforces the account's concurrency limit;
evaluates basic searches (``…SearchBasic`` and the ``basic`` of ``CustomerSearch`` /
``TransactionSearch``) and pages them with ``searchMoreWithId``; answers ``getAll``; applies
``externalId`` upsert semantics; and answers list operations with one status per record.

What the sandbox account cannot evaluate (joined searches, advanced searches with columns,
saved searches, most predefined dates) is refused with a ``USER_ERROR`` fault naming it, never
answered with a wrong result.

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
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree

from sandboxes.netsuite import schema
from sandboxes.netsuite.app import create_app
from sandboxes.netsuite.schema import SOAP_ENV, VERSION, XSD, XSI, EnvelopeValidator, Namespaces
from sandboxes.netsuite.search import (
    Criterion,
    RecordView,
    SearchError,
    criterion,
    date_matches,
    matches,
    select_matches,
)
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
from sandboxes.serving import BackgroundServer
from sandboxes.throttle import ConcurrencyCap

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
# Concurrent requests of a developer or shared-tier account without SuiteCloud Plus (ERP-FACTS.md).
CONCURRENCY_LIMIT = 5
AXIS = "http://xml.apache.org/axis/"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
# Search types over the records this account holds; any other record search finds nothing here.
_SEARCHES = {
    "CustomerSearchBasic": ("customer",),
    "CustomerSearch": ("customer",),
    "TransactionSearchBasic": tuple(TRANSACTION_SEARCH_TYPES.values()),
    "TransactionSearch": tuple(TRANSACTION_SEARCH_TYPES.values()),
}


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
        throttle: enforce the concurrency limit (off for benchmarks).
        page_size_max: the largest search page served.
        latency: seconds each request takes, so concurrent clients really overlap.
        invoices: invoice count of the ``large`` seed.
        host: the address to listen on.
        specs: the folder holding Oracle's files (``netsuite/2023_2``); None looks in the default
            place (``sandboxes.specs``).
        threads: requests served at once by the HTTP server; more wait in its queue.

    Raises:
        SpecsNotFound: Oracle's WSDL is not in the specs folder.

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
        concurrency_limit: int = CONCURRENCY_LIMIT,
        throttle: bool = True,
        page_size_max: int = 1000,
        latency: float = 0.0,
        invoices: int | None = None,
        host: str = "127.0.0.1",
        specs: str | Path | None = None,
        threads: int = 16,
    ) -> None:
        self.files = schema.files(specs)
        self.account = account
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.token_id = token_id
        self.token_secret = token_secret
        self.page_size_max = page_size_max
        self.latency = latency
        self.ns = Namespaces(VERSION)
        self.types = schema.types(self.files.xsd_dir)
        self.validator = EnvelopeValidator(self.files.wsdl)
        self.book = Book(self.ns, self.types, clock=lambda: datetime.now(PACIFIC))
        seed_book(self.book, seed, invoices=invoices)
        self.requests_log: list[LoggedRequest] = []
        self.writes_log: list[LoggedWrite] = []
        self._lock = threading.RLock()
        self._cap = ConcurrencyCap(concurrency_limit) if throttle else None
        self._forced: list[str] = []
        self._searches: dict[str, _Search] = {}
        self._nonces: set[tuple[str, str]] = set()
        self._nsid = itertools.count(1)
        self._host = host
        self._server = BackgroundServer(
            create_app(self), host=host, port=port, threads=threads, name="netsuite-sandbox"
        )
        self._started = False

    @property
    def concurrency_limit(self) -> int:
        """Requests in flight at once before ``ExceededConcurrentRequestLimitFault`` (0: no limit)."""
        return self._cap.limit if self._cap else 0

    @concurrency_limit.setter
    def concurrency_limit(self, limit: int) -> None:
        # A test lowers the account's limit on a running sandbox; the cap must follow.
        if self._cap is not None:
            self._cap.limit = limit

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.port

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
        if not self._started:
            self._server.start()
            self._started = True
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.close()
        self._started = False

    def serve_forever(self) -> None:
        """Serve in the calling thread (the CLI) until Ctrl-C."""
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

    def user_notes(self, record_type: str, internal_id: str) -> list[dict[str, str | None]]:
        """The User Notes subtab of a customer (``record_type`` "customer") or a transaction: each
        note naming it, oldest first, as title, note and externalId."""
        field = "entity" if record_type == "customer" else "transaction"
        with self._lock:
            notes = list(self.book.records["note"].values())
            return [
                {
                    "title": n.findtext("{*}title"),
                    "note": n.findtext("{*}note"),
                    "externalId": n.get("externalId"),
                }
                for n in notes
                if (ref := n.find("{*}" + field)) is not None and ref.get("internalId") == internal_id
            ]

    def calls(self, operation: str | None = None) -> int:
        """How many SOAP requests were received (of one operation, if given)."""
        return sum(1 for r in self.requests_log if operation is None or r.operation == operation)

    # -- HTTP -------------------------------------------------------------------------------------

    def serve_file(self, name: str) -> tuple[int, bytes, str]:
        """Oracle's WSDL (its endpoint rewritten to this server) or one of its XSDs."""
        wsdl = self.files.wsdl
        target = (wsdl.parent / name).resolve()
        if (
            wsdl.parent not in target.parents
            or not target.is_file()
            or target.suffix not in (".wsdl", ".xsd")
        ):
            return 404, b"not found", "text/plain"
        data = target.read_bytes()
        if target == wsdl:
            root = etree.fromstring(data, _PARSER)
            for address in root.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address"):
                address.set("location", self.url)
            data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        return 200, data, "text/xml; charset=utf-8"

    def handle_soap(self, body: bytes, soap_action: str | None = "") -> tuple[int, bytes]:
        """Answer one SOAP request: (HTTP status, response envelope).

        Args:
            body: the whole request body.
            soap_action: the ``SOAPAction`` header (None when the request had none).
        """
        operation = "?"
        with self._lock:
            forced = self._forced.pop(0) if self._forced else None
        slot = self._cap.slot(self.account) if self._cap else nullcontext(True)
        with slot as admitted:
            try:
                if soap_action is None:
                    raise SoapFault(None, "", "no SOAPAction header!", "ns1:Client.NoSOAPAction")
                try:
                    envelope = etree.fromstring(body, _PARSER)
                except etree.XMLSyntaxError as exc:
                    raise SoapFault(
                        None, "", f"org.xml.sax.SAXParseException: {exc}", "soapenv:Client"
                    ) from None
                operation = self._operation(envelope)
                action = soap_action.strip().strip('"')
                if action != operation:
                    raise SoapFault(
                        None,
                        "",
                        f"The SOAPAction header ({action or 'empty'}) does not name the operation in the "
                        f"body ({operation}).",
                        "soapenv:Client",
                    )
                if forced or not admitted:
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
        with self._lock:
            self.requests_log.append(LoggedRequest(operation, body, status, fault_code))
        return status, response

    def unexpected_fault(self, exc: BaseException) -> bytes:
        """The fault a failure inside the sandbox is answered with (NetSuite's UNEXPECTED_ERROR)."""
        return self._fault(
            SoapFault("unexpectedErrorFault", "UNEXPECTED_ERROR", f"An unexpected error occurred: {exc}")
        )

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
        code = etree.SubElement(
            f, "faultcode", nsmap={"ns1": AXIS} if fault.faultcode.startswith("ns1:") else None
        )
        code.text = fault.faultcode
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
            "getAll": self._get_all,
            "add": self._write_one,
            "update": self._write_one,
            "upsert": self._write_one,
            "updateList": self._write_list,
            "upsertList": self._write_list,
        }
        handler = handlers.get(operation)
        if handler is None:
            raise SoapFault(None, "", f"The operation {operation} is not offered by this sandbox account.")
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

    def _criteria(self, record: etree._Element, namespace: str, type_name: str) -> list[Criterion]:
        """The criteria of a ``…SearchBasic`` element, each typed by Oracle's schema."""
        out: list[Criterion] = []
        for el in record:
            if not isinstance(el.tag, str):
                continue
            name = etree.QName(el).localname
            if name == "customFieldList":
                for custom in el:
                    if isinstance(custom.tag, str):
                        kind = (custom.get(f"{{{XSI}}}type") or "").rpartition(":")[2]
                        key = custom.get("scriptId") or custom.get("internalId") or ""
                        out.append(criterion(key, kind, custom, PACIFIC, custom=True))
                continue
            kind_qname = self.types.field_type(namespace, type_name, name)
            out.append(criterion(name, kind_qname[1] if kind_qname else "", el, PACIFIC))
        return out

    def _select(
        self, record_types: tuple[str, ...], criteria: list[Criterion], *, deleted: bool = False
    ) -> list[tuple[str, str]]:
        now = self.book.clock()
        out: list[tuple[str, str]] = []
        for rtype in record_types:
            for rid, rec in self.book.records[rtype].items():
                view = RecordView(rtype, rec, self.book.modified[rtype][rid], PACIFIC)
                if all(matches(view, c, now) for c in criteria):
                    out.append((rtype, rid))
        out.sort(key=lambda t: int(t[1]) if t[1].isdigit() else t[1])
        return out

    def _search(self, request: etree._Element, headers: dict[str, etree._Element]) -> etree._Element:
        record = request[0]
        prefix, _, type_name = (record.get(f"{{{XSI}}}type") or "").rpartition(":")
        namespace = record.nsmap.get(prefix or None, "") or ""
        basic: etree._Element | None = record
        basic_type: tuple[str, str] | None = (namespace, type_name)
        try:
            if not type_name.endswith("Basic"):
                basic = self._basic_of(record, type_name)
                basic_type = self.types.field_type(namespace, type_name, "basic")
            criteria = self._criteria(basic, *basic_type) if basic is not None and basic_type else []
            ids = self._select(_SEARCHES.get(type_name, ()), criteria)
        except SearchError as exc:
            response = etree.Element(self._m("searchResponse"))
            result = etree.SubElement(response, self._c("searchResult"))
            self._status(result, False, "INVALID_SRCH_CRITERIA", str(exc))
            return response
        size, body_only = self._search_prefs(headers)
        search_id = f"WEBSERVICES_{self.account}_{uuid.uuid4().hex}"
        self._searches[search_id] = _Search(ids, size, body_only)
        return self._search_page(self._m("searchResponse"), search_id, 1)

    @staticmethod
    def _basic_of(record: etree._Element, type_name: str) -> etree._Element | None:
        """The basic criteria of a ``…Search``; what the account cannot evaluate is refused by name."""
        unsupported = None
        if type_name.endswith("Advanced") or record.get("savedSearchId") or record.get("savedSearchScriptId"):
            unsupported = "advanced and saved searches"
        joins = [etree.QName(c).localname for c in record if isinstance(c.tag, str)]
        joins = [j for j in joins if j != "basic"]
        if joins and unsupported is None:
            unsupported = f"joined criteria ({', '.join(joins)})"
        if unsupported:
            raise SearchError(
                f"{type_name}: {unsupported} are not evaluated by this sandbox account; search with "
                "the basic criteria."
            )
        return next((c for c in record if etree.QName(c).localname == "basic"), None)

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
        now = self.book.clock()
        date_el = flt.find(self._c("deletedDate")) if flt is not None else None
        type_el = flt.find(self._c("type")) if flt is not None else None
        try:
            deleted = (
                criterion("deletedDate", "SearchDateField", date_el, PACIFIC) if date_el is not None else None
            )
            types = (
                criterion("type", "SearchEnumMultiSelectField", type_el, PACIFIC)
                if type_el is not None
                else None
            )
            rows = [
                d
                for d in self.book.deleted
                if (deleted is None or date_matches(deleted, d.deleted_at, now))
                and (types is None or select_matches(types, {d.record_type}))
            ]
        except SearchError as exc:
            response = etree.Element(self._m("getDeletedResponse"))
            result = etree.SubElement(response, self._c("getDeletedResult"))
            self._status(result, False, "INVALID_SRCH_CRITERIA", str(exc))
            return response
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

    def _get_all(self, request: etree._Element, headers: dict[str, etree._Element]) -> etree._Element:
        record = request.find(self._m("record"))
        record_type = record.get("recordType", "") if record is not None else ""
        # Of getAll's record types the account keeps currencies; it has none of the others.
        rows = list(self.book.records[record_type].values()) if record_type in self.book.records else []
        response = etree.Element(self._m("getAllResponse"))
        result = etree.SubElement(response, self._c("getAllResult"))
        self._status(result, True)
        etree.SubElement(result, self._c("totalRecords")).text = str(len(rows))
        listed = etree.SubElement(result, self._c("recordList"))
        for row in rows:
            listed.append(self._copy(row, self._c("record")))
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
