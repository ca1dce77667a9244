"""The Business Central connector: reads AR from API v2.0 and the arbridge extension, writes collection state.

Reading
    Customers come from API v2.0 ``customers``; invoices, credit memos and payments from the
    extension's ``customerLedgerEntries`` (one entry per posted document, with its remaining
    amount, due date and collection fields), each stream filtered by ``documentType``. Pages are
    as large as BC serves (``Prefer: odata.maxpagesize``, 20,000) and follow ``@odata.nextLink``;
    every page's cursor holds the link to the next one, so a crash resumes where it stopped.
    Incremental reads filter ``lastModifiedDateTime ge`` the newest time delivered minus an
    overlap, and drop what was already delivered at those times. An entity set that refuses the
    filter is read in full, and the refusal is remembered.

Writing
    Collection status, dunning level and next action date: a PATCH with ``If-Match`` of the
    extension's customer or ledger entry, up to 100 per JSON ``$batch``. Payment applications: a
    customer payment journal line per invoice in a dedicated batch (``payment_journal``), with the
    operation's marker in ``externalDocumentNumber``, up to 100 lines in one ``$batch``, then the
    journal posted through the extension's bound ``post`` action. Notes: the customer's comment
    lines through the extension's ``customerComments`` page (``notes.py``). See ``README.md``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from connectors.base import (
    AuthError,
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
from connectors.business_central.auth import EntraAuth, basic_auth, windows_auth
from connectors.business_central.notes import CustomerComments
from connectors.business_central.webhooks import Subscriptions
from connectors.http import TlsSession
from connectors.odata import BatchRequest, BatchResponse, ODataClient, any_of, literal
from connectors.rest import Backoff, session_for
from mapping.fieldmap import FieldMap, MappingError
from mapping.models import (
    CollectionStatus,
    CollectionStatusUpdate,
    Customer,
    CustomerStatus,
    DocumentStatus,
    Note,
    OpType,
    PaymentApplication,
    PaymentStatus,
    Record,
    Stream,
    TargetType,
)

MAPPING_FILE = Path(__file__).with_name("mapping.yaml")
EXTENSION_ROUTE = "arbridge/collections/v1.0"
STANDARD_ROUTE = "v2.0"
BLANK_DATE = "0001-01-01"
DOCUMENT_TYPE: dict[Stream, str] = {
    Stream.INVOICES: "Invoice",
    Stream.CREDIT_MEMOS: "Credit Memo",
    Stream.PAYMENTS: "Payment",
}
STATUS_OF_ENUM: dict[str, CollectionStatus] = {
    "Current": CollectionStatus.CURRENT,
    "Reminded": CollectionStatus.REMINDED,
    "Escalated": CollectionStatus.ESCALATED,
    "Promised": CollectionStatus.PROMISED,
    "Disputed": CollectionStatus.DISPUTED,
    "On_x0020_Hold": CollectionStatus.ON_HOLD,
    "Collections_x0020_Agency": CollectionStatus.COLLECTIONS_AGENCY,
    "Paid": CollectionStatus.PAID,
}
ENUM_OF_STATUS = {v: k for k, v in STATUS_OF_ENUM.items()}
# Records changed this long before the newest one delivered are read again next time: BC stamps
# SystemModifiedAt when a row changes, and a long posting may commit after a read saw later rows.
OVERLAP = timedelta(minutes=2)
# At most this many ids delivered inside the overlap are remembered to drop their repeats.
SEEN_MAX = 20_000
MARKER_PREFIX = "ARB-"


class BusinessCentralSettings(ConnectorSettings):
    """Settings of one Business Central connection (one company).

    Attributes:
        deployment: ``online`` (Entra ID) or ``on_premises`` (web-service access key).
        tenant_id: the Entra tenant (online).
        environment: the BC environment name (online), e.g. ``production``.
        client_id: the Entra app registration's id (online).
        client_secret: its secret (online; or ``certificate_path`` and ``certificate_thumbprint``).
        certificate_path: a PEM file with the app's private key (online, instead of a secret).
        certificate_thumbprint: the certificate's SHA-1 thumbprint, hex (with ``certificate_path``).
        authority_host: Entra ID's host (sovereign clouds differ).
        validate_authority: let msal check the authority against Microsoft's list; off for a
            host msal does not know.
        api_host: BC online's API host.
        server_url: the on-premises API root, ``https://bc.example.com:7048/BC/api``.
        on_premises_auth: ``web_service_key`` (basic, the server instance's NavUserPassword
            credential type) or ``windows`` (NTLM, for an instance set to Windows credentials).
        username: the on-premises BC user (``DOMAIN\\user`` for Windows authentication).
        web_service_key: that user's web-service access key.
        password: the Windows account's password (Windows authentication).
        company: the company, by name or id (``arbridge check`` lists them).
        payment_journal: the code of the customer payment journal batch arbridge posts payments
            through; keep it for arbridge alone, since posting posts every line in it.
        page_size: records per page (BC serves at most 20,000).
        batch_max: operations per ``$batch`` (BC takes at most 100).
        notification_url: the public URL of this connection's webhook route, to subscribe with.
        client_state: a secret BC echoes in every notification, checked before one is believed.
        deletion_check_hours: how often an incremental read of customers also lists every
            customer id to find the deleted ones (0: every read).
        note_mode: ``comment_lines`` writes notes as the customer's comment lines (extension
            1.2 and later); ``off`` refuses them.
        verify_tls, ca_bundle: TLS verification (a private CA's PEM file in ``ca_bundle``).
        timeout: seconds per call (BC online ends a request after 10 minutes).
    """

    deployment: Literal["online", "on_premises"] = "online"
    tenant_id: str | None = None
    environment: str = "production"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    certificate_path: str | None = None
    certificate_thumbprint: str | None = None
    authority_host: str = "https://login.microsoftonline.com"
    validate_authority: bool = True
    api_host: str = "https://api.businesscentral.dynamics.com"
    server_url: str | None = None
    on_premises_auth: Literal["web_service_key", "windows"] = "web_service_key"
    username: str | None = None
    web_service_key: SecretStr | None = None
    password: SecretStr | None = None
    company: str = Field(min_length=1)
    payment_journal: str = Field(default="ARBRIDGE", min_length=1, max_length=10)
    page_size: int = Field(default=20_000, ge=1, le=20_000)
    batch_max: int = Field(default=100, ge=1, le=100)
    notification_url: str | None = None
    client_state: SecretStr | None = None
    deletion_check_hours: float = Field(default=24.0, ge=0)
    note_mode: Literal["comment_lines", "off"] = "comment_lines"
    verify_tls: bool = True
    ca_bundle: str | None = None
    timeout: float = Field(default=600.0, gt=0, le=900)

    @model_validator(mode="after")
    def _complete(self) -> BusinessCentralSettings:
        if self.deployment == "online":
            missing = [n for n in ("tenant_id", "client_id") if not getattr(self, n)]
            if not self.client_secret and not (self.certificate_path and self.certificate_thumbprint):
                missing.append("client_secret (or certificate_path and certificate_thumbprint)")
            if missing:
                raise ValueError(f"BC online needs {', '.join(missing)}")
        else:
            secret = "password" if self.on_premises_auth == "windows" else "web_service_key"
            missing = [n for n in ("server_url", "username", secret) if not getattr(self, n)]
            if missing:
                raise ValueError(f"BC on-premises ({self.on_premises_auth}) needs {', '.join(missing)}")
        return self

    @property
    def api_root(self) -> str:
        if self.deployment == "online":
            return f"{self.api_host.rstrip('/')}/v2.0/{self.tenant_id}/{self.environment}/api"
        assert self.server_url is not None
        return self.server_url.rstrip("/")


def marker_for(key: str) -> str:
    """The ``externalDocumentNumber`` of a payment written for outbox key ``key`` (35 characters)."""
    return MARKER_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:31].upper()


def document_number_for(key: str) -> str:
    """The payment's ``documentNumber`` (20 characters), the same for every line of one operation."""
    return "ARB" + hashlib.sha256(key.encode()).hexdigest()[:17].upper()


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _date(text: Any) -> date | None:
    if not text or text == BLANK_DATE:
        return None
    return date.fromisoformat(str(text)[:10])


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


class _Anchor:
    """Where a stream's incremental reads start: a time, and the versions delivered at or after it."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.since: str | None = state.get("since")
        self.seen: dict[str, str] = dict(state.get("seen") or {})
        self.newest: datetime | None = _parse_time(state["newest"]) if state.get("newest") else None

    def is_new(self, raw: dict[str, Any]) -> bool:
        rid = str(raw.get("id"))
        return self.seen.get(rid) != str(raw.get("lastModifiedDateTime"))

    def delivered(self, raws: list[dict[str, Any]]) -> None:
        for raw in raws:
            text = raw.get("lastModifiedDateTime")
            if not text:
                continue
            when = _parse_time(str(text))
            if self.newest is None or when > self.newest:
                self.newest = when
            self.seen[str(raw.get("id"))] = str(text)

    def finish(self) -> None:
        """Move the start to the newest time delivered minus the overlap; forget what lies before."""
        if self.newest is None:
            return
        start = self.newest - OVERLAP
        self.since = start.astimezone(UTC).isoformat().replace("+00:00", "Z")
        kept = {k: v for k, v in self.seen.items() if _parse_time(v) >= start}
        if len(kept) > SEEN_MAX:
            newest = sorted(kept.items(), key=lambda kv: kv[1])[-SEEN_MAX:]
            kept = dict(newest)
            self.since = min(v for _, v in newest)
        self.seen = kept

    def state(self, next_link: str | None, full: bool) -> dict[str, Any]:
        return {
            "since": self.since,
            "seen": self.seen,
            "newest": self.newest.isoformat() if self.newest else None,
            "next": next_link,
            "full": full,
        }


class _KnownIds:
    """The ids of a stream BC had when last counted, plus those delivered since (connection state)."""

    def __init__(self, state: Any, stream: Stream) -> None:
        self.state = state
        self.key = f"business_central.ids.{stream.value}"
        try:
            data = json.loads(state.get(self.key) or "{}")
        except ValueError:
            data = {}
        self.ids: set[str] = set(data.get("ids") or [])
        self.at: datetime | None = _parse_time(data["at"]) if data.get("at") else None
        self._fresh: set[str] = set()

    def add(self, ids: Iterable[str]) -> None:
        self._fresh.update(ids)

    def due(self, now: datetime, every: timedelta) -> bool:
        return self.at is None or now - self.at >= every

    def checked(self, now: datetime, listed: set[str] | None) -> None:
        """A count finished at ``now``: ``listed`` is what BC has (None: what was just delivered)."""
        self.ids = (listed if listed is not None else set()) | self._fresh
        self._fresh = set()
        self.at = now
        self.state.put(self.key, json.dumps({"at": now.isoformat(), "ids": sorted(self.ids)}))

    def save(self) -> None:
        """Remember the ids delivered since the last count (nothing to write when none is new)."""
        new = self._fresh - self.ids
        self._fresh = set()
        if not new and self.at is not None:
            return
        self.ids |= new
        self.state.put(
            self.key, json.dumps({"at": self.at.isoformat() if self.at else None, "ids": sorted(self.ids)})
        )


class BusinessCentralConnector(Connector):
    """Microsoft Dynamics 365 Business Central, online (Entra ID) or on-premises (access key)."""

    name = "business_central"
    version = "0.1.0"
    capabilities = Capabilities(
        streams=frozenset(Stream),
        write_ops=frozenset({OpType.COLLECTION_STATUS, OpType.PAYMENT_APPLICATION, OpType.NOTE}),
        page_max=20_000,
        batch_max=100,
        # 6,000 requests per 5-minute sliding window per user, 100 at once.
        requests_per_minute=1_200,
        max_concurrency=100,
        sorted_streams=frozenset(Stream),
    )
    settings_model = BusinessCentralSettings

    def __init__(
        self,
        settings: ConnectorSettings,
        context: ConnectorContext,
        *,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(settings, context)
        self.clock = clock or (lambda: datetime.now(UTC))
        assert isinstance(settings, BusinessCentralSettings)
        self.bc: BusinessCentralSettings = settings
        self.session = session_for(self)
        if settings.deployment == "online":
            credential: str | dict[str, str]
            if settings.client_secret is not None:
                credential = settings.client_secret.get_secret_value()
            else:
                assert settings.certificate_path and settings.certificate_thumbprint
                credential = {
                    "private_key": Path(settings.certificate_path).read_text(encoding="utf-8"),
                    "thumbprint": settings.certificate_thumbprint,
                }
            self.session.auth = EntraAuth(
                f"{settings.authority_host.rstrip('/')}/{settings.tenant_id}",
                str(settings.client_id),
                credential,
                TlsSession(self.session.verify if self.session.verify is not None else True),
                validate_authority=settings.validate_authority,
            )
        elif settings.on_premises_auth == "windows":
            assert settings.username and settings.password
            self.session.auth = windows_auth(settings.username, settings.password.get_secret_value())
        else:
            assert settings.username and settings.web_service_key
            self.session.auth = basic_auth(settings.username, settings.web_service_key.get_secret_value())
        options: dict[str, Any] = {
            "what": "Business Central",
            "timeout": settings.timeout,
            "backoff": Backoff(),
        }
        if sleep is not None:
            options["sleep"] = sleep
        self.client = ODataClient(settings.api_root, self.session, **options)
        self.fieldmap = FieldMap.load(MAPPING_FILE, context.mapping_overrides)
        self.comments = CustomerComments(self.client, self._path, enabled=settings.note_mode != "off")
        self._company_id: str | None = None
        self._journal_id: str | None = None
        self._subscribed = False
        # Whether the payment journal is known to hold no line of a stopped write (see _settle_journal).
        self._journal_settled = False

    def budget_key(self) -> str:
        """BC counts requests per user (the app registration, or the on-premises user) and environment."""
        who = self.bc.client_id if self.bc.deployment == "online" else self.bc.username
        return f"business_central|{self.bc.api_root}|{who}"

    @property
    def batch_max(self) -> int:
        return self.bc.batch_max

    def close(self) -> None:
        self.session.close()

    # -- addresses --------------------------------------------------------------------------------

    def company_id(self) -> str:
        """The configured company's id; looked up by name once and remembered in the connection state."""
        if self._company_id:
            return self._company_id
        key = f"business_central.company.{self.bc.company}"
        remembered = self.context.state.get(key)
        if remembered:
            self._company_id = remembered
            return remembered
        companies = self.companies()
        wanted = self.bc.company.strip().lower()
        for company in companies:
            if wanted in (str(company.get("id")).lower(), str(company.get("name")).lower()):
                self._company_id = str(company["id"])
                self.context.state.put(key, self._company_id)
                return self._company_id
        names = ", ".join(f"{c.get('name')!r} ({c.get('id')})" for c in companies) or "none"
        raise PermanentError(f"no company {self.bc.company!r} in Business Central (companies: {names})")

    def companies(self) -> list[dict[str, Any]]:
        data = self.client.json("GET", f"{STANDARD_ROUTE}/companies")
        return [c for c in data.get("value") or [] if isinstance(c, dict)]

    def _path(self, route: str, entity_set: str, key: str | None = None) -> str:
        path = f"{route}/companies({self.company_id()})/{entity_set}"
        return f"{path}({key})" if key else path

    # -- check ------------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """Sign in, find the company and the payment journal, and prove the extension is installed."""
        try:
            companies = self.companies()
            details: dict[str, Any] = {"companies": [f"{c.get('name')} ({c.get('id')})" for c in companies]}
            self.company_id()
            self.client.json("GET", self._path(EXTENSION_ROUTE, "customers"), params={"$top": "1"})
            journal = self.journal_id(required=False)
            applications = self._has_applications_page()
            comments = self.bc.note_mode == "off" or self.comments.has_page()
        except AuthError as exc:
            return CheckResult(
                False, f"Business Central refused the credentials: {exc.message}", {"kind": "auth"}
            )
        except ConnectorError as exc:
            hint = ""
            if exc.erp_code == "BadRequest_ResourceNotFound" or "404" in exc.message:
                hint = " (is the arbridge extension installed? see connectors/business_central/extension)"
            return CheckResult(False, f"Business Central: {exc}{hint}", {"kind": exc.kind.value})
        message = f"connected to Business Central company {self.bc.company!r}"
        if journal is None:
            message += (
                f"; payment journal batch {self.bc.payment_journal!r} is missing (payments cannot be posted)"
            )
        subscriptions = self.subscriptions()
        if subscriptions is not None:
            try:
                kept = subscriptions.keep()
                details["webhooks"] = {r.rsplit("/", 1)[-1]: t.isoformat() for r, t in kept.items()}
                message += f"; webhooks subscribed until {min(kept.values()):%Y-%m-%d %H:%M} UTC"
            except ConnectorError as exc:
                message += (
                    f"; webhooks not subscribed (is {self.bc.notification_url} reachable from BC?): {exc}"
                )
        if not applications:
            message += (
                "; the arbridge extension has no paymentApplications page (install version 1.1 or later "
                "to apply existing payments)"
            )
        if not comments:
            message += (
                "; the arbridge extension has no customerComments page (install version 1.2 or later to "
                "write notes as the customers' comment lines, or set note_mode: off)"
            )
        return CheckResult(True, message, details)

    def _has_applications_page(self) -> bool:
        """Whether the installed extension serves ``paymentApplications`` (version 1.1 and later)."""
        try:
            self.client.json("GET", self._path(EXTENSION_ROUTE, "paymentApplications"), params={"$top": "1"})
        except ConnectorError as exc:
            if exc.erp_code == "BadRequest_ResourceNotFound":
                return False
            raise
        return True

    def journal_id(self, *, required: bool = True) -> str | None:
        if self._journal_id:
            return self._journal_id
        data = self.client.json(
            "GET",
            self._path(STANDARD_ROUTE, "customerPaymentJournals"),
            params={"$filter": f"code eq {literal(self.bc.payment_journal)}"},
        )
        found = [j for j in data.get("value") or [] if isinstance(j, dict)]
        if not found:
            if required:
                raise PermanentError(
                    f"no customer payment journal batch {self.bc.payment_journal!r} in Business Central: "
                    "create it (Cash Receipt Journal) or set payment_journal"
                )
            return None
        self._journal_id = str(found[0]["id"])
        return self._journal_id

    # -- read -------------------------------------------------------------------------------------

    def subscriptions(self) -> Subscriptions | None:
        """The connection's webhook subscriptions, when ``notification_url`` and ``client_state`` are set."""
        if not self.bc.notification_url or self.bc.client_state is None:
            return None
        company = self.company_id()
        return Subscriptions(
            self.client,
            self.context.state,
            self.bc.notification_url,
            self.bc.client_state.get_secret_value(),
            [
                f"api/{STANDARD_ROUTE}/companies({company})/customers",
                f"api/{EXTENSION_ROUTE}/companies({company})/customerLedgerEntries",
            ],
            self.clock,
        )

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        """Pages of ``stream`` changed since ``cursor`` (everything when None); each page's cursor resumes.

        The first read of a connector also keeps the webhook subscriptions alive (no call while
        they are known to live long enough).
        """
        if not self._subscribed:
            self._subscribed = True
            subscriptions = self.subscriptions()
            if subscriptions is not None:
                subscriptions.keep_quietly()
        state = self._cursor_state(cursor)
        anchor = _Anchor(state)
        full = bool(state.get("full")) or anchor.since is None
        if stream is Stream.CUSTOMERS:
            path, conditions = self._path(STANDARD_ROUTE, "customers"), []
        else:
            path = self._path(EXTENSION_ROUTE, "customerLedgerEntries")
            conditions = [f"documentType eq {literal(DOCUMENT_TYPE[stream])}"]
        refused_key = f"business_central.unfilterable.{stream.value}"
        incremental = anchor.since is not None and not self.context.state.get(refused_key)
        if incremental:
            conditions.append(f"lastModifiedDateTime ge {anchor.since}")
        params = {"$filter": " and ".join(conditions)} if conditions else {}
        pages = self.client.pages(path, params, page_size=self.bc.page_size, start=state.get("next"))
        known = _KnownIds(self.context.state, stream) if stream is Stream.CUSTOMERS else None
        try:
            last = None
            for page in self._pages(stream, pages, anchor, full):
                if known is not None:
                    known.add(r.remote_id for r in page.records)
                last = page
                yield page
            if known is not None and last is not None:
                yield from self._deleted_customers(known, last.cursor, full)
        except BadRecordError as exc:
            if not incremental or state.get("next") or "lastModifiedDateTime" not in exc.message:
                raise
            # This page cannot filter on its modification time: remember it and read it in full.
            self.context.state.put(refused_key, "1")
            params = {"$filter": conditions[0]} if stream is not Stream.CUSTOMERS else {}
            pages = self.client.pages(path, params, page_size=self.bc.page_size)
            yield from self._pages(stream, pages, anchor, True)

    def _deleted_customers(self, known: _KnownIds, cursor: Cursor | None, full: bool) -> Iterator[Page]:
        """Tombstones for the customers BC no longer has, when a check is due; BC logs no deletions.

        Posted ledger entries are never deleted in BC, so only customers need this. A full read
        delivered every id there is: it starts the count afresh instead.
        """
        now = self.clock()
        if full:
            known.checked(now, None)
            return
        if not known.due(now, timedelta(hours=self.bc.deletion_check_hours)):
            known.save()
            return
        listed: set[str] = set()
        calls = 0
        path = self._path(STANDARD_ROUTE, "customers")
        for chunk in self.client.pages(path, {"$select": "id"}, page_size=self.bc.page_size):
            listed.update(str(item["id"]) for item in chunk.items if item.get("id"))
            calls += chunk.api_calls
        gone = sorted(known.ids - listed)
        known.checked(now, listed)
        if gone:
            self.context.logger.info("%d customer(s) deleted in Business Central", len(gone))
        tombstones: list[Record] = [
            Customer(
                remote_id=rid,
                name=f"(deleted {rid})",
                status=CustomerStatus.INACTIVE,
                remote_modified_at=now,
                deleted=True,
                raw_status="Deleted",
                raw={"id": rid},
            )
            for rid in gone
        ]
        yield Page(stream=Stream.CUSTOMERS, records=tombstones, cursor=cursor, api_calls=calls)

    def _pages(self, stream: Stream, pages: Iterator[Any], anchor: _Anchor, full: bool) -> Iterator[Page]:
        for chunk in pages:
            fresh = [raw for raw in chunk.items if anchor.is_new(raw)]
            records, rejects = self._translate(stream, fresh)
            anchor.delivered(fresh)
            if chunk.next is None:
                anchor.finish()
                cursor = Cursor(json.dumps(anchor.state(None, False)))
            else:
                cursor = Cursor(json.dumps(anchor.state(chunk.next, full)))
            yield Page(
                stream=stream, records=records, cursor=cursor, rejects=rejects, api_calls=chunk.api_calls
            )

    @staticmethod
    def _cursor_state(cursor: Cursor | None) -> dict[str, Any]:
        if cursor is None or not cursor.value:
            return {}
        try:
            data = json.loads(cursor.value)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    # -- translation ------------------------------------------------------------------------------

    def _translate(self, stream: Stream, items: list[dict[str, Any]]) -> tuple[list[Record], list[Reject]]:
        records: list[Record] = []
        rejects: list[Reject] = []
        for raw in items:
            try:
                records.append(self.to_record(stream, raw))
            except MappingError as exc:
                rejects.append(Reject(stream, exc.remote_id, exc.path or exc.field, exc.reason, raw))
        return records, rejects

    def to_record(self, stream: Stream, raw: dict[str, Any]) -> Record:
        """One BC entity (API JSON) as a canonical record.

        Raises:
            MappingError: a field the canonical record needs is missing or unreadable.
        """
        # The ETag is the record's version; a dotted mapping path cannot name "@odata.etag".
        extra: dict[str, Any] = {"version": raw.get("@odata.etag")}
        try:
            if stream is Stream.INVOICES:
                extra.update(self._invoice_extras(raw))
            elif stream is Stream.CREDIT_MEMOS:
                total, remaining = -_dec(raw.get("amount")), -_dec(raw.get("remainingAmount"))
                extra.update(
                    total=total,
                    open_amount=remaining,
                    status=_doc_status(total, remaining),
                    due_date=_date(raw.get("dueDate")),
                    raw_status=_raw_status(raw),
                )
            elif stream is Stream.PAYMENTS:
                amount, unapplied = -_dec(raw.get("amount")), -_dec(raw.get("remainingAmount"))
                if unapplied <= 0:
                    status = PaymentStatus.APPLIED
                elif unapplied < amount:
                    status = PaymentStatus.PARTIALLY_APPLIED
                else:
                    status = PaymentStatus.UNAPPLIED
                extra.update(
                    amount=amount,
                    unapplied_amount=max(unapplied, Decimal(0)),
                    status=status,
                    raw_status=_raw_status(raw),
                )
        except (ValueError, ArithmeticError) as exc:
            raise MappingError(stream, str(raw.get("id") or "") or None, None, None, str(exc)) from exc
        return self.fieldmap.to_record(stream, raw, **extra)

    @staticmethod
    def _invoice_extras(raw: dict[str, Any]) -> dict[str, Any]:
        total, remaining = _dec(raw.get("amount")), _dec(raw.get("remainingAmount"))
        level = raw.get("dunningLevel") or raw.get("lastIssuedReminderLevel") or None
        due = _date(raw.get("dueDate"))
        issue = _date(raw.get("postingDate"))
        return {
            "status": _doc_status(total, remaining),
            "raw_status": _raw_status(raw),
            "due_date": due if due is None or issue is None or due >= issue else issue,
            "collection_status": STATUS_OF_ENUM.get(str(raw.get("collectionStatus") or "")),
            "dunning_level": int(level) if level else None,
            "promise_to_pay_date": _date(raw.get("promiseToPayDate")),
            "dunning_block": bool(str(raw.get("onHold") or "").strip()),
        }

    # -- fetch ------------------------------------------------------------------------------------

    def fetch(self, target_type: TargetType, remote_id: str) -> Record | None:
        """Re-read one record; None when BC no longer has it."""
        if target_type is TargetType.CUSTOMER:
            raw = self.client.entity(self._path(STANDARD_ROUTE, "customers", remote_id))
            return None if raw is None else self.to_record(Stream.CUSTOMERS, raw)
        raw = self.client.entity(self._path(EXTENSION_ROUTE, "customerLedgerEntries", remote_id))
        if raw is None:
            return None
        stream = {"Invoice": Stream.INVOICES, "Payment": Stream.PAYMENTS}.get(
            str(raw.get("documentType")), Stream.CREDIT_MEMOS
        )
        return self.to_record(stream, raw)

    # -- write ------------------------------------------------------------------------------------

    def write(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        """Collection-status updates, payment applications and notes, one result per operation, in order."""
        results: dict[str, WriteResult] = {}
        statuses: list[OutboundOp] = []
        payments: list[OutboundOp] = []
        applications: list[OutboundOp] = []
        notes: list[OutboundOp] = []
        for out in ops:
            if out.key in results or any(
                o.key == out.key for o in (*statuses, *payments, *applications, *notes)
            ):
                continue
            if isinstance(out.op, CollectionStatusUpdate):
                statuses.append(out)
            elif isinstance(out.op, Note):
                notes.append(out)
            elif isinstance(out.op, PaymentApplication) and out.op.payment_id:
                applications.append(out)
            elif isinstance(out.op, PaymentApplication):
                payments.append(out)
            else:
                results[out.key] = _failed(
                    out, PermanentError(f"Business Central takes no {out.op.op_type} writes")
                )
        for i in range(0, len(statuses), self.bc.batch_max):
            results.update(self._write_statuses(statuses[i : i + self.bc.batch_max]))
        for chunk in self._payment_chunks(payments):
            results.update(self._write_payments(chunk))
        for chunk in self._payment_chunks(applications):
            results.update(self._write_applications(chunk))
        if notes:
            self.company_id()  # a refused sign-in fails the whole call, not each operation
            results.update(self.comments.write(notes))
        return [results[out.key] for out in ops]

    def _status_target(self, op: CollectionStatusUpdate) -> str:
        if op.target_type is TargetType.CUSTOMER:
            return self._path(EXTENSION_ROUTE, "customers", op.target_id)
        if op.target_type in (TargetType.INVOICE, TargetType.CREDIT_MEMO):
            return self._path(EXTENSION_ROUTE, "customerLedgerEntries", op.target_id)
        raise BadRecordError(f"Business Central keeps no collection status on a {op.target_type.value}")

    @staticmethod
    def _status_body(op: CollectionStatusUpdate) -> dict[str, Any]:
        return {
            "collectionStatus": ENUM_OF_STATUS[op.collection_status],
            "dunningLevel": op.dunning_level or 0,
            "nextActionDate": op.next_action_date.isoformat() if op.next_action_date else BLANK_DATE,
        }

    def _write_statuses(self, ops: list[OutboundOp]) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        requests: list[BatchRequest] = []
        sent: dict[str, OutboundOp] = {}
        self.company_id()  # a refused sign-in fails the whole call, not each operation
        for n, out in enumerate(ops):
            op = out.op
            assert isinstance(op, CollectionStatusUpdate)
            try:
                url = self._status_target(op)
                etag = op.base_version or self._current_etag(url)
            except BadRecordError as exc:
                results[out.key] = _failed(out, exc)
                continue
            rid = str(n + 1)
            sent[rid] = out
            requests.append(
                BatchRequest(
                    rid, "PATCH", self.client.url(url), body=self._status_body(op), headers={"If-Match": etag}
                )
            )
        if not requests:
            return results
        answers = self.client.batch(requests, path=f"{EXTENSION_ROUTE}/$batch")
        for rid, out in sent.items():
            results[out.key] = self._status_result(out, answers[rid])
        return results

    def _current_etag(self, url: str) -> str:
        raw = self.client.entity(url)
        if raw is None:
            raise BadRecordError(f"{url.rsplit('/', 1)[-1]} does not exist in Business Central (deleted?)")
        return str(raw.get("@odata.etag") or "*")

    def _status_result(self, out: OutboundOp, answer: BatchResponse) -> WriteResult:
        if answer.ok and isinstance(answer.body, dict):
            return WriteResult(
                out.key, True, remote_id=str(answer.body.get("id")), version=answer.body.get("@odata.etag")
            )
        error = answer.error() or TransientError(f"HTTP {answer.status} without an error body")
        if isinstance(error, ConflictError):
            # A replay of a write that landed finds the values it wrote: that is not a conflict.
            done = self.find_written(out)
            if done is not None and done.ok:
                return done
        return _failed(out, error)

    # -- payments ---------------------------------------------------------------------------------

    def _payment_chunks(self, payments: list[OutboundOp]) -> Iterator[list[OutboundOp]]:
        """Payments in groups whose journal lines (one per allocation) fit in one ``$batch``."""
        chunk: list[OutboundOp] = []
        lines = 0
        for out in payments:
            n = max(1, len(out.op.allocations))  # type: ignore[attr-defined]
            if chunk and lines + n > self.bc.batch_max:
                yield chunk
                chunk, lines = [], 0
            chunk.append(out)
            lines += n
        if chunk:
            yield chunk

    def _write_payments(self, ops: list[OutboundOp]) -> dict[str, WriteResult]:
        """Journal lines for every allocation in one ``$batch``, then one post of the journal batch.

        Before anything is created, one ``$batch`` of reads finds the invoices' document numbers
        and which of these operations BC already posted (found by their marker). Lines a stopped
        write left in the journal were posted (or withdrawn) before the first payment this
        connection writes, so a marker not posted is nowhere in BC: nothing is created twice.
        """
        results: dict[str, WriteResult] = {}
        journal = self.journal_id()
        assert journal is not None
        self._settle_journal(journal)
        markers = {marker_for(o.key): o for o in ops}
        invoice_ids = sorted({a.target_id for o in ops for a in o.op.allocations})  # type: ignore[attr-defined]
        ledger = self.client.url(self._path(EXTENSION_ROUTE, "customerLedgerEntries"))
        paid_filter = f"documentType eq 'Payment' and {any_of('externalDocumentNumber', markers)}"
        lookups = [
            BatchRequest("entries", "GET", f"{ledger}?$filter={_q(any_of('id', invoice_ids))}"),
            BatchRequest("posted", "GET", f"{ledger}?$filter={_q(paid_filter)}"),
        ]
        answers = self.client.batch(lookups, path=f"{EXTENSION_ROUTE}/$batch")
        for answer in answers.values():
            error = answer.error()
            if error is not None:
                raise error
        entries = {str(e["id"]): e for e in answers["entries"].body.get("value") or []}
        posted = {str(e["externalDocumentNumber"]): e for e in answers["posted"].body.get("value") or []}
        lines_path = self._journal_lines_path(journal)
        creates: list[BatchRequest] = []
        owners: dict[str, OutboundOp] = {}
        to_post: list[OutboundOp] = []
        for marker, out in markers.items():
            op = out.op
            assert isinstance(op, PaymentApplication)
            if marker in posted:
                results[out.key] = WriteResult(
                    out.key, True, remote_id=str(posted[marker]["id"]), duplicate=True
                )
                continue
            try:
                lines = self._payment_lines(out, op, entries, journal)
            except BadRecordError as exc:
                results[out.key] = _failed(out, exc)
                continue
            for body in lines:
                rid = f"l{len(creates) + 1}"
                owners[rid] = out
                creates.append(BatchRequest(rid, "POST", self.client.url(lines_path), body=body))
            to_post.append(out)
        if not to_post:
            return results
        # From here until the journal is posted or emptied, lines of ours may wait in it.
        self._journal_settled = False
        created = self.client.batch(creates, path=f"{STANDARD_ROUTE}/$batch")
        failed = {owners[rid].key: a.error() for rid, a in created.items() if not a.ok}
        posting: ConnectorError | None = None
        if failed and not self._withdraw_lines(journal, [marker_for(k) for k in failed]):
            # The other lines of a refused operation are still there: posting would apply part of it.
            posting = TransientError("journal lines of a refused payment could not be withdrawn; not posted")
        elif len(failed) < len(to_post):
            posting = self._post_journal(journal)
        for out in to_post:
            if out.key in failed:
                results[out.key] = _failed(out, failed[out.key] or TransientError("journal line refused"))
            elif posting is None:
                results[out.key] = WriteResult(out.key, True, remote_id=marker_for(out.key))
            else:
                results[out.key] = _failed(out, posting)
        if posting is not None or failed:
            self._journal_settled = self._withdraw_lines(journal, list(markers))
        else:
            self._journal_settled = True
        return results

    def _journal_lines_path(self, journal: str) -> str:
        return self._path(STANDARD_ROUTE, f"customerPaymentJournals({journal})/customerPayments")

    def _settle_journal(self, journal: str) -> None:
        """Post the lines a stopped write left in the journal, once per connection and after a failure.

        Such lines carry the markers of operations that may be sent again: posted now, the look-up
        finds them posted and nothing is created twice. Lines BC refuses to post are withdrawn (the
        operations they belong to were not applied and will be sent again).
        """
        if self._journal_settled:
            return
        waiting = [
            line
            for page in self.client.pages(self._journal_lines_path(journal), page_size=self.bc.page_size)
            for line in page.items
        ]
        if waiting:
            refused = self._post_journal(journal)
            if refused is not None:
                self.context.logger.warning(
                    "lines left in payment journal %s could not be posted; withdrawing them: %s",
                    self.bc.payment_journal,
                    refused,
                )
                markers = sorted({str(line.get("externalDocumentNumber")) for line in waiting})
                if not self._withdraw_lines(journal, markers):
                    raise TransientError(
                        f"payment journal {self.bc.payment_journal!r} holds lines Business Central "
                        f"neither posts nor lets arbridge remove: {refused}"
                    )
        self._journal_settled = True

    # -- applications of existing payments -------------------------------------------------------

    def _write_applications(self, ops: list[OutboundOp]) -> dict[str, WriteResult]:
        """Apply existing open payments to invoices through the extension's ``paymentApplications``.

        One row per allocation, keyed by the operation's marker and the allocation's line number
        (the row's primary key in BC, so a row sent twice is refused, not applied twice). One
        ``$batch`` of reads finds the entries and the rows already applied; one ``$batch`` sends
        the rows still missing.
        """
        results: dict[str, WriteResult] = {}
        markers = {marker_for(o.key): o for o in ops}
        entry_ids = sorted(
            {str(o.op.payment_id) for o in ops}  # type: ignore[attr-defined]
            | {a.target_id for o in ops for a in o.op.allocations}  # type: ignore[attr-defined]
        )
        ledger = self.client.url(self._path(EXTENSION_ROUTE, "customerLedgerEntries"))
        applied_url = self.client.url(self._path(EXTENSION_ROUTE, "paymentApplications"))
        answers = self.client.batch(
            [
                BatchRequest("entries", "GET", f"{ledger}?$filter={_q(any_of('id', entry_ids))}"),
                BatchRequest(
                    "applied", "GET", f"{applied_url}?$filter={_q(any_of('applicationKey', markers))}"
                ),
            ],
            path=f"{EXTENSION_ROUTE}/$batch",
        )
        for answer in answers.values():
            error = answer.error()
            if error is not None:
                raise error
        entries = {str(e["id"]): e for e in answers["entries"].body.get("value") or []}
        done: dict[str, set[int]] = {}
        for row in answers["applied"].body.get("value") or []:
            done.setdefault(str(row["applicationKey"]), set()).add(int(row["lineNumber"]))
        creates: list[BatchRequest] = []
        owners: dict[str, OutboundOp] = {}
        sent: list[OutboundOp] = []
        for marker, out in markers.items():
            op = out.op
            assert isinstance(op, PaymentApplication)
            have = done.get(marker, set())
            if len(have) >= len(op.allocations):
                results[out.key] = WriteResult(out.key, True, remote_id=op.payment_id, duplicate=True)
                continue
            try:
                rows = self._application_rows(marker, op, entries)
            except BadRecordError as exc:
                results[out.key] = _failed(out, exc)
                continue
            for row in rows:
                if row["lineNumber"] in have:
                    continue
                rid = f"a{len(creates) + 1}"
                owners[rid] = out
                creates.append(BatchRequest(rid, "POST", applied_url, body=row))
            sent.append(out)
        if not creates:
            return results
        # Rows of one operation are applied together or not at all: an operation with several
        # rows gets a $batch of its own under snapshot isolation (BC rolls it back whole when a
        # row is refused); single rows share one $batch, where each stands alone.
        rows_of: dict[str, list[BatchRequest]] = {}
        for request in creates:
            rows_of.setdefault(owners[request.id].key, []).append(request)
        shared = [r for group in rows_of.values() if len(group) == 1 for r in group]
        created: dict[str, BatchResponse] = {}
        if shared:
            created.update(self.client.batch(shared, path=f"{EXTENSION_ROUTE}/$batch"))
        for group in rows_of.values():
            if len(group) > 1:
                created.update(self.client.batch(group, path=f"{EXTENSION_ROUTE}/$batch", isolation=True))
        failed: dict[str, ConnectorError] = {}
        for key, group in rows_of.items():
            errors = [
                created[r.id].error() or TransientError("row refused") for r in group if not created[r.id].ok
            ]
            # A row BC already holds (its key and line) was applied by an earlier attempt; in an
            # isolated $batch, though, it rolled the other rows back: look again next time.
            real = [e for e in errors if e.erp_code != "Internal_EntityWithSameKeyExists"]
            if real:
                failed[key] = real[0]
            elif errors and len(group) > 1:
                failed[key] = TransientError("application rows rolled back by a row already applied; retry")
        for out in sent:
            if out.key in failed:
                results[out.key] = _failed(out, failed[out.key])
            else:
                results[out.key] = WriteResult(out.key, True, remote_id=out.op.payment_id)  # type: ignore[attr-defined]
        return results

    @staticmethod
    def _application_rows(
        marker: str, op: PaymentApplication, entries: dict[str, dict[str, Any]]
    ) -> list[dict[str, Any]]:
        payment = entries.get(str(op.payment_id))
        if payment is None or payment.get("documentType") != "Payment":
            raise BadRecordError(f"payment entry {op.payment_id} does not exist in Business Central")
        unapplied = -_dec(payment.get("remainingAmount"))
        total = sum((a.amount for a in op.allocations), Decimal(0))
        if total > unapplied:
            raise BadRecordError(
                f"payment {payment.get('documentNumber')} has {unapplied} unapplied, "
                f"less than the {total} to apply"
            )
        rows = []
        for n, allocation in enumerate(op.allocations, start=1):
            if allocation.target_type is not TargetType.INVOICE:
                raise BadRecordError("an existing payment is applied to invoices only, not to credit memos")
            entry = entries.get(allocation.target_id)
            if entry is None or entry.get("documentType") != "Invoice":
                raise BadRecordError(
                    f"invoice entry {allocation.target_id} does not exist in Business Central"
                )
            if entry.get("customerId") != payment.get("customerId"):
                raise BadRecordError(
                    f"invoice {entry.get('documentNumber')} belongs to another customer than "
                    f"payment {payment.get('documentNumber')}"
                )
            if allocation.amount > _dec(entry.get("remainingAmount")):
                raise BadRecordError(
                    f"invoice {entry.get('documentNumber')} owes {entry.get('remainingAmount')}, "
                    f"less than the {allocation.amount} to apply"
                )
            rows.append(
                {
                    "applicationKey": marker,
                    "lineNumber": n,
                    "paymentEntryId": str(op.payment_id),
                    "invoiceEntryId": allocation.target_id,
                    "amount": float(allocation.amount),
                    "postingDate": op.date.isoformat(),
                }
            )
        return rows

    def _post_journal(self, journal: str) -> ConnectorError | None:
        """Post the journal batch through the extension's bound action; the error when BC refuses."""
        try:
            self.client.request(
                "POST", self._path(EXTENSION_ROUTE, "paymentJournals", journal) + "/Microsoft.NAV.post"
            )
        except (TransientError, AuthError):
            raise
        except ConnectorError as exc:
            return exc
        return None

    def _payment_lines(
        self, out: OutboundOp, op: PaymentApplication, entries: dict[str, dict[str, Any]], journal: str
    ) -> list[dict[str, Any]]:
        lines = []
        for allocation in op.allocations:
            if allocation.target_type is not TargetType.INVOICE:
                raise BadRecordError(
                    "customer payment journal lines apply to invoices only, not to credit memos"
                )
            entry = entries.get(allocation.target_id)
            if entry is None:
                raise BadRecordError(
                    f"invoice entry {allocation.target_id} does not exist in Business Central"
                )
            if allocation.amount > _dec(entry.get("remainingAmount")):
                raise BadRecordError(
                    f"invoice {entry.get('documentNumber')} owes {entry.get('remainingAmount')}, "
                    f"less than the {allocation.amount} to apply"
                )
            lines.append(
                {
                    "customerId": op.customer_remote_id,
                    "postingDate": op.date.isoformat(),
                    "documentNumber": document_number_for(out.key),
                    "externalDocumentNumber": marker_for(out.key),
                    "amount": float(allocation.amount),
                    "appliesToInvoiceNumber": str(entry.get("documentNumber")),
                    "description": (op.reference or op.reason or "applied by arbridge")[:100],
                }
            )
        return lines

    def _withdraw_lines(self, journal: str, markers: list[str]) -> bool:
        """After a refused post, take these markers' lines out of the journal so they block nobody.

        Returns whether the journal holds none of them any more.
        """
        wanted = set(markers)
        try:
            lines = [
                line
                for page in self.client.pages(self._journal_lines_path(journal), page_size=self.bc.page_size)
                for line in page.items
                if str(line.get("externalDocumentNumber")) in wanted
            ]
            deletes = [
                BatchRequest(
                    f"d{n}",
                    "DELETE",
                    self.client.url(self._path(STANDARD_ROUTE, "customerPayments", line["id"])),
                    headers={"If-Match": line.get("@odata.etag") or "*"},
                )
                for n, line in enumerate(lines)
            ]
            gone = True
            for i in range(0, len(deletes), self.bc.batch_max):
                answers = self.client.batch(
                    deletes[i : i + self.bc.batch_max], path=f"{STANDARD_ROUTE}/$batch"
                )
                gone = gone and all(a.ok or a.status == 404 for a in answers.values())
            return gone
        except ConnectorError as exc:
            self.context.logger.warning("journal lines of a refused posting stay in the journal: %s", exc)
            return False

    # -- reconciliation ---------------------------------------------------------------------------

    def find_written(self, op: OutboundOp) -> WriteResult | None:
        """Whether ``op`` already reached BC: the values in place, a posted payment with its marker,
        or a customer's comment lines with the note's code.

        A payment whose lines wait unposted in the journal has not landed: the next payment write
        posts such lines first, and then finds the payment posted instead of adding new lines.
        """
        o = op.op
        if isinstance(o, Note):
            return self.comments.find_written(op)
        if isinstance(o, CollectionStatusUpdate):
            raw = self.client.entity(self._status_target(o))
            if raw is None:
                return None
            want = self._status_body(o)
            have = {k: raw.get(k) for k in want}
            if have == want:
                return WriteResult(
                    op.key, True, remote_id=str(raw.get("id")), version=raw.get("@odata.etag"), duplicate=True
                )
            return WriteResult(op.key, False)
        if isinstance(o, PaymentApplication) and o.payment_id:
            rows = (
                self.client.json(
                    "GET",
                    self._path(EXTENSION_ROUTE, "paymentApplications"),
                    params={"$filter": f"applicationKey eq {literal(marker_for(op.key))}"},
                ).get("value")
                or []
            )
            if len({int(r["lineNumber"]) for r in rows}) >= len(o.allocations):
                return WriteResult(op.key, True, remote_id=o.payment_id, duplicate=True)
            return WriteResult(op.key, False)
        if isinstance(o, PaymentApplication):
            marker = marker_for(op.key)
            data = self.client.json(
                "GET",
                self._path(EXTENSION_ROUTE, "customerLedgerEntries"),
                params={
                    "$filter": f"documentType eq 'Payment' and externalDocumentNumber eq {literal(marker)}"
                },
            )
            found = data.get("value") or []
            if found:
                return WriteResult(op.key, True, remote_id=str(found[0]["id"]), duplicate=True)
            return WriteResult(op.key, False)
        return None


def _q(text: str) -> str:
    return text.replace(" ", "%20").replace("'", "%27")


def _failed(out: OutboundOp, error: ConnectorError) -> WriteResult:
    return WriteResult(out.key, False, error=error)


def _doc_status(total: Decimal, remaining: Decimal) -> DocumentStatus:
    if remaining == 0:
        return DocumentStatus.PAID if total != 0 else DocumentStatus.OPEN
    if 0 < remaining < total:
        return DocumentStatus.PARTIALLY_PAID
    return DocumentStatus.OPEN


def _raw_status(raw: dict[str, Any]) -> str:
    return "Open" if raw.get("open") else "Closed"


__all__ = ["BusinessCentralConnector", "BusinessCentralSettings", "document_number_for", "marker_for"]
