"""The SAP S/4HANA connector: customers and customer items over OData V2, write-back by $batch and SOAP.

Reading (see README.md for the costs)
    Customers: A_Customer with its A_CustomerCompany and A_CustomerDunning rows expanded, read
    in full every cycle by key; only customers whose content changed since the last complete
    scan are delivered (a set of content hashes kept in the connection's state).
    Items: the customer lines of A_OperationalAcctgDocItemCube of the configured company codes.
    SAP keeps no change time stamp on them, so a first pull reads every open item and the items
    cleared within ``history_days``; later reads take the items entered, changed or cleared since
    the last read (AccountingDocumentCreationDate, LastChangeDate, ClearingCreationDate, which a
    back-dated posting cannot hide) with ``overlap_days`` of overlap, dropping what they delivered
    before (hashes kept in the cursor); every ``reconcile_every_hours`` all open items are read
    again.

Writing
    Collection status → A_CustomerDunning of the invoice's customer and company code (dunning
    level, last dunned, a block reason for the statuses an admin maps), PATCH with If-Match, one
    change set per dunning record in one ``$batch``. Payment applications → journal entries
    through SOAP (``journal.py``), looked up by their document reference before any resend, and
    read back as what they settle (``applied.py``). Notes → lines of the customer's long text
    (``notes.py``), each marked with its outbox key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from connectors.base import (
    BadRecordError,
    Capabilities,
    CheckResult,
    ConflictError,
    Connector,
    ConnectorContext,
    ConnectorError,
    ConnectorSettings,
    Cursor,
    OutboundOp,
    Page,
    PermanentError,
    Reject,
    TransientError,
    WriteResult,
)
from connectors.rest import _secret_values
from connectors.sap_s4hana import applied as ap
from connectors.sap_s4hana import items as it
from connectors.sap_s4hana.client import ClientCredentials, SapSession
from connectors.sap_s4hana.journal import DebtorLine, GlLine, JournalEntry, JournalEntryPoster, reference_for
from connectors.sap_s4hana.notes import CustomerNotes
from connectors.sap_s4hana.odata import ODataServices, keyset_after, or_terms, quote
from connectors.sap_s4hana.settings import SapS4HanaSettings
from mapping.fieldmap import FieldMap, MappingError
from mapping.models import (
    CollectionStatus,
    CollectionStatusUpdate,
    CustomerStatus,
    Note,
    OpType,
    PaymentApplication,
    Record,
    Stream,
    TargetType,
)

__all__ = ["SapS4HanaConnector", "SapS4HanaSettings"]

log = logging.getLogger("arbridge.connectors.sap_s4hana")
MAPPING_FILE = Path(__file__).with_name("mapping.yaml")
BP = "API_BUSINESS_PARTNER"
CUBE = "API_OPLACCTGDOCITEMCUBE_SRV"
CUBE_SET = "A_OperationalAcctgDocItemCube"
ITEM_KEYS = ("CompanyCode", "FiscalYear", "AccountingDocument", "AccountingDocumentItem")
CUSTOMER_FIELDS = [
    "Customer",
    "CustomerName",
    "CustomerFullName",
    "CreationDate",
    "DeletionIndicator",
    "PostingIsBlocked",
]
#: What a letter needs of a business partner's address (A_BusinessPartnerAddress).
ADDRESS_FIELDS = [
    "BusinessPartner",
    "AddressID",
    "StreetName",
    "HouseNumber",
    "StreetPrefixName",
    "StreetSuffixName",
    "POBox",
    "POBoxPostalCode",
    "PostalCode",
    "CityName",
    "Region",
    "Country",
]
#: Countries whose addresses put the house number before the street name.
NUMBER_FIRST = frozenset({"US", "CA", "GB", "IE", "AU", "NZ", "FR", "ZA"})
#: Statuses that mean a notice went out: they set LastDunnedOn.
NOTICE_STATUSES = {CollectionStatus.REMINDED, CollectionStatus.ESCALATED, CollectionStatus.COLLECTIONS_AGENCY}
#: When several statuses map to block reasons for one record, the first of these wins.
BLOCK_PRIORITY = [
    CollectionStatus.COLLECTIONS_AGENCY,
    CollectionStatus.DISPUTED,
    CollectionStatus.ON_HOLD,
    CollectionStatus.PROMISED,
]
SEEN_KEY = "sap_s4hana.customers.seen"
SEEN_GENERATIONS = 4
LEDGER_PREFIX = "sap_s4hana.posted."
WATCH_KEY = "sap_s4hana.clearing_watch"
KEY_CHUNK = 20
#: Items that settle others read per call (open partial payments and arbridge's own lines).
APPS_PAGE = 5000
#: Which kind of settled item each item stream holds (for re-reading what an application changed).
SETTLED_IN = {
    Stream.INVOICES: ap.Settles.INVOICE,
    Stream.CREDIT_MEMOS: ap.Settles.CREDIT_MEMO,
    Stream.PAYMENTS: ap.Settles.PAYMENT,
}
#: The SAP property the amounts computed in items.py come from (a reject names it).
COMPUTED_FROM = dict.fromkeys(
    ("total", "open_amount", "amount", "unapplied_amount", "allocations"), "AmountInTransactionCurrency"
)
#: The longest ``$filter`` of documents sent in one GET (SAP Gateway's URLs stay well under 8 KB).
FILTER_CHARS = 4000
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _hash(record: Record) -> str:
    return record.content_hash()[:16]


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass
class DunningState:
    """What the connector knows of one A_CustomerDunning record (and its company row's note)."""

    etag: str | None
    level: str
    block: str
    last_dunned: str | None
    company_etag: str | None = None
    note: str = ""


@dataclass
class _Pass:
    """One read of an item stream: which filter, where it stands, what it has seen."""

    phase: str
    since: str | None
    as_of: str
    recon_at: str
    after: list[str] | None = None
    prev_seen: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)

    def cursor(self, *, done: bool) -> Cursor:
        body: dict[str, Any] = {"v": 1, "as_of": self.as_of, "recon_at": self.recon_at}
        if done:
            body.update(phase="done", seen=sorted(self.seen))
        else:
            body.update(
                phase=self.phase,
                since=self.since,
                after=self.after,
                seen=sorted(self.seen),
                prev=sorted(self.prev_seen),
            )
        return Cursor(json.dumps(body, separators=(",", ":")))


