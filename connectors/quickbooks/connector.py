"""The QuickBooks Online connector: reads AR records, writes collection status, notes and payments.

Reading
    A first pull pages through the query endpoint (``STARTPOSITION``/``MAXRESULTS`` at 1,000,
    ordered by ``MetaData.LastUpdatedTime``, so every page's cursor is resumable). Later pulls use
    change data capture for all four entities in one call; its answer is shared by the streams of
    the same cycle. A CDC answer holding 1,000 objects is full (Intuit truncates it): the window is
    split by moving ``changedSince`` forward until the newest part fits, and the older part is read
    through the query endpoint. Cursors older than CDC's 30-day look-back fall back to the query.

Writing
    Every write goes through the batch endpoint with a ``requestid`` derived from the outbox keys
    of the batch and a ``bId`` derived from each operation's key; see ``README.md`` for the
    choices (custom field format, notes in ``PrivateNote``, payment lines sent all at once).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import requests
from pydantic import Field, SecretStr, field_validator, model_validator

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
from connectors.errors import AuthError
from connectors.http import TlsSession, tls_verify
from connectors.limits import shared_limiter
from connectors.quickbooks.auth import AUTH_URL, TOKEN_URL, TokenManager
from connectors.quickbooks.client import (
    PACED_BURST,
    QuickBooksClient,
    RateLimiter,
    classify_fault,
    company_budget_key,
)
from mapping.fieldmap import FieldMap, MappingError
from mapping.models import (
    Allocation,
    CollectionStatus,
    CollectionStatusUpdate,
    CreditMemo,
    Customer,
    CustomerStatus,
    DocumentStatus,
    Invoice,
    Note,
    OpType,
    Payment,
    PaymentApplication,
    PaymentStatus,
    Record,
    Stream,
    TargetType,
)

MAPPING_FILE = Path(__file__).with_name("mapping.yaml")

ENTITY_OF_STREAM: dict[Stream, str] = {
    Stream.CUSTOMERS: "Customer",
    Stream.INVOICES: "Invoice",
    Stream.CREDIT_MEMOS: "CreditMemo",
    Stream.PAYMENTS: "Payment",
}
STREAM_OF_ENTITY = {v: k for k, v in ENTITY_OF_STREAM.items()}
ENTITY_OF_TARGET: dict[TargetType, str] = {
    TargetType.CUSTOMER: "Customer",
    TargetType.INVOICE: "Invoice",
    TargetType.CREDIT_MEMO: "CreditMemo",
    TargetType.PAYMENT: "Payment",
}
TXN_TYPE_OF_TARGET = {TargetType.INVOICE: "Invoice", TargetType.CREDIT_MEMO: "CreditMemo"}
DocTarget = Literal[TargetType.INVOICE, TargetType.CREDIT_MEMO]
TARGET_OF_TXN_TYPE: dict[str, DocTarget] = {
    "Invoice": TargetType.INVOICE,
    "CreditMemo": TargetType.CREDIT_MEMO,
}

#: Intuit truncates a CDC answer at this many objects.
CDC_MAX_OBJECTS = 1000
#: CDC looks back 30 days; a cursor older than this (with an hour to spare) uses the query.
CDC_LOOKBACK = timedelta(days=30) - timedelta(hours=1)
# Re-read a little before the last answer's server time: a transaction committed just before the
# answer may carry an earlier LastUpdatedTime than the answer's own time.
OVERLAP = timedelta(minutes=5)
# Streams whose anchors lie at most this far before the calling stream's share its CDC call.
HINT_REACH = timedelta(hours=1)
HINT_KEY = "quickbooks.cdc_since"
# Legacy custom fields hold at most 31 characters.
CUSTOM_FIELD_MAX = 31
PRIVATE_NOTE_MAX = 4000
# Where a note lands per target, and how long that text may be (Intuit's Finance.xsd).
NOTE_FIELD: dict[TargetType, tuple[str, str, int]] = {
    TargetType.INVOICE: ("Invoice", "PrivateNote", PRIVATE_NOTE_MAX),
    TargetType.CUSTOMER: ("Customer", "Notes", 1024),
}

STATUS_LABELS: dict[CollectionStatus, str] = {
    CollectionStatus.CURRENT: "current",
    CollectionStatus.REMINDED: "reminded",
    CollectionStatus.ESCALATED: "escalated",
    CollectionStatus.PROMISED: "promised",
    CollectionStatus.DISPUTED: "disputed",
    CollectionStatus.ON_HOLD: "on hold",
    CollectionStatus.COLLECTIONS_AGENCY: "agency",
    CollectionStatus.PAID: "paid",
}
_STATUS_OF_LABEL = {v: k for k, v in STATUS_LABELS.items()}
SEPARATOR = " · "


class QuickBooksSettings(ConnectorSettings):
    """Settings of one QuickBooks Online connection (one company).

    Attributes:
        base_url: API host; the sandbox companies of the Intuit developer portal use
            ``https://sandbox-quickbooks.api.intuit.com``.
        token_url: OAuth token endpoint.
        auth_url: OAuth consent endpoint.
        redirect_uri: a redirect URI registered for the app (needed only by ``arbridge auth``).
        realm_id: the company id.
        client_id: the app's OAuth client id.
        client_secret: the app's OAuth client secret.
        refresh_token: bootstrap only: adopted once, after which the rotating token lives in the
            connection's state store.
        verifier_token: the webhook verifier token from the developer portal.
        minor_version: sent on every call; Intuit ignores versions before 75.
        page_size: query page size (Intuit's maximum is 1,000).
        batch_max: operations per batch request (see README: 30 by default).
        collection_status_field_id: DefinitionId ("1"-"3") of the Invoice string custom field that
            receives the collection status; None disables that write-back.
        dunning_level_field_id: DefinitionId of a second custom field for the dunning level; when
            None the level is written into the status field.
        note_mode: ``private_note`` appends notes to the invoice's internal memo (``PrivateNote``) or
            the customer's ``Notes``; ``off`` refuses them.
        home_currency: the company's currency, used when a record carries no ``CurrencyRef``.
        verify_tls: verify TLS certificates (turning it off needs ``dev_mode: true``).
        ca_bundle: a CA bundle path (a corporate proxy's root), used instead of the system store.
        timeout: seconds per call.
        throttle_retries: throttled calls retried by the client before the error reaches the engine.
    """

    base_url: str = "https://quickbooks.api.intuit.com"
    token_url: str = TOKEN_URL
    auth_url: str = AUTH_URL
    redirect_uri: str | None = None
    realm_id: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    refresh_token: SecretStr | None = None
    verifier_token: SecretStr | None = None
    minor_version: int = Field(default=75, ge=75)
    page_size: int = Field(default=1000, ge=1, le=1000)
    batch_max: int = Field(default=30, ge=1, le=30)
    collection_status_field_id: Literal["1", "2", "3"] | None = None
    dunning_level_field_id: Literal["1", "2", "3"] | None = None
    note_mode: Literal["private_note", "off"] = "private_note"
    home_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    verify_tls: bool = True
    ca_bundle: str | None = None
    timeout: float = Field(default=60.0, gt=0, le=120)
    throttle_retries: int = Field(default=2, ge=0, le=10)

    @field_validator("collection_status_field_id", "dunning_level_field_id", mode="before")
    @classmethod
    def _int_ids_are_fine(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("note_mode", mode="before")
    @classmethod
    def _unquoted_off(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML reads an unquoted off as false

    @model_validator(mode="after")
    def _distinct_fields(self) -> QuickBooksSettings:
        if self.dunning_level_field_id and self.dunning_level_field_id == self.collection_status_field_id:
            raise ValueError("dunning_level_field_id must differ from collection_status_field_id")
        return self

    @property
    def verify(self) -> bool | str:
        """What ``requests`` takes for TLS verification: the CA bundle when set, else on or off."""
        return tls_verify(self.verify_tls, self.ca_bundle)


# --------------------------------------------------------------------------------------------------
# Helpers shared by reading and writing
# --------------------------------------------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def request_id_for(keys: Sequence[str], generation: int = 0) -> str:
    """The ``requestid`` of a batch: a UUID derived from the outbox keys it carries.

    Resending the same operations yields the same id, so Intuit answers a retry with the first
    answer instead of applying it twice. ``generation`` counts the times those operations had to
    leave under a new id (their earlier request was answered for good: refused as a whole, or
    parked and put back by an admin), so that Intuit does not replay that answer.
    """
    blob = "\n".join(sorted(set(keys)))
    if generation:
        blob += f"\n#{generation}"
    return str(uuid.UUID(hex=_digest(blob)[:32]))


def batch_id_for(key: str) -> str:
    """The ``bId`` of one operation inside a batch, derived from its outbox key."""
    return "ab" + _digest(key)[:18]


def marker_for(key: str) -> str:
    """The tag written into ``PrivateNote`` so a write can be found again after a lost answer."""
    return f"[arbridge {_digest(key)[:12]}]"


def format_collection_status(
    status: CollectionStatus, level: int | None, next_date: Any, *, with_level: bool = True
) -> str:
    """The custom-field text, e.g. ``escalated · L2 · 2026-12-01`` (at most 31 characters)."""
    parts = [STATUS_LABELS[status]]
    if with_level and level is not None:
        parts.append(f"L{level}")
    if next_date is not None:
        parts.append(str(next_date))
    text = SEPARATOR.join(parts)
    while len(text) > CUSTOM_FIELD_MAX and len(parts) > 1:
        parts.pop()
        text = SEPARATOR.join(parts)
    return text[:CUSTOM_FIELD_MAX]


def parse_collection_status(text: str | None) -> tuple[CollectionStatus | None, int | None]:
    """Read back what :func:`format_collection_status` wrote (tolerant of hand edits)."""
    if not text:
        return None, None
    status: CollectionStatus | None = None
    level: int | None = None
    for part in (p.strip() for p in str(text).replace("|", "·").split("·")):
        low = part.lower()
        if low in _STATUS_OF_LABEL:
            status = _STATUS_OF_LABEL[low]
        elif low.replace(" ", "_") in CollectionStatus.__members__.values():
            status = CollectionStatus(low.replace(" ", "_"))
        elif low[:1] == "l" and low[1:].isdigit():
            level = int(low[1:])
    return status, level


def _custom_field_value(raw: dict[str, Any], definition_id: str | None) -> str | None:
    if not definition_id:
        return None
    fields = raw.get("CustomField") or []
    for cf in fields if isinstance(fields, list) else [fields]:
        if isinstance(cf, dict) and str(cf.get("DefinitionId")) == definition_id:
            value = cf.get("StringValue")
            return None if value in (None, "") else str(value)
    return None


class _FieldError(ValueError):
    """A field ``to_record`` computes from could not be read: becomes a Reject naming the field."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def _dec(value: Any, path: str = "amount") -> Decimal:
    if value in (None, ""):
        return Decimal(0)
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise _FieldError(path, f"not a number: {value!r}") from None


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _is_voided(raw: dict[str, Any]) -> bool:
    # Voiding sets PrivateNote to "Voided" (Intuit's void responses) and zeroes the amounts.
    note = str(raw.get("PrivateNote") or "")
    return note.startswith("Voided") or str(raw.get("TxnStatus") or "").lower() == "voided"


class _Anchor:
    """A stream's position: the newest ``LastUpdatedTime`` delivered and the ids delivered at it."""

    def __init__(self, since: str | None, seen: set[str]) -> None:
        self.since = since or None
        self.time = _parse_time(since) if since else None
        self.seen = seen if since else set()

    def is_new(self, raw: dict[str, Any], *, strict: bool = True) -> bool:
        """Whether ``raw`` lies after the anchor (or at it, not yet delivered).

        ``strict=False`` only drops records already delivered at the anchor time: what CDC
        answered for exactly this anchor is the server's word, older timestamps included.
        """
        if self.time is None:
            return True
        when = _lut(raw)
        if when is None:
            return True
        if when == self.time:
            return str(raw.get("Id")) not in self.seen
        return when > self.time or not strict

    def advance(self, items: list[dict[str, Any]]) -> bool:
        """Move past ``items``; True when the anchor time moved."""
        moved = False
        for raw in items:
            when = _lut(raw)
            if when is None:
                continue
            text = str((raw.get("MetaData") or {}).get("LastUpdatedTime"))
            if self.time is None or when > self.time:
                self.since, self.time, self.seen = text, when, {str(raw.get("Id"))}
                moved = True
            elif when == self.time:
                self.seen.add(str(raw.get("Id")))
        return moved

    def start_at(self, server_time: datetime, lag: timedelta) -> None:
        """Move up to ``lag`` before the server's time when nothing delivered is that recent.

        Every record up to the server's time has been delivered, so none lies between the old
        anchor and the new one: the move loses and repeats nothing, and keeps the cursor inside
        CDC's look-back even for a stream that rarely changes.
        """
        candidate = server_time - lag
        if self.time is None or candidate > self.time:
            self.since, self.time, self.seen = _format_time(candidate), candidate, set()

    def cursor(self, mode: str) -> Cursor:
        return Cursor(json.dumps({"mode": mode, "since": self.since, "seen": sorted(self.seen)}))


def _lut(raw: dict[str, Any]) -> datetime | None:
    text = (raw.get("MetaData") or {}).get("LastUpdatedTime")
    if not text:
        return None
    try:
        return _parse_time(str(text))
    except ValueError:
        return None


@dataclass
class _CdcWindow:
    """One CDC answer shared by the streams of a cycle.

    ``objects`` hold every change since ``complete_since``; changes between ``requested_since`` and
    ``complete_since`` (when the window had to be split) must come from the query endpoint.
    """

    requested_since: datetime
    complete_since: datetime
    server_time: datetime
    objects: dict[str, list[dict[str, Any]]]
    extra_deleted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fetched_at: float = 0.0
    calls: int = 0


# --------------------------------------------------------------------------------------------------
# The connector
# --------------------------------------------------------------------------------------------------


class QuickBooksConnector(Connector):
    """QuickBooks Online (v3 REST API, OAuth 2.0)."""

    name = "quickbooks"
    version = "0.1.0"
    capabilities = Capabilities(
        streams=frozenset(ENTITY_OF_STREAM),
        write_ops=frozenset({OpType.COLLECTION_STATUS, OpType.PAYMENT_APPLICATION, OpType.NOTE}),
        page_max=1000,
        batch_max=30,
        requests_per_minute=500,
        max_concurrency=10,
        sorted_streams=frozenset(ENTITY_OF_STREAM),
    )
    settings_model = QuickBooksSettings
    #: How long one CDC answer serves the other streams of a cycle.
    cdc_cache_seconds = 900.0

    def __init__(
        self,
        settings: ConnectorSettings,
        context: ConnectorContext,
        *,
        session: requests.Session | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, QuickBooksSettings)
        self.qbo: QuickBooksSettings = settings
        self._now = now
        self.session = session or TlsSession(settings.verify)
        self.tokens = TokenManager(
            context.state,
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            token_url=settings.token_url,
            bootstrap_refresh_token=settings.refresh_token.get_secret_value()
            if settings.refresh_token
            else None,
            session=self.session,
            timeout=settings.timeout,
            verify=settings.verify,
        )
        self.client = QuickBooksClient(
            settings.base_url,
            settings.realm_id,
            self.tokens,
            minor_version=settings.minor_version,
            session=self.session,
            limiter=limiter or self.limiter,
            timeout=settings.timeout,
            verify=settings.verify,
            throttle_retries=settings.throttle_retries,
            sleep=sleep,
        )
        self.fieldmap = FieldMap.load(MAPPING_FILE, context.mapping_overrides)
        self._cdc_cache: _CdcWindow | None = None

    def budget_key(self) -> str:
        """Intuit's budget is per company: connections to one realm share it."""
        return company_budget_key(self.qbo.base_url, self.qbo.realm_id)

    @property
    def limiter(self) -> RateLimiter:
        """The company's limiter, paced to stay under Intuit's per-second limit as well."""
        return shared_limiter(
            self.budget_key(),
            self.capabilities.requests_per_minute,
            self.capabilities.max_concurrency,
            share=self.context.budget_share,
            burst=PACED_BURST,
        )

    @property
    def batch_max(self) -> int:
        """Operations per batch request for this connection (the ``batch_max`` setting)."""
        return self.qbo.batch_max

    def close(self) -> None:
        """Release the HTTP session."""
        self.session.close()

    # -- check ------------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """Read the company's info: proves the token, the realm and the accounting scope."""
        try:
            # A query rather than companyinfo/{id}: it needs no knowledge of the CompanyInfo Id.
            rows = self.client.query("SELECT * FROM CompanyInfo").get("CompanyInfo") or []
            data: dict[str, Any] = {"CompanyInfo": rows[0] if isinstance(rows, list) and rows else rows}
        except AuthError as exc:
            return CheckResult(False, f"QuickBooks rejected the credentials: {exc.message}", {"kind": "auth"})
        except ConnectorError as exc:
            return CheckResult(
                False, f"QuickBooks is not reachable or refused the call: {exc}", {"kind": exc.kind.value}
            )
        info = data.get("CompanyInfo") or {}
        name = info.get("CompanyName") if isinstance(info, dict) else None
        details: dict[str, Any] = {"realm_id": self.qbo.realm_id, "company": name}
        message = f"connected to QuickBooks company {name or self.qbo.realm_id!r}"
        if not self.qbo.collection_status_field_id:
            message += "; collection status write-back is off (set collection_status_field_id)"
        return CheckResult(True, message, details)

    # -- read -------------------------------------------------------------------------------------

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        """Yield pages of ``stream`` changed after ``cursor`` (everything when it is None).

        The cursor is the newest ``LastUpdatedTime`` delivered plus the ids delivered at exactly
        that time, so a resumed or incremental read neither repeats nor loses a record that shares
        its timestamp with others.
        """
        entity = ENTITY_OF_STREAM[stream]
        state = self._cursor_state(cursor)
        anchor = _Anchor(state.get("since"), set(state.get("seen") or []))
        if (
            state.get("mode") == "cdc"
            and anchor.time is not None
            and self._now() - anchor.time <= CDC_LOOKBACK
        ):
            yield from self._read_cdc(stream, entity, anchor)
            return
        # First pull, an interrupted pull, or a cursor beyond CDC's 30-day look-back (the query
        # finds what changed there, but cannot see deletions).
        yield from self._read_query(stream, entity, anchor)

    @staticmethod
    def _cursor_state(cursor: Cursor | None) -> dict[str, Any]:
        if cursor is None or not cursor.value:
            return {}
        try:
            data = json.loads(cursor.value)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _statement(self, entity: str, conditions: list[str], position: int) -> str:
        if entity == "Customer":
            # Lists hide inactive entries unless asked; inactive customers are kept with their flag.
            conditions = [*conditions, "Active IN (true, false)"]
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return (
            f"SELECT * FROM {entity}{where} ORDERBY MetaData.LastUpdatedTime"
            f" STARTPOSITION {position} MAXRESULTS {self.qbo.page_size}"
        )

    def _read_query(
        self,
        stream: Stream,
        entity: str,
        anchor: _Anchor,
        *,
        until: datetime | None = None,
        extra: list[dict[str, Any]] | None = None,
    ) -> Iterator[Page]:
        """Page through the query endpoint in ``LastUpdatedTime`` order.

        Each page re-anchors on the newest time it delivered (``>=`` that time, minus the ids
        already delivered there), so records updated during the pull move behind the anchor
        instead of shifting unread records past a ``STARTPOSITION``. With ``until`` the read is
        the older part of a split CDC window and the stream goes on with CDC afterwards.
        """
        position = 1
        pending_extra = list(extra or [])
        while True:
            conditions = []
            if anchor.since:
                conditions.append(f"MetaData.LastUpdatedTime >= {_quote(anchor.since)}")
            if until is not None:
                conditions.append(f"MetaData.LastUpdatedTime < {_quote(_format_time(until))}")
            data = self.client.request(
                "POST",
                "query",
                text_body=self._statement(entity, conditions, position),
                content_type="application/text",
            )
            qr = data.get("QueryResponse") or {}
            found = qr.get(entity) if isinstance(qr, dict) else None
            items = [dict(i) for i in (found if isinstance(found, list) else [found] if found else [])]
            fresh = [i for i in items if anchor.is_new(i)]
            full = len(items) >= self.qbo.page_size
            if full and not fresh:
                # A whole page of records sharing the anchor time: step over them by position.
                position += len(items)
                continue
            moved = anchor.advance(fresh)
            position = 1 if moved else position + len(items)
            records, rejects = self._translate(stream, [*pending_extra, *fresh])
            pending_extra = []
            done = not full
            if done and until is None:
                server = data.get("time")
                anchor.start_at(_parse_time(str(server)) if server else self._now(), OVERLAP)
                self._remember_anchor(stream, anchor)
                cursor = anchor.cursor("cdc")
            else:
                cursor = anchor.cursor("cdc" if until is not None else "query")
            yield Page(stream=stream, records=records, cursor=cursor, rejects=rejects, api_calls=1)
            if done:
                return

    def _read_cdc(self, stream: Stream, entity: str, anchor: _Anchor) -> Iterator[Page]:
        assert anchor.time is not None
        window = self._cdc_window(anchor.time)
        calls = window.calls
        window.calls = 0  # the calls are counted once, on the first stream that used the answer
        # A window fetched for an earlier stream's older anchor holds records this stream has had.
        strict = window.requested_since < anchor.time
        extra = [i for i in window.extra_deleted.get(entity, []) if anchor.is_new(i, strict=strict)]
        if anchor.time < window.complete_since:
            # The window was full: the older part comes from the query endpoint (sorted, bounded);
            # the deletions the truncated answers did show ride along with its first page.
            for page in self._read_query(stream, entity, anchor, until=window.complete_since, extra=extra):
                page.api_calls += calls
                calls = 0
                yield page
            extra = []
        items = [*extra, *(i for i in window.objects.get(entity, []) if anchor.is_new(i, strict=strict))]
        records, rejects = self._translate(stream, items)
        anchor.advance(items)
        anchor.start_at(window.server_time, OVERLAP)
        self._remember_anchor(stream, anchor)
        yield Page(
            stream=stream, records=records, cursor=anchor.cursor("cdc"), rejects=rejects, api_calls=calls
        )

    def _remember_anchor(self, stream: Stream, anchor: _Anchor) -> None:
        # A hint, not the cursor (the engine stores that): lets the first CDC call of a cycle reach
        # back far enough to serve the other streams too.
        if anchor.since:
            self.context.state.put(f"{HINT_KEY}.{stream.value}", anchor.since)

    def _call_since(self, since: datetime) -> datetime:
        earliest = since
        for stream in self.capabilities.streams:
            text = self.context.state.get(f"{HINT_KEY}.{stream.value}")
            try:
                hint = _parse_time(text) if text else None
            except ValueError:
                hint = None
            if hint is not None and since - HINT_REACH <= hint < earliest:
                earliest = hint
        return earliest

    def _cdc_window(self, since: datetime) -> _CdcWindow:
        cached = self._cdc_cache
        if (
            cached is not None
            and cached.requested_since <= since
            and time.monotonic() - cached.fetched_at < self.cdc_cache_seconds
        ):
            return cached
        entities = [ENTITY_OF_STREAM[s] for s in Stream if s in self.capabilities.streams]
        since = self._call_since(since)
        calls = 1
        objects, server = self.client.cdc(entities, _format_time(since))
        server_time = _parse_time(server) if server else self._now()
        start = since
        extra_deleted: dict[str, list[dict[str, Any]]] = {e: [] for e in entities}
        while sum(len(v) for v in objects.values()) >= CDC_MAX_OBJECTS:
            # Truncated: keep the deletions it did show (the query cannot see deletions), then ask
            # for the newer half. CDC has no upper bound, so only the start can move.
            for name, items in objects.items():
                extra_deleted[name].extend(i for i in items if i.get("status") == "Deleted")
            if server_time - start <= timedelta(seconds=2):
                raise TransientError(
                    "more than 1,000 changes within two seconds; CDC cannot be split further"
                )
            start = start + (server_time - start) / 2
            calls += 1
            objects, server = self.client.cdc(entities, _format_time(start))
            if server:
                server_time = _parse_time(server)
        window = _CdcWindow(
            requested_since=since,
            complete_since=start,
            server_time=server_time,
            objects=objects,
            extra_deleted=extra_deleted,
            fetched_at=time.monotonic(),
            calls=calls,
        )
        self._cdc_cache = window
        return window

    # -- translation ------------------------------------------------------------------------------

    def _translate(self, stream: Stream, items: list[dict[str, Any]]) -> tuple[list[Record], list[Reject]]:
        records: list[Record] = []
        rejects: list[Reject] = []
        for raw in items:
            try:
                records.append(self.to_record(stream, raw))
            except MappingError as exc:
                rejects.append(Reject(stream, exc.remote_id, exc.path or exc.field, exc.reason, raw))
            except _FieldError as exc:
                rid = str(raw.get("Id")) if raw.get("Id") is not None else None
                rejects.append(Reject(stream, rid, exc.path, exc.reason, raw))
        return records, rejects

    def to_record(self, stream: Stream, raw: dict[str, Any]) -> Record:
        """Translate one QuickBooks object (Intuit's JSON shape) into a canonical record.

        Raises:
            MappingError: the object lacks or garbles a field the canonical record needs.
        """
        if raw.get("status") == "Deleted":
            return self._tombstone(stream, raw)
        extra: dict[str, Any] = {}
        if stream is not Stream.CUSTOMERS and not (raw.get("CurrencyRef") or {}).get("value"):
            extra["currency"] = self.qbo.home_currency
        if stream in (Stream.INVOICES, Stream.CREDIT_MEMOS):
            total = _dec(raw.get("TotalAmt"), "TotalAmt")
            balance = _dec(raw.get("Balance", raw.get("RemainingCredit")), "Balance")
            if _is_voided(raw):
                extra.update(status=DocumentStatus.VOID, raw_status="Voided")
            elif balance <= 0 and total > 0:
                extra["status"] = DocumentStatus.PAID
            elif 0 < balance < total:
                extra["status"] = DocumentStatus.PARTIALLY_PAID
            else:
                extra["status"] = DocumentStatus.OPEN
        if stream is Stream.INVOICES:
            status, level = parse_collection_status(
                _custom_field_value(raw, self.qbo.collection_status_field_id)
            )
            level_text = _custom_field_value(raw, self.qbo.dunning_level_field_id)
            if level_text and level_text.strip().lstrip("Ll").isdigit():
                level = int(level_text.strip().lstrip("Ll"))
            extra.update(collection_status=status, dunning_level=level)
        if stream is Stream.PAYMENTS:
            extra.update(self._payment_extras(raw))
        return self.fieldmap.to_record(stream, raw, **extra)

    def _payment_extras(self, raw: dict[str, Any]) -> dict[str, Any]:
        allocations: list[Allocation] = []
        lines = raw.get("Line") or []
        for line in lines if isinstance(lines, list) else [lines]:
            if not isinstance(line, dict):
                continue
            linked = line.get("LinkedTxn") or []
            for txn in linked if isinstance(linked, list) else [linked]:
                target = TARGET_OF_TXN_TYPE.get(str((txn or {}).get("TxnType")))
                if target is None or not txn.get("TxnId"):
                    continue
                allocations.append(
                    Allocation(
                        target_type=target,
                        target_id=str(txn["TxnId"]),
                        amount=_dec(line.get("Amount"), "Line.Amount"),
                    )
                )
        total, unapplied = (
            _dec(raw.get("TotalAmt"), "TotalAmt"),
            _dec(raw.get("UnappliedAmt"), "UnappliedAmt"),
        )
        if _is_voided(raw):
            status = PaymentStatus.VOID
        elif unapplied <= 0:
            status = PaymentStatus.APPLIED
        elif unapplied < total:
            status = PaymentStatus.PARTIALLY_APPLIED
        else:
            status = PaymentStatus.UNAPPLIED
        return {"allocations": allocations, "status": status}

    def _tombstone(self, stream: Stream, raw: dict[str, Any]) -> Record:
        """A soft delete: CDC gives only ``Id`` and ``MetaData`` for a deleted object.

        The other required fields carry neutral placeholders; ``deleted=True`` tells the store to
        flag its existing copy rather than take these values.
        """
        rid = str(raw.get("Id") or "")
        lut = (raw.get("MetaData") or {}).get("LastUpdatedTime")
        if not rid or not lut:
            raise MappingError(
                stream, rid or None, "remote_id", "Id", "a deleted object without Id or MetaData"
            )
        modified = _parse_time(str(lut))
        common: dict[str, Any] = {
            "remote_id": rid,
            "remote_modified_at": modified,
            "deleted": True,
            "raw_status": "Deleted",
            "raw": raw,
        }
        if stream is Stream.CUSTOMERS:
            return Customer(name=f"(deleted customer {rid})", status=CustomerStatus.INACTIVE, **common)
        if stream is Stream.PAYMENTS:
            return Payment(
                date=modified.date(),
                amount=Decimal(0),
                unapplied_amount=Decimal(0),
                currency=self.qbo.home_currency,
                status=PaymentStatus.VOID,
                **common,
            )
        doc: dict[str, Any] = {
            "customer_remote_id": "unknown",
            "currency": self.qbo.home_currency,
            "issue_date": modified.date(),
            "total": Decimal(0),
            "open_amount": Decimal(0),
            "status": DocumentStatus.VOID,
        }
        if stream is Stream.INVOICES:
            return Invoice(**doc, **common)
        return CreditMemo(**doc, **common)

    # -- fetch ------------------------------------------------------------------------------------

    def fetch(self, target_type: TargetType, remote_id: str) -> Record | None:
        """Re-read one record by id; None when QuickBooks no longer has it."""
        entity = ENTITY_OF_TARGET[target_type]
        raw = self.client.get(entity, remote_id)
        if raw is None:
            return None
        return self.to_record(STREAM_OF_ENTITY[entity], raw)

    def _fetch_many(self, entity: str, ids: set[str]) -> dict[str, dict[str, Any]]:
        """Read several objects of one entity in as few calls as possible (one per 1,000 ids)."""
        found: dict[str, dict[str, Any]] = {}
        ordered = sorted(ids)
        for i in range(0, len(ordered), 1000):
            chunk = ordered[i : i + 1000]
            statement = (
                f"SELECT * FROM {entity} WHERE Id IN ({', '.join(_quote(x) for x in chunk)}) MAXRESULTS 1000"
            )
            qr = self.client.query(statement)
            items = qr.get(entity) or []
            for item in items if isinstance(items, list) else [items]:
                if isinstance(item, dict) and item.get("Id") is not None:
                    found[str(item["Id"])] = dict(item)
        return found

    # -- write ------------------------------------------------------------------------------------

    def write(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        """Send operations through the batch endpoint; one result per operation, in order.

        A collection status and notes for the same invoice become one sparse update (two items on
        one invoice in one batch would carry the same SyncToken, and the second would fail with
        5010). More than ``batch_max`` items are split into several batch requests.

        Raises:
            ConnectorError: the whole request failed (throttled, auth, network, or refused as a
                whole); the request id of these operations is then not used again.
        """
        results: dict[str, WriteResult] = {}
        unique: dict[str, OutboundOp] = {}
        for op in ops:
            unique.setdefault(op.key, op)
        current = self._prefetch(list(unique.values()))
        items: list[tuple[list[OutboundOp], dict[str, Any]]] = []
        for group in self._groups(list(unique.values())):
            try:
                items.append((group, self._batch_item(group, current)))
            except ConnectorError as exc:
                for op in group:
                    results[op.key] = WriteResult(key=op.key, ok=False, error=exc)
        for i in range(0, len(items), self.qbo.batch_max):
            chunk = items[i : i + self.qbo.batch_max]
            sent = [op for group, _ in chunk for op in group]
            request_id = self._request_id(sent)
            try:
                answers = self.client.batch([item for _, item in chunk], request_id)
            except (BadRecordError, PermanentError, ConflictError):
                # Intuit keeps its answer under the request id: a refusal of the whole request (a
                # body it could not read, say) would be replayed to every resend. These operations
                # leave under a new id next time; each one's marker still finds it in QuickBooks.
                self._renew_request_id(sent)
                raise
            for group, item in chunk:
                for op in group:
                    results[op.key] = self._result(op, answers.get(item["bId"]))
        return [results[op.key] for op in ops]

    @staticmethod
    def _groups(ops: list[OutboundOp]) -> list[list[OutboundOp]]:
        """The operations in the order given, a status and the notes of one invoice (or the notes of
        one customer) in one group.

        A group holds at most one status, and only operations decided on the same version of the
        invoice: an older decision stays apart, so QuickBooks answers it as stale and it is
        decided again.
        """
        groups: list[list[OutboundOp]] = []
        by_target: dict[tuple[TargetType, str], list[list[OutboundOp]]] = {}
        for op in ops:
            o = op.op
            if not isinstance(o, CollectionStatusUpdate | Note) or o.target_type not in NOTE_FIELD:
                groups.append([op])
                continue
            target = (o.target_type, o.target_id)
            for group in by_target.get(target, []):
                version = _status_version(group)
                if isinstance(o, CollectionStatusUpdate) and (
                    _has_status(group) or (version is not None and version != o.base_version)
                ):
                    continue
                group.append(op)
                break
            else:
                groups.append([op])
                by_target.setdefault(target, []).append(groups[-1])
        return groups

    def _request_slot(self, ops: Sequence[OutboundOp]) -> str:
        return "quickbooks.requestid." + _digest("\n".join(sorted(op.key for op in ops)))[:32]

    def _request_id(self, ops: Sequence[OutboundOp]) -> str:
        """The batch's ``requestid``: the same for a resend, new once an earlier answer was final."""
        slot = self._request_slot(ops)
        generation = int(self.context.state.get(slot) or 0)
        if any(op.new_request for op in ops):
            generation += 1
            # Stored before the request leaves: a resend after a lost answer must reuse this id.
            self.context.state.put(slot, str(generation))
        return request_id_for([op.key for op in ops], generation)

    def _renew_request_id(self, ops: Sequence[OutboundOp]) -> None:
        slot = self._request_slot(ops)
        self.context.state.put(slot, str(int(self.context.state.get(slot) or 0) + 1))

    def _prefetch(self, ops: list[OutboundOp]) -> dict[tuple[str, str], dict[str, Any]]:
        """Read what the writes need: the current memo for notes, all lines of a payment, and the
        SyncToken when the decision did not carry one."""
        wanted: dict[str, set[str]] = {}
        for out in ops:
            op = out.op
            if isinstance(op, Note) or (isinstance(op, CollectionStatusUpdate) and not op.base_version):
                wanted.setdefault(ENTITY_OF_TARGET[op.target_type], set()).add(op.target_id)
            elif isinstance(op, PaymentApplication) and op.payment_id:
                wanted.setdefault("Payment", set()).add(op.payment_id)
        current: dict[tuple[str, str], dict[str, Any]] = {}
        for entity, ids in wanted.items():
            for rid, raw in self._fetch_many(entity, ids).items():
                current[(entity, rid)] = raw
        return current

    def _batch_item(
        self, group: list[OutboundOp], current: dict[tuple[str, str], dict[str, Any]]
    ) -> dict[str, Any]:
        out = group[0]
        op = out.op
        bid = batch_id_for(out.key)
        if isinstance(op, Note) and op.target_type is TargetType.CUSTOMER:
            return {"bId": bid, "operation": "update", "Customer": self._customer_body(group, current)}
        if isinstance(op, CollectionStatusUpdate | Note):
            return {"bId": bid, "operation": "update", "Invoice": self._invoice_body(group, current)}
        if isinstance(op, PaymentApplication):
            if op.payment_id:
                return {
                    "bId": bid,
                    "operation": "update",
                    "Payment": self._payment_update_body(out, op, current),
                }
            return {"bId": bid, "operation": "create", "Payment": self._payment_create_body(out, op)}
        raise PermanentError(f"QuickBooks does not take {type(op).__name__} operations")

    def _invoice_body(
        self, group: list[OutboundOp], current: dict[tuple[str, str], dict[str, Any]]
    ) -> dict[str, Any]:
        """One sparse invoice update carrying a collection status and notes, in the order decided."""
        body: dict[str, Any] = {"Id": group[0].op.target_id, "sparse": True}
        token: str | None = None
        note: str | None = None
        for out in group:
            op = out.op
            if isinstance(op, CollectionStatusUpdate):
                status = self._status_body(op, current)
                token = status["SyncToken"]
                body["CustomField"] = status["CustomField"]
            elif isinstance(op, Note):
                part = self._note_body(out, op, current, previous=note)
                note = part["PrivateNote"]
                token = token or part["SyncToken"]
        body["SyncToken"] = token
        if note is not None:
            body["PrivateNote"] = note
        return body

    def _customer_body(
        self, group: list[OutboundOp], current: dict[tuple[str, str], dict[str, Any]]
    ) -> dict[str, Any]:
        """One sparse customer update carrying the group's notes, in the order decided."""
        body: dict[str, Any] = {}
        for out in group:
            if isinstance(out.op, Note):  # _groups puts only notes in a customer's group
                body = self._note_body(out, out.op, current, previous=body.get("Notes"))
        return body

    def _status_body(
        self, op: CollectionStatusUpdate, current: dict[tuple[str, str], dict[str, Any]]
    ) -> dict[str, Any]:
        if op.target_type is not TargetType.INVOICE:
            raise BadRecordError(
                "QuickBooks offers custom fields on invoices only; write the collection status per invoice"
            )
        field_id = self.qbo.collection_status_field_id
        if not field_id:
            raise PermanentError("collection status write-back is off: set collection_status_field_id (1-3)")
        sync_token = op.base_version or self._current(current, "Invoice", op.target_id).get("SyncToken")
        level_field = self.qbo.dunning_level_field_id
        text = format_collection_status(
            op.collection_status, op.dunning_level, op.next_action_date, with_level=level_field is None
        )
        custom = [{"DefinitionId": field_id, "Type": "StringType", "StringValue": text}]
        if level_field and op.dunning_level is not None:
            custom.append(
                {"DefinitionId": level_field, "Type": "StringType", "StringValue": str(op.dunning_level)}
            )
        return {"Id": op.target_id, "SyncToken": str(sync_token), "sparse": True, "CustomField": custom}

    def _note_body(
        self,
        out: OutboundOp,
        op: Note,
        current: dict[tuple[str, str], dict[str, Any]],
        previous: str | None = None,
    ) -> dict[str, Any]:
        if self.qbo.note_mode == "off":
            raise PermanentError("note write-back is off for this connection (note_mode: off)")
        if op.target_type not in NOTE_FIELD:
            raise BadRecordError(
                "notes are written to invoices (PrivateNote) and customers (Notes); "
                f"a {op.target_type.value} takes none"
            )
        entity, field, cap = NOTE_FIELD[op.target_type]
        raw = self._current(current, entity, op.target_id)
        entry = f"{marker_for(out.key)} {op.text}".strip()
        note = _append_note(previous if previous is not None else str(raw.get(field) or ""), entry, cap)
        return {
            "Id": op.target_id,
            "SyncToken": str(raw.get("SyncToken")),
            "sparse": True,
            field: note,
        }

    def _payment_create_body(self, out: OutboundOp, op: PaymentApplication) -> dict[str, Any]:
        lines = [_payment_line(a) for a in op.allocations]
        _check_applied(op.allocations, op.amount)
        body: dict[str, Any] = {
            "TxnDate": op.date.isoformat(),
            "CurrencyRef": {"value": op.currency},
            "PrivateNote": f"{marker_for(out.key)} {op.reason or 'applied by arbridge'}"[:PRIVATE_NOTE_MAX],
            "Line": lines,
            "CustomerRef": {"value": op.customer_remote_id},
            "TotalAmt": op.amount,
        }
        if op.reference:
            # PaymentRefNum holds at most 21 characters in QuickBooks.
            body["PaymentRefNum"] = op.reference[:21]
        return body

    def _payment_update_body(
        self, out: OutboundOp, op: PaymentApplication, current: dict[tuple[str, str], dict[str, Any]]
    ) -> dict[str, Any]:
        assert op.payment_id is not None
        raw = self._current(current, "Payment", op.payment_id)
        # QuickBooks replaces all lines of a payment at once, so every existing line is sent
        # again. An allocation to a document the payment already links replaces that line's
        # amount: the allocation states the desired application, which makes a replay harmless.
        wanted = {(TXN_TYPE_OF_TARGET[a.target_type], a.target_id): a for a in op.allocations}
        lines: list[dict[str, Any]] = []
        kept: list[Allocation] = []
        existing = raw.get("Line") or []
        for line in existing if isinstance(existing, list) else [existing]:
            linked = [t for t in (line.get("LinkedTxn") or []) if isinstance(t, dict)]
            keys = {(str(t.get("TxnType")), str(t.get("TxnId"))) for t in linked}
            if keys & set(wanted):
                continue
            lines.append(
                {
                    "Amount": _dec(line.get("Amount")),
                    "LinkedTxn": [
                        {"TxnId": str(t.get("TxnId")), "TxnType": str(t.get("TxnType"))} for t in linked
                    ],
                }
            )
            for t in linked:
                target = TARGET_OF_TXN_TYPE.get(str(t.get("TxnType")))
                if target is not None:
                    kept.append(
                        Allocation(
                            target_type=target, target_id=str(t.get("TxnId")), amount=_dec(line.get("Amount"))
                        )
                    )
        lines.extend(_payment_line(a) for a in op.allocations)
        total = _dec(raw.get("TotalAmt"))
        _check_applied([*kept, *op.allocations], total)
        note = _append_note(
            str(raw.get("PrivateNote") or ""), f"{marker_for(out.key)} {op.reason or 'applied by arbridge'}"
        )
        return {
            "Id": op.payment_id,
            "SyncToken": str(op.base_version or raw.get("SyncToken")),
            "sparse": True,
            "PrivateNote": note,
            "Line": lines,
        }

    @staticmethod
    def _current(current: dict[tuple[str, str], dict[str, Any]], entity: str, rid: str) -> dict[str, Any]:
        raw = current.get((entity, rid))
        if raw is None:
            raise BadRecordError(f"{entity} {rid} does not exist in QuickBooks (deleted?)", erp_code="610")
        return raw

    def _result(self, out: OutboundOp, answer: dict[str, Any] | None) -> WriteResult:
        if answer is None:
            return WriteResult(
                key=out.key, ok=False, error=TransientError("the batch answer has no item for this operation")
            )
        fault = answer.get("Fault")
        if isinstance(fault, dict):
            return WriteResult(key=out.key, ok=False, error=classify_fault(fault))
        for entity in ("Invoice", "Payment", "CreditMemo", "Customer"):
            obj = answer.get(entity)
            if isinstance(obj, dict):
                return WriteResult(
                    key=out.key,
                    ok=True,
                    remote_id=str(obj.get("Id")) if obj.get("Id") is not None else None,
                    version=str(obj.get("SyncToken")) if obj.get("SyncToken") is not None else None,
                )
        return WriteResult(
            key=out.key,
            ok=False,
            error=TransientError("the batch item answered with neither object nor fault"),
        )

    # -- reconciliation ---------------------------------------------------------------------------

    def find_written(self, op: OutboundOp) -> WriteResult | None:
        """Tell whether ``op`` already reached QuickBooks.

        Status updates compare the custom field with the value the operation writes; notes and
        payments look for the operation's marker in ``PrivateNote`` (new payments are searched
        among the customer's payments of that date). Returns a result with ``ok=True`` and
        ``duplicate=True`` when found, ``ok=False`` without an error when QuickBooks certainly
        lacks it (safe to send again), and None when it cannot tell.
        """
        o = op.op
        if isinstance(o, CollectionStatusUpdate):
            if o.target_type is not TargetType.INVOICE or not self.qbo.collection_status_field_id:
                return None
            raw = self.client.get("Invoice", o.target_id)
            if raw is None:
                return None
            want = format_collection_status(
                o.collection_status,
                o.dunning_level,
                o.next_action_date,
                with_level=self.qbo.dunning_level_field_id is None,
            )
            if _custom_field_value(raw, self.qbo.collection_status_field_id) == want:
                return _found(op, raw)
            return WriteResult(key=op.key, ok=False)
        marker = marker_for(op.key)
        if isinstance(o, Note) or (isinstance(o, PaymentApplication) and o.payment_id):
            if isinstance(o, Note):
                if o.target_type not in NOTE_FIELD:
                    return None
                entity, field, _ = NOTE_FIELD[o.target_type]
                rid = o.target_id
            else:
                entity, field, rid = "Payment", "PrivateNote", str(o.payment_id)
            raw = self.client.get(entity, rid)
            if raw is None:
                return None
            if marker in str(raw.get(field) or ""):
                return _found(op, raw)
            return WriteResult(key=op.key, ok=False)
        if isinstance(o, PaymentApplication):
            qr = self.client.query(
                f"SELECT * FROM Payment WHERE CustomerRef = {_quote(o.customer_remote_id)}"
                f" AND TxnDate = {_quote(o.date.isoformat())} MAXRESULTS 1000"
            )
            items = qr.get("Payment") or []
            for raw in items if isinstance(items, list) else [items]:
                if isinstance(raw, dict) and marker in str(raw.get("PrivateNote") or ""):
                    return _found(op, raw)
            return WriteResult(key=op.key, ok=False)
        return None


def _has_status(group: list[OutboundOp]) -> bool:
    return any(isinstance(op.op, CollectionStatusUpdate) for op in group)


def _status_version(group: list[OutboundOp]) -> str | None:
    return next((op.op.base_version for op in group if isinstance(op.op, CollectionStatusUpdate)), None)


def _found(op: OutboundOp, raw: dict[str, Any]) -> WriteResult:
    return WriteResult(
        key=op.key,
        ok=True,
        remote_id=str(raw.get("Id")),
        version=str(raw.get("SyncToken")) if raw.get("SyncToken") is not None else None,
        duplicate=True,
    )


def _payment_line(allocation: Allocation) -> dict[str, Any]:
    return {
        "Amount": allocation.amount,
        "LinkedTxn": [{"TxnId": allocation.target_id, "TxnType": TXN_TYPE_OF_TARGET[allocation.target_type]}],
    }


def _check_applied(allocations: Sequence[Allocation], total: Decimal) -> None:
    # A credit memo line offsets invoice lines: the payment's own money is invoices minus credits.
    applied = sum((a.amount for a in allocations if a.target_type is TargetType.INVOICE), Decimal(0)) - sum(
        (a.amount for a in allocations if a.target_type is TargetType.CREDIT_MEMO), Decimal(0)
    )
    if applied < 0:
        raise BadRecordError(f"credit memos ({-applied} more) exceed the invoices they are applied to")
    if applied > total:
        raise BadRecordError(f"the allocations apply {applied} but the payment is only {total}")


def _append_note(existing: str, entry: str, cap: int = PRIVATE_NOTE_MAX) -> str:
    """Append a line to a note field, dropping the oldest lines past the field's cap.

    An entry longer than the cap loses its end, never its start: the marker that finds it again
    after a lost answer leads the line.
    """
    lines = [line for line in existing.splitlines() if line.strip()]
    lines.append(entry[:cap])
    while len("\n".join(lines)) > cap and len(lines) > 1:
        lines.pop(0)
    return "\n".join(lines)


__all__ = [
    "ConflictError",
    "QuickBooksConnector",
    "QuickBooksSettings",
    "batch_id_for",
    "format_collection_status",
    "marker_for",
    "parse_collection_status",
    "request_id_for",
]