class SapS4HanaConnector(Connector):
    """SAP S/4HANA (cloud or on-premise) through API_BUSINESS_PARTNER, the item cube and SOAP."""

    name = "sap-s4hana"
    version = "0.1.0"
    capabilities = Capabilities(
        streams=frozenset(Stream),
        write_ops=frozenset({OpType.COLLECTION_STATUS, OpType.PAYMENT_APPLICATION, OpType.NOTE}),
        page_max=5000,
        batch_max=100,
        requests_per_minute=None,
        max_concurrency=None,
        sorted_streams=frozenset(Stream),
    )
    settings_model = SapS4HanaSettings

    def __init__(
        self,
        settings: ConnectorSettings,
        context: ConnectorContext,
        *,
        transport: requests.adapters.BaseAdapter | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, SapS4HanaSettings)
        self.sap: SapS4HanaSettings = settings
        self._now = now
        self.session = SapSession(
            settings.service_url(BP),
            _verify(settings),
            limiter=self.limiter,
            secrets=list(_secret_values(settings)),
            transport=transport,
            timeout=settings.timeout,
        )
        if settings.sap_client:
            self.session.params = {"sap-client": settings.sap_client}
        if settings.client_cert:
            self.session.cert = (
                (settings.client_cert, settings.client_key) if settings.client_key else settings.client_cert
            )
        if settings.auth == "basic":
            assert settings.username and settings.password
            self.session.auth = (settings.username, settings.password.get_secret_value())
        else:
            assert settings.token_url and settings.client_id and settings.client_secret
            oauth = ClientCredentials(
                settings.token_url,
                settings.client_id,
                settings.client_secret.get_secret_value(),
                timeout=settings.timeout,
            )
            oauth.session = requests.Session()
            oauth.session.verify = self.session.verify
            self.session.auth = oauth
        self.odata = ODataServices(self.session, settings.root)
        self.journal = JournalEntryPoster(
            self.session, settings.wsdl, settings.soap_url, timeout=settings.timeout
        )
        self.fieldmap = FieldMap.load(MAPPING_FILE, context.mapping_overrides)
        self.dunning: dict[tuple[str, str, str], DunningState] = {}
        self.notes = CustomerNotes(self.odata, settings)
        self.ledger = ap.AppliedLedger(context.state)
        self._apps: ap.Applications | None = None

    def budget_key(self) -> str:
        return f"{self.name}:{self.sap.root}|{self.sap.sap_client or ''}"

    def close(self) -> None:
        self.session.close()

    @property
    def api_calls(self) -> int:
        """HTTP requests sent so far (metadata, CSRF fetches and SOAP included)."""
        return int(self.session.sent)

    # -- check ------------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """Read one customer and one item, make a CSRF round trip, and load the SOAP service's WSDL."""
        details: dict[str, Any] = {"company_codes": self.sap.company_codes}
        steps: list[tuple[str, Callable[[], Any]]] = [
            (
                "read customers (API_BUSINESS_PARTNER)",
                lambda: self.odata.query(BP, "A_Customer", select=["Customer"], top=1),
            ),
            (
                "read items (API_OPLACCTGDOCITEMCUBE_SRV)",
                lambda: self.odata.query(
                    CUBE, CUBE_SET, select=list(ITEM_KEYS), filter=self._company_filter(), top=1
                ),
            ),
            ("CSRF round trip ($batch)", self._csrf_round_trip),
            ("journal entry service (SOAP)", self.journal._proxy),
        ]
        for what, step in steps:
            try:
                step()
            except ConnectorError as exc:
                details["failed"] = what
                details["kind"] = exc.kind.value
                return CheckResult(False, f"SAP S/4HANA: {what} failed: {exc}", details)
        unsettled = self._watch()
        details["payments_not_cleared"] = [w for w in unsettled if w.get("reported")]
        message = (
            f"connected to SAP S/4HANA at {self.sap.root} (company codes {', '.join(self.sap.company_codes)})"
        )
        if not self.sap.bank_gl_account:
            message += "; payment applications are off (set bank_gl_account)"
        return CheckResult(True, message, details)

    def _csrf_round_trip(self) -> None:
        # A $batch holding one read: a POST that needs a valid token and changes nothing.
        svc = self.odata.service(BP)
        batch = svc.create_batch()
        batch.add_request(svc.entity_sets.A_Customer.get_entities().select("Customer").top(1))
        from connectors.sap_s4hana.client import guarded

        self.session.fetch_csrf_token(stale=self.session.csrf_token)
        guarded("SAP $batch", batch.execute)

    # -- read -------------------------------------------------------------------------------------

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        """Pages of ``stream`` changed after ``cursor`` (everything when it is None)."""
        if stream is Stream.CUSTOMERS:
            yield from self._read_customers(cursor)
        else:
            yield from self._read_items(stream, cursor)

    # customers ------------------------------------------------------------------------------

    def _read_customers(self, cursor: Cursor | None) -> Iterator[Page]:
        """Scan every customer by key; deliver those whose content changed since the cursor's scan.

        A complete scan's content hashes are kept in the connection's state under a name made of
        them (a scan that finds nothing changed shares its predecessor's), so every cursor of an
        unchanged book finds its own. The hashes of the pages of a scan in progress are kept per
        page, so a scan resumed after a crash still knows the customers it read before it.
        """
        state = _load(cursor)
        # A scan's cursor names the scan it compares with as "base" ("gen" before version 2).
        base_gen = state.get("gen") if state.get("phase") == "done" else state.get("base", state.get("gen"))
        prev = self._seen_customers(base_gen) if base_gen else set()
        resuming = state.get("phase") == "scan" and bool(state.get("after"))
        after = state.get("after") if resuming else None
        scan = str(state["scan"]) if resuming and state.get("scan") else uuid.uuid4().hex
        page_no = int(state.get("page") or 0) if resuming else 0
        expand = "to_CustomerCompany/to_CustomerDunning"
        next_url: str | None = None
        while True:
            if next_url:
                rows, next_url = self.odata.query(BP, "A_Customer", next_url=next_url)
            else:
                rows, next_url = self.odata.query(
                    BP,
                    "A_Customer",
                    filter=keyset_after(["Customer"], [after]) if after else None,
                    expand=expand,
                    orderby="Customer",
                    top=self.sap.page_size,
                )
            page_no += 1
            records: list[Record] = []
            rejects: list[Reject] = []
            seen: set[str] = set()
            raws = [self._customer_raw(proxy) for proxy in rows]
            calls = 1
            if raws:
                after = raws[-1]["Customer"]
                addresses, more = self._addresses(raws[0]["Customer"], raws[-1]["Customer"])
                calls += more
                for raw in raws:
                    raw["address"] = addresses.get(raw["Customer"])
            for raw in raws:
                if not raw["companies"]:
                    continue
                try:
                    record = self._customer_record(raw)
                except MappingError as exc:
                    rejects.append(
                        Reject(Stream.CUSTOMERS, exc.remote_id, exc.path or exc.field, exc.reason, raw)
                    )
                    continue
                digest = _hash(record)
                seen.add(digest)
                if digest not in prev:
                    records.append(record)
            last = not next_url and len(rows) < self.sap.page_size
            if last:
                everything = seen.union(*(self._scan_page(scan, n) for n in range(1, page_no)))
                body: dict[str, Any] = {"v": 2, "phase": "done", "gen": self._keep_seen_customers(everything)}
            else:
                self.context.state.put(f"{SEEN_KEY}.scan.{scan}.{page_no}", json.dumps(sorted(seen)))
                body = {
                    "v": 2,
                    "phase": "scan",
                    "base": base_gen,
                    "scan": scan,
                    "page": page_no,
                    "after": after,
                }
            yield Page(Stream.CUSTOMERS, records, Cursor(json.dumps(body)), rejects, api_calls=calls)
            if last:
                # The page above is stored with its cursor before the generator resumes here.
                self._forget_old_scans(scan, page_no)
                return

    def _forget_old_scans(self, scan: str, pages: int) -> None:
        """Empty the page hashes of all but the last few complete scans (their cursors may still resume)."""
        key = f"{SEEN_KEY}.scans"
        scans = [s for s in json.loads(self.context.state.get(key) or "[]") if s[0] != scan] + [[scan, pages]]
        for old, old_pages in scans[:-SEEN_GENERATIONS]:
            for n in range(1, old_pages):
                self.context.state.put(f"{SEEN_KEY}.scan.{old}.{n}", "")
        self.context.state.put(key, json.dumps(scans[-SEEN_GENERATIONS:]))

    def _scan_page(self, scan: str, page_no: int) -> set[str]:
        text = self.context.state.get(f"{SEEN_KEY}.scan.{scan}.{page_no}")
        return set(json.loads(text)) if text else set()

    def _seen_customers(self, gen: str) -> set[str]:
        text = self.context.state.get(f"{SEEN_KEY}.{gen}")
        return set(json.loads(text)) if text else set()

    def _keep_seen_customers(self, seen: set[str]) -> str:
        """Keep the hashes of a complete scan under a name made of them; return that name.

        The last few distinct scans are kept, so a cursor from a scan that another one overtook
        (a resumed read, a second process) still finds its own; older ones are emptied.
        """
        text = json.dumps(sorted(seen))
        gen = hashlib.sha256(text.encode()).hexdigest()[:32]
        recent = json.loads(self.context.state.get(SEEN_KEY) or "[]")
        if gen not in recent:
            self.context.state.put(f"{SEEN_KEY}.{gen}", text)
        recent = [g for g in recent if g != gen] + [gen]
        for old in recent[:-SEEN_GENERATIONS]:
            self.context.state.put(f"{SEEN_KEY}.{old}", "")
        self.context.state.put(SEEN_KEY, json.dumps(recent[-SEEN_GENERATIONS:]))
        return gen

    def _addresses(self, first: str, last: str) -> tuple[dict[str, dict[str, Any]], int]:
        """The postal address of each business partner from ``first`` to ``last``, and the calls.

        S/4HANA keeps a customer's address on its business partner (A_BusinessPartnerAddress),
        numbered like the customer by default. One key-range read per page of customers; of a
        partner's several addresses, the first (lowest AddressID) is its standard one.
        """
        flt = f"BusinessPartner ge {quote(first)} and BusinessPartner le {quote(last)}"
        out: dict[str, dict[str, Any]] = {}
        calls = 0
        next_url: str | None = None
        while True:
            rows, next_url = self.odata.query(
                BP,
                "A_BusinessPartnerAddress",
                filter=None if next_url else flt,
                select=None if next_url else ADDRESS_FIELDS,
                orderby=None if next_url else "BusinessPartner,AddressID",
                next_url=next_url,
            )
            calls += 1
            for row in rows:
                partner = str(row.BusinessPartner)
                if partner not in out:
                    out[partner] = _postal_address({n: getattr(row, n, None) for n in ADDRESS_FIELDS})
            if not next_url:
                return out, calls

    def _customer_raw(self, proxy: Any) -> dict[str, Any]:
        raw = it.normalise({name: getattr(proxy, name, None) for name in CUSTOMER_FIELDS})
        companies = []
        for company in getattr(proxy, "to_CustomerCompany", None) or []:
            code = company.CompanyCode
            if code not in self.sap.company_codes:
                continue
            dunning = []
            for record in getattr(company, "to_CustomerDunning", None) or []:
                row = it.normalise(
                    {
                        "DunningArea": record.DunningArea,
                        "DunningLevel": record.DunningLevel,
                        "DunningBlock": record.DunningBlock,
                        "DunningProcedure": record.DunningProcedure,
                        "LastDunnedOn": record.LastDunnedOn,
                    }
                )
                dunning.append(row)
                if record.DunningArea == self.sap.dunning_area:
                    self.dunning[(raw["Customer"], code, record.DunningArea)] = DunningState(
                        record.etag,
                        str(record.DunningLevel or "0"),
                        str(record.DunningBlock or ""),
                        row["LastDunnedOn"],
                        company.etag,
                        str(getattr(company, "CustomerAccountNote", "") or ""),
                    )
            companies.append(
                it.normalise(
                    {
                        "CompanyCode": code,
                        "PaymentTerms": company.PaymentTerms,
                        "DeletionIndicator": company.DeletionIndicator,
                        "PaymentBlockingReason": company.PaymentBlockingReason,
                        "CustomerAccountNote": company.CustomerAccountNote,
                    }
                )
                | {"dunning": dunning}
            )
        raw["companies"] = companies
        return raw

    def _customer_record(self, raw: dict[str, Any]) -> Record:
        records = [
            d for c in raw["companies"] for d in c["dunning"] if d.get("DunningArea") == self.sap.dunning_area
        ]
        inactive = bool(raw.get("DeletionIndicator")) or all(
            c.get("DeletionIndicator") for c in raw["companies"]
        )
        created = raw.get("CreationDate")
        extra = {
            "remote_id": raw["Customer"],
            "remote_modified_at": datetime.fromisoformat(created).replace(tzinfo=UTC) if created else EPOCH,
            "status": CustomerStatus.INACTIVE if inactive else CustomerStatus.ACTIVE,
            "dunning_block": any(r.get("DunningBlock") for r in records),
            "raw_status": "deleted" if inactive else "active",
        }
        return self.fieldmap.to_record(Stream.CUSTOMERS, raw, **extra)

    # items ----------------------------------------------------------------------------------

    def _company_filter(self) -> str:
        return or_terms(f"CompanyCode eq {quote(c)}" for c in self.sap.company_codes)

    def _stream_filter(self, stream: Stream) -> str:
        base = f"{self._company_filter()} and FinancialAccountType eq 'D' and SpecialGLCode eq ''"
        payment_types = or_terms(
            f"AccountingDocumentType eq {quote(t)}" for t in self.sap.payment_document_types
        )
        if stream is Stream.INVOICES:
            return f"{base} and DebitCreditCode eq 'S'"
        if stream is Stream.PAYMENTS:
            return f"{base} and DebitCreditCode eq 'H' and {payment_types}"
        return f"{base} and DebitCreditCode eq 'H' and not {payment_types}"

    @staticmethod
    def _window(since: str) -> str:
        day = f"datetime'{since}T00:00:00'"
        return (
            f"(AccountingDocumentCreationDate ge {day} or LastChangeDate ge {day}"
            f" or ClearingCreationDate ge {day})"
        )

    def _plan(self, cursor: Cursor | None) -> _Pass:
        state = _load(cursor)
        now = self._now()
        today = now.date().isoformat()
        if cursor is None or not state:
            return _Pass("full", None, today, now.isoformat())
        if state.get("phase") in ("full", "window", "recon") and state.get("after"):
            return _Pass(
                state["phase"],
                state.get("since"),
                state["as_of"],
                state["recon_at"],
                after=state["after"],
                prev_seen=set(state.get("prev", [])),
                seen=set(state.get("seen", [])),
            )
        prev = set(state.get("seen", []))
        since = (date.fromisoformat(state["as_of"]) - timedelta(days=self.sap.overlap_days)).isoformat()
        recon_at = datetime.fromisoformat(state["recon_at"])
        if now - recon_at >= timedelta(hours=self.sap.reconcile_every_hours):
            return _Pass("recon", since, today, now.isoformat(), prev_seen=prev)
        return _Pass("window", since, today, state["recon_at"], prev_seen=prev)

    def _read_items(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        plan = self._plan(cursor)
        condition = self._stream_filter(stream)
        if plan.phase == "full":
            history = (self._now().date() - timedelta(days=self.sap.history_days)).isoformat()
            condition += f" and (IsCleared eq false or ClearingDate ge datetime'{history}T00:00:00')"
        elif plan.phase == "recon":
            condition += f" and (IsCleared eq false or {self._window(plan.since or plan.as_of)})"
        else:
            condition += f" and {self._window(plan.since or plan.as_of)}"
        keep_from = (date.fromisoformat(plan.as_of) - timedelta(days=self.sap.overlap_days)).isoformat()
        since = None if plan.phase == "full" else plan.since or plan.as_of
        apps, calls = self._applications_for(stream, since)
        settled = apps.amounts()
        kind = SETTLED_IN[stream]
        # Items an application entered or cleared in the window settles count as window items.
        recent = apps.targets(kind, keep_from)
        delivered: set[str] = set()
        next_url: str | None = None
        while True:
            flt = condition + (f" and {keyset_after(list(ITEM_KEYS), plan.after)}" if plan.after else "")
            if next_url:
                rows, next_url = self.odata.query(CUBE, CUBE_SET, next_url=next_url)
            else:
                rows, next_url = self.odata.query(
                    CUBE,
                    CUBE_SET,
                    filter=flt,
                    select=it.ITEM_FIELDS,
                    orderby=",".join(ITEM_KEYS),
                    top=self.sap.page_size,
                )
            calls += 1
            raws = [it.normalise({n: getattr(p, n, None) for n in it.ITEM_FIELDS}) for p in rows]
            if raws:
                plan.after = [str(raws[-1][k]) for k in ITEM_KEYS]
            if since is not None:
                delivered.update(it.item_id(r) for r in raws)
            last = not next_url and len(rows) < self.sap.page_size
            extra_raws: list[dict[str, Any]] = []
            if last and since is not None:
                # Items whose open amount changed because an item settling them was entered or
                # cleared in the window, though they themselves did not change.
                extra_raws, more = self._items_by_id(sorted(apps.targets(kind, since) - delivered))
                calls += more
            records, rejects = self._translate(stream, raws, plan, settled, keep_from, recent)
            if extra_raws:
                # Remembered like window items, so the next read does not deliver them again.
                reread, reread_rejects = self._translate(stream, extra_raws, plan, settled, "", recent)
                records += reread
                rejects += reread_rejects
            yield Page(stream, records, plan.cursor(done=last), rejects, api_calls=calls)
            calls = 0
            if last:
                if stream is Stream.INVOICES:
                    self._watch(report=True)
                return

    def _translate(
        self,
        stream: Stream,
        raws: list[dict[str, Any]],
        plan: _Pass,
        settled: dict[str, Decimal],
        keep_from: str,
        recent: set[str],
    ) -> tuple[list[Record], list[Reject]]:
        records: list[Record] = []
        rejects: list[Reject] = []
        for raw in raws:
            if it.stream_of(raw, self.sap.payment_document_types) is not stream:
                continue
            try:
                extras = ap.item_extras(stream, raw, settled, self.ledger.line_of(raw))
                record = self.fieldmap.to_record(stream, raw, **extras)
            except it.ItemError as exc:
                rejects.append(Reject(stream, it.item_id(raw), exc.field, exc.reason, raw))
                continue
            except MappingError as exc:
                path = exc.path or COMPUTED_FROM.get((exc.field or "").split(".")[0]) or exc.field
                rejects.append(Reject(stream, exc.remote_id, path, exc.reason, raw))
                continue
            digest = _hash(record)
            if record.remote_id in recent or any(
                str(raw.get(k) or "") >= keep_from
                for k in ("AccountingDocumentCreationDate", "LastChangeDate", "ClearingCreationDate")
            ):
                plan.seen.add(digest)
            if plan.phase != "full" and digest in plan.prev_seen:
                continue
            records.append(record)
        return records, rejects

    def _applications_for(self, stream: Stream, since: str | None) -> tuple[ap.Applications, int]:
        """The items that settle others, read once for the item streams of one cycle.

        Read again when the window differs, or when a stream is read a second time (a new cycle).
        """
        apps, calls = self._apps, 0
        if apps is None or apps.since != since or stream.value in apps.streams:
            apps, calls = self._applications(since)
        apps.streams.add(stream.value)
        return apps, calls

    def _applications(self, since: str | None) -> tuple[ap.Applications, int]:
        """Read the items that settle others: SAP's partial payments and the lines arbridge posted.

        Both are customer items: of a payment document type with an InvoiceReference, or of
        arbridge's document type with a reference of arbridge's shape. The open ones are read, and
        with ``since`` those cleared since then (what they settled is open again, or paid), paged
        by key.
        """
        doc_type = quote(self.sap.payment_document_type)
        still = "IsCleared eq false"
        if since:
            still += f" or ClearingCreationDate ge datetime'{since}T00:00:00'"
        # arbridge's references all start with AR: a key range, not every payment on account.
        ours = (
            f"AccountingDocumentType eq {doc_type}"
            " and DocumentReferenceID ge 'AR' and DocumentReferenceID lt 'AS'"
        )
        # SAP's partial payments name their invoice; a credit memo naming one settles nothing
        # before SAP clears the two together (``applied``), so it is not read here.
        payment_types = or_terms(
            f"AccountingDocumentType eq {quote(t)}" for t in self.sap.payment_document_types
        )
        condition = (
            f"{self._company_filter()} and FinancialAccountType eq 'D'"
            f" and ((InvoiceReference ne '' and {payment_types}) or ({ours})) and ({still})"
        )
        apps = ap.Applications(since, frozenset(self.sap.payment_document_types))
        calls = 0
        after: list[str] | None = None
        while True:
            flt = condition + (f" and {keyset_after(list(ITEM_KEYS), after)}" if after else "")
            rows, _ = self.odata.query(
                CUBE, CUBE_SET, filter=flt, select=it.ITEM_FIELDS, orderby=",".join(ITEM_KEYS), top=APPS_PAGE
            )
            calls += 1
            for proxy in rows:
                raw = it.normalise({n: getattr(proxy, n, None) for n in it.ITEM_FIELDS})
                apps.add(raw, self.ledger)
                after = [str(raw[k]) for k in ITEM_KEYS]
            if len(rows) < APPS_PAGE:
                self._apps = apps
                return apps, calls

    def _items_by_id(self, ids: Sequence[str]) -> tuple[list[dict[str, Any]], int]:
        """The items ``ids`` name (those that exist), and the calls it took.

        The item cube takes no ``$batch`` (its metadata says so), so the documents are asked for
        in one filter grouped by company code and fiscal year (``AccountingDocument eq … or …``),
        as many as fit in ``FILTER_CHARS``: the invoices of a batch of 100 payments are one call.
        """
        wanted = {k for k in (it.parse_item_id(i) for i in ids) if k is not None}
        groups: dict[tuple[str, str], set[str]] = {}
        for company_code, year, document, _ in wanted:
            groups.setdefault((company_code, year), set()).add(document)
        filters: list[str] = []
        terms: list[str] = []
        size = 0
        for (company_code, year), documents in sorted(groups.items()):
            head = f"CompanyCode eq {quote(company_code)} and FiscalYear eq {quote(year)}"
            names: list[str] = []
            for document in sorted(documents):
                term = f"AccountingDocument eq {quote(document)}"
                if size + len(term) + 4 > FILTER_CHARS and (names or terms):
                    if names:
                        terms.append(f"({head} and {or_terms(names)})")
                    filters.append(or_terms(terms))
                    terms, names, size = [], [], 0
                names.append(term)
                size += len(term) + 4
            terms.append(f"({head} and {or_terms(names)})")
            size += len(head) + 10
        if terms:
            filters.append(or_terms(terms))
        out: list[dict[str, Any]] = []
        calls = 0
        for flt in filters:
            next_url: str | None = None
            while True:
                rows, next_url = self.odata.query(
                    CUBE,
                    CUBE_SET,
                    filter=None if next_url else f"FinancialAccountType eq 'D' and {flt}",
                    select=None if next_url else it.ITEM_FIELDS,
                    next_url=next_url,
                )
                calls += 1
                for proxy in rows:
                    raw = it.normalise({n: getattr(proxy, n, None) for n in it.ITEM_FIELDS})
                    if tuple(str(raw[k]) for k in ITEM_KEYS) in wanted:
                        out.append(raw)
                if not next_url:
                    break
        return out, calls

    # -- fetch --------------------------------------------------------------------------------------

    def fetch(self, target_type: TargetType, remote_id: str) -> Record | None:
        """Re-read one record; an invoice carries the ETag of the dunning record its status goes to."""
        if target_type is TargetType.CUSTOMER:
            rows, _ = self.odata.query(
                BP,
                "A_Customer",
                filter=f"Customer eq {quote(remote_id)}",
                expand="to_CustomerCompany/to_CustomerDunning",
                top=1,
            )
            if not rows:
                return None
            raw = self._customer_raw(rows[0])
            raw["address"] = self._addresses(remote_id, remote_id)[0].get(remote_id)
            return self._customer_record(raw) if raw["companies"] else None
        rows, _ = self._items_by_id([remote_id])
        if not rows:
            return None
        stream = it.stream_of(rows[0], self.sap.payment_document_types)
        apps, _ = self._applications(None)
        extras = ap.item_extras(stream, rows[0], apps.amounts(), self.ledger.line_of(rows[0]))
        record = self.fieldmap.to_record(stream, rows[0], **extras)
        if stream is Stream.INVOICES:
            key = (rows[0]["Customer"], rows[0]["CompanyCode"], self.sap.dunning_area)
            states = self._read_dunning([key])
            state = states.get(key)
            record = record.model_copy(update={"version": state.etag if state else None})
        return record

    def _read_dunning(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], DunningState]:
        """The current dunning records (and company rows) of ``keys``, read in chunks, cached."""
        out: dict[tuple[str, str, str], DunningState] = {}
        for i in range(0, len(keys), KEY_CHUNK):
            chunk = keys[i : i + KEY_CHUNK]
            flt = or_terms(f"(Customer eq {quote(c)} and CompanyCode eq {quote(cc)})" for c, cc, _ in chunk)
            rows, _ = self.odata.query(
                BP, "A_CustomerCompany", filter=flt, expand="to_CustomerDunning", top=len(chunk)
            )
            for company in rows:
                for record in company.to_CustomerDunning or []:
                    key = (company.Customer, company.CompanyCode, record.DunningArea)
                    last = record.LastDunnedOn
                    self.dunning[key] = DunningState(
                        record.etag,
                        str(record.DunningLevel or "0"),
                        str(record.DunningBlock or ""),
                        last.date().isoformat() if last else None,
                        company.etag,
                        str(company.CustomerAccountNote or ""),
                    )
        for key in keys:
            if key in self.dunning:
                out[key] = self.dunning[key]
        return out

    # -- write --------------------------------------------------------------------------------------

    def write(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        """Status updates and notes in ``$batch`` requests (a change set per dunning record or long
        text), payments in SOAP calls.

        Each request carries at most ``batch_max`` operations.
        """
        results: dict[str, WriteResult] = {}
        statuses: list[OutboundOp] = []
        payments: list[OutboundOp] = []
        notes: list[OutboundOp] = []
        for op in ops:
            if isinstance(op.op, CollectionStatusUpdate):
                statuses.append(op)
            elif isinstance(op.op, PaymentApplication):
                payments.append(op)
            elif isinstance(op.op, Note):
                notes.append(op)
            else:
                results[op.key] = WriteResult(
                    op.key,
                    False,
                    error=PermanentError(f"SAP S/4HANA does not take {type(op.op).__name__} operations"),
                )
        size = self.sap.batch_max
        for i in range(0, len(statuses), size):
            results.update(self._write_statuses(statuses[i : i + size]))
        for i in range(0, len(payments), size):
            results.update(self._write_payments(payments[i : i + size]))
        for i in range(0, len(notes), size):
            results.update(self.notes.write(notes[i : i + size]))
        return [results[op.key] for op in ops]

    # status --------------------------------------------------------------------------------

    def _dunning_key(self, op: CollectionStatusUpdate) -> tuple[str, str, str]:
        if op.target_type is not TargetType.INVOICE:
            raise BadRecordError(
                "SAP keeps dunning data per customer and company code: write the status per invoice "
                "(its company code chooses the A_CustomerDunning record)"
            )
        key = it.parse_item_id(op.target_id)
        if key is None:
            raise BadRecordError(
                f"{op.target_id!r} is not an SAP item id (CompanyCode/FiscalYear/Document/Item/Customer)"
            )
        if key[0] not in self.sap.company_codes:
            raise BadRecordError(f"company code {key[0]} is not one of this connection's company codes")
        customer = it.customer_of(op.target_id)
        if not customer:
            raise BadRecordError(f"{op.target_id!r} names no customer")
        return customer, key[0], self.sap.dunning_area

    def _desired(self, ops: list[CollectionStatusUpdate], state: DunningState) -> dict[str, Any]:
        """The record's values after ``ops`` (only what differs from ``state``)."""
        changes: dict[str, Any] = {}
        levels = [o.dunning_level for o in ops if o.dunning_level is not None]
        if levels:
            level = str(min(max(levels), 9))
            if level != state.level:
                changes["DunningLevel"] = level
        notices = [o.decided_on for o in ops if o.collection_status in NOTICE_STATUSES and o.decided_on]
        if notices:
            last = max(notices).isoformat()
            if last != state.last_dunned:
                changes["LastDunnedOn"] = datetime.fromisoformat(last).replace(tzinfo=UTC)
        reasons = self.sap.block_reasons
        if reasons:
            statuses = {o.collection_status for o in ops}
            wanted = next((reasons[s] for s in BLOCK_PRIORITY if s in statuses and s in reasons), None)
            wanted = wanted or next((reasons[s] for s in statuses if s in reasons), None)
            if wanted is not None and wanted != state.block:
                changes["DunningBlock"] = wanted
            elif wanted is None and state.block and state.block in reasons.values():
                changes["DunningBlock"] = ""  # release only a block this connection set
        return changes

    def _note(self, ops: list[CollectionStatusUpdate], state: DunningState) -> str | None:
        if not self.sap.status_note:
            return None
        op = max(ops, key=lambda o: (o.dunning_level or 0, o.collection_status.value))
        parts = [op.collection_status.value.replace("_", " ")]
        if op.dunning_level is not None:
            parts.append(f"L{op.dunning_level}")
        if op.next_action_date:
            parts.append(op.next_action_date.isoformat())
        text = " ".join(parts)[:30]
        return None if text == state.note else text

    def _write_statuses(self, outs: list[OutboundOp]) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        groups: dict[tuple[str, str, str], list[OutboundOp]] = {}
        for out in outs:
            assert isinstance(out.op, CollectionStatusUpdate)
            try:
                groups.setdefault(self._dunning_key(out.op), []).append(out)
            except ConnectorError as exc:
                results[out.key] = WriteResult(out.key, False, error=exc)
        missing = [k for k in groups if k not in self.dunning]
        if missing:
            self._read_dunning(missing)
        svc = self.odata.service(BP)
        changesets: list[list[Any]] = []
        planned: list[tuple[tuple[str, str, str], list[OutboundOp], dict[str, Any], str | None]] = []
        for key, members in groups.items():
            state = self.dunning.get(key)
            if state is None:
                error = BadRecordError(
                    f"customer {key[0]} has no dunning record in company code {key[1]} "
                    f"(dunning area {key[2]!r})"
                )
                results.update({o.key: WriteResult(o.key, False, error=error) for o in members})
                continue
            ops_ = [o.op for o in members if isinstance(o.op, CollectionStatusUpdate)]
            changes = self._desired(ops_, state)
            note = self._note(ops_, state)
            if not changes and note is None:
                # SAP already shows this state: written before (a replay) or by someone else.
                results.update(
                    {
                        o.key: WriteResult(
                            o.key, True, remote_id=_dunning_id(key), version=state.etag, duplicate=True
                        )
                        for o in members
                    }
                )
                continue
            bases = {o.base_version for o in ops_ if o.base_version}
            if_match = bases.pop() if len(bases) == 1 else state.etag
            requests_: list[Any] = []
            if changes:
                req = svc.entity_sets.A_CustomerDunning.update_entity(
                    Customer=key[0], CompanyCode=key[1], DunningArea=key[2]
                ).set(**changes)
                req.add_headers({"If-Match": if_match or "*"})
                requests_.append(req)
            if note is not None:
                req = svc.entity_sets.A_CustomerCompany.update_entity(
                    Customer=key[0], CompanyCode=key[1]
                ).set(CustomerAccountNote=note)
                req.add_headers({"If-Match": state.company_etag or "*"})
                requests_.append(req)
            changesets.append(requests_)
            planned.append((key, members, changes, note))
        if changesets:
            answers = self.odata.send_changesets(BP, changesets)
            for (key, members, changes, note), answer in zip(planned, answers, strict=True):
                if answer.ok:
                    state = self.dunning[key]
                    etag = answer.etags[0] if changes else state.etag
                    self._remember(key, changes, note, etag, answer.etags[-1] if note is not None else None)
                    results.update(
                        {
                            o.key: WriteResult(o.key, True, remote_id=_dunning_id(key), version=etag)
                            for o in members
                        }
                    )
                else:
                    self.dunning.pop(key, None)
                    failure = answer.error or TransientError("SAP did not answer this change set")
                    if isinstance(failure, ConflictError):
                        failure = ConflictError(
                            f"A_CustomerDunning {_dunning_id(key)} changed in SAP since it was read: "
                            f"{failure.message}",
                            erp_code=failure.erp_code,
                        )
                    results.update({o.key: WriteResult(o.key, False, error=failure) for o in members})
        return results

    def _remember(
        self,
        key: tuple[str, str, str],
        changes: dict[str, Any],
        note: str | None,
        etag: str | None,
        company_etag: str | None,
    ) -> None:
        state = self.dunning[key]
        if "DunningLevel" in changes:
            state.level = changes["DunningLevel"]
        if "DunningBlock" in changes:
            state.block = changes["DunningBlock"]
        if "LastDunnedOn" in changes:
            state.last_dunned = changes["LastDunnedOn"].date().isoformat()
        if note is not None:
            state.note = note
            state.company_etag = company_etag or state.company_etag
        state.etag = etag

    # payments ------------------------------------------------------------------------------

    def _write_payments(self, outs: list[OutboundOp]) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        todo: list[OutboundOp] = []
        for out in outs:
            ledger = self.context.state.get(LEDGER_PREFIX + out.key)
            if ledger and ledger.startswith("posted:"):
                results[out.key] = WriteResult(out.key, True, remote_id=ledger[7:], duplicate=True)
            elif ledger == "sending":
                found = self.find_written(out)
                if found is not None and found.ok:
                    results[out.key] = found
                else:
                    todo.append(out)
            else:
                todo.append(out)
        if not todo:
            return results
        targets: set[str] = set()
        for out in todo:
            assert isinstance(out.op, PaymentApplication)
            targets.update(a.target_id for a in out.op.allocations)
            if out.op.payment_id:
                targets.add(out.op.payment_id)
        rows, _ = self._items_by_id(sorted(targets))
        by_id = {it.item_id(r): r for r in rows}
        # What is settled already (this cycle's read, or a read now) and by the entries before.
        apps = self._apps if self._apps is not None else self._applications(None)[0]
        today = self._now().date().isoformat()
        entries: list[JournalEntry] = []
        expect: dict[str, list[str]] = {}
        lines: dict[str, list[ap.AppliedLine]] = {}
        for out in todo:
            try:
                entry, settles, lines[out.key] = self._entry(out, by_id, apps.amounts(besides=out.key))
            except ConnectorError as exc:
                results[out.key] = WriteResult(out.key, False, error=exc)
                continue
            entries.append(entry)
            expect[out.key] = settles
            apps.post(out.key, lines[out.key], today)
        if not entries:
            return results
        for entry in entries:
            # Before the call: an entry SAP posts is recognised when read back even if the
            # answer never arrives.
            self.ledger.record(entry.reference, entry.key, lines[entry.key])
            self.context.state.put(LEDGER_PREFIX + entry.key, "sending")
        posted = self.journal.post(entries)
        watch = self._watch()
        for entry, outcome in zip(entries, posted, strict=True):
            if outcome.document is None:
                apps.posted.pop(entry.key, None)
                self.context.state.put(LEDGER_PREFIX + entry.key, "refused")
                note = "; ".join(outcome.notes) or "SAP did not post the journal entry"
                results[entry.key] = WriteResult(
                    entry.key, False, error=BadRecordError(f"SAP refused the payment: {note}")
                )
                continue
            doc_id = "/".join(outcome.document)
            self.context.state.put(LEDGER_PREFIX + entry.key, f"posted:{doc_id}")
            if expect.get(entry.key):
                watch.append(
                    {
                        "key": entry.key,
                        "document": doc_id,
                        "items": expect[entry.key],
                        "posted_at": self._now().isoformat(),
                        "reported": False,
                    }
                )
            results[entry.key] = WriteResult(entry.key, True, remote_id=doc_id)
        self.context.state.put(WATCH_KEY, json.dumps(watch))
        return results

    def _entry(
        self, out: OutboundOp, by_id: dict[str, dict[str, Any]], settled: dict[str, Decimal]
    ) -> tuple[JournalEntry, list[str], list[ap.AppliedLine]]:
        """The journal entry of one payment application, the items it should clear, and its lines.

        Args:
            out: the operation.
            by_id: the items it names, read from SAP.
            settled: what items not yet cleared already settle of each item (SAP's partial
                payments, earlier postings of this connection): no allocation may settle more
                than is left.
        """
        op = out.op
        assert isinstance(op, PaymentApplication)
        lines: list[DebtorLine] = []
        kinds: list[tuple[ap.Settles, str | None, Decimal, Decimal]] = []
        gl: list[GlLine] = []
        codes: set[str] = set()
        settles: list[str] = []
        discount = writeoff = Decimal(0)
        for allocation in op.allocations:
            row = by_id.get(allocation.target_id)
            if row is None:
                raise BadRecordError(
                    f"{allocation.target_type.value} {allocation.target_id} does not exist in SAP"
                )
            if it.is_cleared(row):
                raise BadRecordError(f"{allocation.target_id} is already cleared in SAP")
            if row["Customer"] != op.customer_remote_id:
                raise BadRecordError(
                    f"{allocation.target_id} belongs to customer {row['Customer']}, "
                    f"not {op.customer_remote_id}"
                )
            if row["TransactionCurrency"] != op.currency:
                raise BadRecordError(
                    f"{allocation.target_id} is in {row['TransactionCurrency']}, the payment in {op.currency}"
                )
            codes.add(row["CompanyCode"])
            disc, wo = allocation.discount or Decimal(0), allocation.writeoff or Decimal(0)
            discount += disc
            writeoff += wo
            amount = abs(allocation.amount) + disc + wo
            before = settled.get(allocation.target_id, Decimal(0))
            left = abs(it.amount(row)) - before
            if amount > left:
                raise BadRecordError(
                    f"{allocation.target_type.value} {allocation.target_id} has {left} "
                    f"{row['TransactionCurrency']} left to settle in SAP ({before} of it settled by items "
                    f"not cleared yet, such as a payment already posted); this application settles {amount}"
                )
            invoice = allocation.target_type is TargetType.INVOICE
            lines.append(
                DebtorLine(
                    op.customer_remote_id,
                    -amount if invoice else amount,
                    assignment=str(row.get("AssignmentReference") or ""),
                    payment_reference=str(row.get("PaymentReference") or ""),
                    text=f"arbridge {row.get('DocumentReferenceID') or row['AccountingDocument']}",
                )
            )
            kind = ap.Settles.INVOICE if invoice else ap.Settles.CREDIT_MEMO
            kinds.append((kind, allocation.target_id, disc, wo))
            if amount >= left:
                settles.append(allocation.target_id)
        if len(codes) != 1:
            raise BadRecordError(f"a payment posts in one company code; its documents are in {sorted(codes)}")
        company_code = codes.pop()
        if discount:
            if not self.sap.cash_discount_gl_account:
                raise PermanentError("a discount needs cash_discount_gl_account in the connection's settings")
            gl.append(GlLine(self.sap.cash_discount_gl_account, discount, "cash discount"))
        if writeoff:
            if not self.sap.writeoff_gl_account:
                raise PermanentError("a write-off needs writeoff_gl_account in the connection's settings")
            gl.append(GlLine(self.sap.writeoff_gl_account, writeoff, "write-off"))
        applied = -sum((line.amount for line in lines), Decimal(0)) - discount - writeoff
        if applied < 0:
            raise BadRecordError(f"credit memos exceed the invoices they are applied to by {-applied}")
        if op.payment_id:
            row = by_id.get(op.payment_id)
            if row is None or it.is_cleared(row):
                raise BadRecordError(f"payment {op.payment_id} is not an open item in SAP")
            before = settled.get(op.payment_id, Decimal(0))
            left = abs(it.amount(row)) - before
            if applied > left:
                raise BadRecordError(
                    f"the allocations apply {applied} but payment {op.payment_id} has {left} left on account "
                    f"(of {abs(it.amount(row))}; {before} moved to invoices by items not cleared yet)"
                )
            # Moves the payment on account onto the invoices: its own assignment clears it.
            lines.append(
                DebtorLine(
                    op.customer_remote_id,
                    applied,
                    assignment=str(row.get("AssignmentReference") or ""),
                    text="arbridge application",
                )
            )
            kinds.append((ap.Settles.PAYMENT, op.payment_id, Decimal(0), Decimal(0)))
            if applied >= left:
                settles.append(op.payment_id)
        else:
            if not self.sap.bank_gl_account:
                raise PermanentError(
                    "payment applications are off: set bank_gl_account (the bank clearing account)"
                )
            if applied > op.amount:
                raise BadRecordError(f"the allocations apply {applied} but the payment is only {op.amount}")
            if op.amount > applied:
                lines.append(
                    DebtorLine(
                        op.customer_remote_id,
                        applied - op.amount,
                        assignment=reference_for(out.key),
                        text="arbridge on account",
                    )
                )
                kinds.append((ap.Settles.NOTHING, None, Decimal(0), Decimal(0)))
            gl.insert(
                0,
                GlLine(
                    self.sap.bank_gl_account,
                    op.amount,
                    (op.reference or "incoming payment")[:50],
                    self.sap.house_bank,
                    self.sap.house_bank_account,
                ),
            )
        entry = JournalEntry(
            key=out.key,
            company_code=company_code,
            document_type=self.sap.payment_document_type,
            posting_date=op.date.isoformat(),
            currency=op.currency,
            created_by=self.sap.created_by_user or (self.sap.username or "ARBRIDGE")[:12],
            gl_lines=gl,
            debtor_lines=lines,
            header_text=(op.reference or "arbridge")[:25],
        )
        # Numbered as the message numbers them (ReferenceDocumentItem): G/L lines first.
        applied_lines = [
            ap.AppliedLine(kind, target, line.amount, line.assignment[:18].strip(), len(gl) + n, disc, wo)
            for n, (line, (kind, target, disc, wo)) in enumerate(zip(lines, kinds, strict=True), start=1)
        ]
        return entry, settles, applied_lines

    def _watch(self, *, report: bool = False) -> list[dict[str, Any]]:
        """Payments posted whose items should have cleared; with ``report``, those still open are logged."""
        watch: list[dict[str, Any]] = json.loads(self.context.state.get(WATCH_KEY) or "[]")
        if not report or not watch:
            return watch
        grace = timedelta(hours=self.sap.clearing_grace_hours)
        due = [w for w in watch if self._now() - datetime.fromisoformat(w["posted_at"]) >= grace]
        if not due:
            return watch
        rows, _ = self._items_by_id(sorted({i for w in due for i in w["items"]}))
        open_ids = {it.item_id(r) for r in rows if not it.is_cleared(r)}
        kept: list[dict[str, Any]] = []
        for entry in watch:
            if entry in due:
                still = [i for i in entry["items"] if i in open_ids]
                if not still:
                    continue  # cleared: nothing to report any more
                if not entry["reported"]:
                    log.warning(
                        "payment %s (outbox key %s) was posted %s, but %s are still open after %.0f hours: "
                        "automatic clearing did not match them (check the assignment and the clearing run); "
                        "the payment is not posted again",
                        entry["document"],
                        entry["key"],
                        entry["posted_at"],
                        ", ".join(still),
                        self.sap.clearing_grace_hours,
                        extra={"connection": self.context.connection, "key": entry["key"]},
                    )
                entry = {**entry, "items": still, "reported": True}
            kept.append(entry)
        self.context.state.put(WATCH_KEY, json.dumps(kept))
        return kept

    def unsettled(self) -> list[dict[str, Any]]:
        """Posted payments whose items stayed open past ``clearing_grace_hours`` (reported, not re-posted)."""
        return [w for w in self._watch(report=True) if w.get("reported")]

    # -- reconciliation -----------------------------------------------------------------------------

    def find_written(self, op: OutboundOp) -> WriteResult | None:
        """Whether ``op`` reached SAP: its dunning record shows its values, a document has its key,
        or a long text has its marker."""
        o = op.op
        if isinstance(o, CollectionStatusUpdate):
            try:
                key = self._dunning_key(o)
            except ConnectorError:
                return None
            state = self._read_dunning([key]).get(key)
            if state is None:
                return None
            if not self._desired([o], state) and self._note([o], state) is None:
                return WriteResult(
                    op.key, True, remote_id=_dunning_id(key), version=state.etag, duplicate=True
                )
            return WriteResult(op.key, False)
        if isinstance(o, PaymentApplication):
            flt = f"{self._company_filter()} and DocumentReferenceID eq {quote(reference_for(op.key))}"
            rows, _ = self.odata.query(CUBE, CUBE_SET, filter=flt, select=list(ITEM_KEYS), top=1)
            if rows:
                doc = "/".join(str(getattr(rows[0], k)) for k in ITEM_KEYS[:3])
                self.context.state.put(LEDGER_PREFIX + op.key, f"posted:{doc}")
                return WriteResult(op.key, True, remote_id=doc, duplicate=True)
            return WriteResult(op.key, False)
        if isinstance(o, Note):
            return self.notes.find_written(op)
        return None


def _dunning_id(key: tuple[str, str, str]) -> str:
    return f"{key[0]}/{key[1]}/{key[2]}"


def _verify(settings: SapS4HanaSettings) -> bool | str:
    from connectors.http import tls_verify

    return tls_verify(settings.verify_tls, settings.ca_bundle)


def _load(cursor: Cursor | None) -> dict[str, Any]:
    if cursor is None or not cursor.value:
        return {}
    try:
        data = json.loads(cursor.value)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _postal_address(row: dict[str, Any]) -> dict[str, Any]:
    """SAP's address fields as the lines of a letter: street and number as the country writes them."""

    def text(name: str) -> str:
        return str(row.get(name) or "").strip()

    country = text("Country")
    street, number = text("StreetName"), text("HouseNumber")
    parts = [number, street] if country in NUMBER_FIRST else [street, number]
    lines = [text("StreetPrefixName"), " ".join(p for p in parts if p), text("StreetSuffixName")]
    if text("POBox"):
        lines.append(f"PO Box {text('POBox')}")
    return {
        "lines": [line for line in lines if line],
        "PostalCode": text("POBoxPostalCode")
        if text("POBox") and text("POBoxPostalCode")
        else text("PostalCode"),
        "CityName": text("CityName"),
        "Region": text("Region"),
        "Country": country,
    }
