"""The NetSuite connector: SuiteTalk SOAP with Token-Based Authentication.

Reading
    Each stream is a basic search on ``lastModifiedDate`` after the cursor minus an overlap window
    (NetSuite cannot sort search results, so a record changed while pages are read may land on an
    earlier page; the overlap catches it and de-duplication by internal id and modification time
    drops what was already delivered). Pages come from ``searchMoreWithId``; cursors are marked
    not resumable until the stream's last page. Deletions come from ``getDeleted``.

Writing
    Collection status, dunning level and next action date go into configurable custom fields with
    ``updateList``; payment applications become a ``CustomerPayment`` created with ``upsertList``
    under an ``externalId`` derived from the outbox key, so a retry updates the same payment
    instead of making a second one. Notes (a collector's call, a promise, a dispute) become user
    notes (the ``Note`` record) on the customer or the transaction, shown on its User Notes
    subtab, upserted under the same kind of ``externalId``. Each record's status in a list answer
    is that operation's result.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import requests
from pydantic import Field, SecretStr, field_validator

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
    WriteResult,
)
from connectors.http import TlsSession, tls_verify
from connectors.limits import RateLimiter, shared_limiter
from connectors.netsuite.client import (
    Credentials,
    RetryPolicy,
    SuiteTalkClient,
    as_list,
    classify_status,
    to_python,
)
from mapping.fieldmap import FieldMap, MappingError, register_transform
from mapping.models import (
    CollectionStatusUpdate,
    CreditMemo,
    Customer,
    CustomerStatus,
    DocumentStatus,
    Invoice,
    Note,
    Operation,
    OpType,
    Payment,
    PaymentApplication,
    PaymentStatus,
    Record,
    Stream,
    TargetType,
)

MAPPING = Path(__file__).with_name("mapping.yaml")
# SuiteTalk's synchronous limits: pageSize 5..1000, updateList/upsertList at most 100 records.
PAGE_MAX = 1000
LIST_MAX = 100
# A note's title is a line in the User Notes list; the whole text goes into ``note``.
NOTE_TITLE_MAX = 100


def _netsuite_date(value: Any) -> Any:
    """The calendar date of a SuiteTalk dateTime, in the account's own zone (the text's date part)."""
    if value in (None, ""):
        return None
    return date.fromisoformat(str(value)[:10])


register_transform("netsuite_date", _netsuite_date)


@dataclass(frozen=True)
class StreamSpec:
    record_type: str
    search_type: str
    search_filter: str | None
    body_fields_only: bool
    namespace: str
    type_name: str


STREAMS: dict[Stream, StreamSpec] = {
    Stream.CUSTOMERS: StreamSpec("customer", "CustomerSearchBasic", None, True, "relationships", "Customer"),
    Stream.INVOICES: StreamSpec("invoice", "TransactionSearchBasic", "_invoice", True, "sales", "Invoice"),
    # Credit memos and payments are read with their apply lists: those are sublists.
    Stream.CREDIT_MEMOS: StreamSpec(
        "creditMemo", "TransactionSearchBasic", "_creditMemo", False, "customers", "CreditMemo"
    ),
    Stream.PAYMENTS: StreamSpec(
        "customerPayment", "TransactionSearchBasic", "_customerPayment", False, "customers", "CustomerPayment"
    ),
}
TARGETS = {
    TargetType.CUSTOMER: Stream.CUSTOMERS,
    TargetType.INVOICE: Stream.INVOICES,
    TargetType.CREDIT_MEMO: Stream.CREDIT_MEMOS,
    TargetType.PAYMENT: Stream.PAYMENTS,
}
_SCRIPT_ID = re.compile(r"^[a-z0-9_]{1,40}$")


class NetSuiteSettings(ConnectorSettings):
    """Settings of one NetSuite connection (``settings:`` in the configuration)."""

    account: str = Field(description="Account id, e.g. 1234567 or 1234567_SB1 for a sandbox account.")
    consumer_key: str
    consumer_secret: SecretStr
    token_id: str
    token_secret: SecretStr
    wsdl_version: str = Field(default="2023_2", description="SuiteTalk version, YYYY_N.")
    wsdl_url: str | None = Field(default=None, description="Override the account's WSDL URL.")
    endpoint: str | None = Field(default=None, description="Override the SOAP endpoint (the sandbox).")
    application_id: str | None = None
    max_concurrency: int = Field(
        default=2,
        ge=1,
        le=50,
        description="Requests in flight for the account, shared by its connections in a process "
        "(the SDK's limiter); NetSuite's limit is account-wide, shared with other integrations.",
    )
    page_size: int = Field(default=PAGE_MAX, ge=5, le=PAGE_MAX)
    list_batch_max: int = Field(default=LIST_MAX, ge=1, le=LIST_MAX)
    overlap_seconds: int = Field(default=600, ge=0, description="Re-read window behind the cursor.")
    max_retries: int = Field(default=6, ge=1)
    timeout_seconds: float = Field(default=300.0, gt=0)
    invoice_status_field: str = "custbody_arb_collection_status"
    invoice_dunning_level_field: str = "custbody_arb_dunning_level"
    invoice_next_action_field: str = "custbody_arb_next_action"
    customer_status_field: str = "custentity_arb_collection_status"
    customer_dunning_level_field: str = "custentity_arb_dunning_level"
    customer_next_action_field: str = "custentity_arb_next_action"
    customer_dunning_block_field: str | None = "custentity_arb_dunning_block"
    note_mode: Literal["user_note", "off"] = Field(
        default="user_note",
        description="user_note: notes become user notes on the customer or transaction; off refuses them.",
    )
    default_currency: str | None = Field(
        default=None, description="ISO code for records without a currency (single-currency accounts)."
    )
    verify_tls: bool = True
    ca_bundle: str | None = None

    @field_validator("wsdl_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"\d{4}_\d", value):
            raise ValueError("wsdl_version looks like 2023_2")
        return value

    @field_validator("invoice_status_field", "invoice_dunning_level_field", "invoice_next_action_field")
    @classmethod
    def _body_field(cls, value: str) -> str:
        if not value.startswith("custbody") or not _SCRIPT_ID.match(value):
            raise ValueError(
                "a transaction body custom field script id starts with 'custbody' (e.g. custbody_x)"
            )
        return value

    @field_validator(
        "customer_status_field",
        "customer_dunning_level_field",
        "customer_next_action_field",
        "customer_dunning_block_field",
    )
    @classmethod
    def _entity_field(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("custentity") or not _SCRIPT_ID.match(value)):
            raise ValueError("an entity custom field script id starts with 'custentity' (e.g. custentity_x)")
        return value


@dataclass
class _State:
    """The cursor's content: where the last complete read stopped and what it already delivered."""

    since: datetime | None = None
    deleted_since: datetime | None = None
    seen: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, cursor: Cursor | None) -> _State:
        if cursor is None or not cursor.value:
            return cls()
        data = json.loads(cursor.value)

        def when(key: str) -> datetime | None:
            return datetime.fromisoformat(data[key]) if data.get(key) else None

        return cls(when("since"), when("deleted_since"), dict(data.get("seen") or {}))

    def dump(self, overlap: timedelta) -> str:
        floor = (self.since - overlap) if self.since else None
        seen = {k: v for k, v in self.seen.items() if floor is None or datetime.fromisoformat(v) > floor}
        return json.dumps(
            {
                "since": self.since.isoformat() if self.since else None,
                "deleted_since": self.deleted_since.isoformat() if self.deleted_since else None,
                "seen": dict(sorted(seen.items())),
            },
            separators=(",", ":"),
        )


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def external_id_for(key: str) -> str:
    """The ``externalId`` of the payment or note an outbox row creates: stable across retries and
    processes."""
    return "arb-" + hashlib.sha256(key.encode()).hexdigest()[:32]


class NetSuiteConnector(Connector):
    """Reads customers, invoices, credit memos and payments; writes collection status, payments and
    user notes."""

    name = "netsuite"
    version = "0.1.0"
    capabilities = Capabilities(
        streams=frozenset(STREAMS),
        write_ops=frozenset({OpType.COLLECTION_STATUS, OpType.PAYMENT_APPLICATION, OpType.NOTE}),
        page_max=PAGE_MAX,
        batch_max=LIST_MAX,
        requests_per_minute=None,
        max_concurrency=2,
        sorted_streams=frozenset(),
    )
    settings_model = NetSuiteSettings

    def __init__(
        self, settings: ConnectorSettings, context: ConnectorContext, session: requests.Session | None = None
    ) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, NetSuiteSettings)
        self.cfg: NetSuiteSettings = settings
        if session is None:
            session = TlsSession(tls_verify(settings.verify_tls, settings.ca_bundle))
        self.client = SuiteTalkClient(
            Credentials(
                settings.account,
                settings.consumer_key,
                settings.consumer_secret,
                settings.token_id,
                settings.token_secret,
            ),
            wsdl_version=settings.wsdl_version,
            wsdl_url=settings.wsdl_url,
            endpoint=settings.endpoint,
            session=session,
            cache_dir=(context.data_dir / "netsuite") if context.data_dir else None,
            limiter=self.limiter,
            timeout=settings.timeout_seconds,
            retry=RetryPolicy(attempts=settings.max_retries),
            application_id=settings.application_id,
        )
        self.fieldmap = FieldMap.load(MAPPING, self._custom_field_paths()).with_overrides(
            context.mapping_overrides
        )
        self.overlap = timedelta(seconds=settings.overlap_seconds)

    def _custom_field_paths(self) -> dict[str, Any]:
        s = self.cfg
        customers: dict[str, Any] = {}
        if s.customer_dunning_block_field:
            customers["dunning_block"] = {"path": f"customFieldList.{s.customer_dunning_block_field}"}
        else:
            customers["dunning_block"] = {"const": False}
        currency = {"currency": {"default": s.default_currency}} if s.default_currency else {}
        customers.update(currency)
        return {
            "streams": {
                "customers": {"fields": customers},
                "credit_memos": {"fields": dict(currency)},
                "payments": {"fields": dict(currency)},
                "invoices": {
                    "fields": {
                        **currency,
                        "collection_status": {"path": f"customFieldList.{s.invoice_status_field}"},
                        "dunning_level": {"path": f"customFieldList.{s.invoice_dunning_level_field}"},
                    }
                },
            }
        }

    def budget_key(self) -> str:
        """NetSuite's concurrency limit is per account: connections to one account share it."""
        return f"netsuite:{self.cfg.account.upper()}"

    @property
    def limiter(self) -> RateLimiter:
        """The account's limiter: ``max_concurrency`` in flight (NetSuite counts no requests per minute).

        The first connection to an account in a process fixes it; ``budget_share`` of the
        connection's context takes its fraction when several processes use the account at once.
        """
        return shared_limiter(
            self.budget_key(), None, self.cfg.max_concurrency, share=self.context.budget_share
        )

    # -- check --------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """Sign one small customer search: proves the token, the role's permissions and the endpoint."""
        self.client.reset_auth()
        try:
            response = self._search(STREAMS[Stream.CUSTOMERS], None, page_size=5)
            total = to_python(response.find("{*}searchResult")).get("totalRecords")
        except AuthError as exc:
            # "auth": the engine flags the connection as needing new credentials, as for any ERP.
            return CheckResult(
                False,
                "NetSuite refused the credentials: check the account id, consumer key and "
                f"secret, token id and secret, and that the token's role is active ({exc})",
                {"kind": "auth"},
            )
        except ConnectorError as exc:
            return CheckResult(
                False,
                f"NetSuite answered, but the search failed: {exc}. The token's role needs "
                "Web Services, Lists > Customers and Transactions > Invoice/Customer Payment "
                "permissions.",
                {"kind": exc.kind.value},
            )
        return CheckResult(
            True,
            f"connected to NetSuite account {self.cfg.account}",
            {"customers": total, "wsdl_version": self.cfg.wsdl_version},
        )

    # -- read ---------------------------------------------------------------------------------

    def _search(self, spec: StreamSpec, after: datetime | None, page_size: int | None = None) -> Any:
        c = self.client
        criteria: dict[str, Any] = {}
        if after is not None:
            criteria["lastModifiedDate"] = c.type("core", "SearchDateField")(
                operator="after", searchValue=after
            )
        if spec.search_filter:
            criteria["type"] = c.type("core", "SearchEnumMultiSelectField")(
                operator="anyOf", searchValue=[spec.search_filter]
            )
        prefs = c.element("messages", "searchPreferences")(
            bodyFieldsOnly=spec.body_fields_only,
            returnSearchColumns=False,
            pageSize=page_size or self.cfg.page_size,
        )
        record = c.type("common", spec.search_type)(**criteria)
        return c.call("search", {"searchPreferences": prefs}, searchRecord=record)

    def _search_more(self, spec: StreamSpec, search_id: str, page: int) -> Any:
        c = self.client
        prefs = c.element("messages", "searchPreferences")(
            bodyFieldsOnly=spec.body_fields_only, returnSearchColumns=False, pageSize=self.cfg.page_size
        )
        return c.call("searchMoreWithId", {"searchPreferences": prefs}, searchId=search_id, pageIndex=page)

    @staticmethod
    def _result(response: Any, tag: str) -> dict[str, Any]:
        result = response.find("{*}" + tag)
        data = to_python(result) if result is not None else None
        if not isinstance(data, dict):
            raise PermanentError(f"NetSuite answered {response.tag} without {tag}")
        status = data.get("status") or {}
        if status.get("isSuccess") != "true":
            detail = as_list(status.get("statusDetail"))
            first = detail[0] if detail else {}
            raise classify_status(first.get("code"), first.get("message"))
        return data

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        """Pages of records changed after ``cursor``; the last page carries the resumable cursor."""
        spec = STREAMS[stream]
        state = _State.load(cursor)
        started = datetime.now(UTC)
        after = state.since - self.overlap if state.since else None
        held: Page | None = None
        for page in self._pages(stream, spec, state, after, started):
            if held is not None:
                yield held
            held = page
        assert held is not None
        held.cursor = Cursor(state.dump(self.overlap), resumable=True)
        yield held

    def _pages(
        self, stream: Stream, spec: StreamSpec, state: _State, after: datetime | None, started: datetime
    ) -> Iterator[Page]:
        first_run = state.since is None
        data = self._result(self._search(spec, after), "searchResult")
        page_index = 1
        while True:
            records, rejects = self._translate(stream, spec, as_list(data.get("recordList")), state)
            yield Page(stream, records, Cursor(state.dump(self.overlap), resumable=False), rejects)
            total_pages = int(data.get("totalPages") or 0)
            if page_index >= total_pages:
                break
            page_index += 1
            data = self._result(self._search_more(spec, str(data["searchId"]), page_index), "searchResult")
        if first_run:
            # Nothing is stored yet, so nothing can have been deleted from the store's view.
            state.deleted_since = started
            return
        yield from self._deleted(stream, spec, state)

    def _deleted(self, stream: Stream, spec: StreamSpec, state: _State) -> Iterator[Page]:
        c = self.client
        since = state.deleted_since or state.since
        assert since is not None
        flt = c.type("core", "GetDeletedFilter")(
            deletedDate=c.type("core", "SearchDateField")(operator="after", searchValue=since - self.overlap),
            type=c.type("core", "SearchEnumMultiSelectField")(
                operator="anyOf", searchValue=[spec.record_type]
            ),
        )
        page_index = 1
        while True:
            data = self._result(
                c.call("getDeleted", getDeletedFilter=flt, pageIndex=page_index), "getDeletedResult"
            )
            records: list[Record] = []
            rejects: list[Reject] = []
            for row in as_list(data.get("deletedRecordList")):
                ref = row.get("record") or {}
                rid, when = ref.get("internalId"), row.get("deletedDate")
                if not rid or not when:
                    rejects.append(
                        Reject(stream, rid, "deletedDate", "a deleted record without id or date", row)
                    )
                    continue
                deleted_at = _aware(when)
                key = f"deleted:{rid}"
                if state.seen.get(key) == deleted_at.isoformat():
                    continue
                state.seen[key] = deleted_at.isoformat()
                state.deleted_since = max(state.deleted_since or deleted_at, deleted_at)
                records.append(self._tombstone(stream, rid, deleted_at, row))
            yield Page(stream, records, Cursor(state.dump(self.overlap), resumable=False), rejects)
            if page_index >= int(data.get("totalPages") or 0):
                break
            page_index += 1

    def _translate(
        self, stream: Stream, spec: StreamSpec, raws: list[Any], state: _State
    ) -> tuple[list[Record], list[Reject]]:
        records: list[Record] = []
        rejects: list[Reject] = []
        for raw in raws:
            if not isinstance(raw, dict):
                continue
            rid = raw.get("internalId")
            if raw.get("_type") not in (None, spec.type_name):
                rejects.append(Reject(stream, rid, None, f"unexpected record type {raw.get('_type')}", raw))
                continue
            modified = raw.get("lastModifiedDate")
            if rid and modified:
                stamp = _aware(modified)
                if state.seen.get(rid) == stamp.isoformat():
                    continue  # delivered by the previous read, seen again through the overlap window
                state.seen[rid] = stamp.isoformat()
                state.since = max(state.since or stamp, stamp)
            try:
                records.append(self.to_record(stream, raw))
            except MappingError as exc:
                rejects.append(Reject(stream, exc.remote_id or rid, exc.field, exc.reason, raw))
        return records, rejects

    def to_record(self, stream: Stream, raw: dict[str, Any]) -> Record:
        """Translate one SuiteTalk record (as ``to_python`` reads it) into a canonical record.

        SuiteTalk records carry no version token; ``lastModifiedDate`` stands in for one.
        """
        computed: dict[str, Any] = {}

        def amount_of(value: Any, field: str, path: str) -> Decimal:
            try:
                return Decimal(str(value))
            except ArithmeticError:
                rid = str(raw["internalId"]) if raw.get("internalId") else None
                raise MappingError(stream, rid, field, path, f"not a number: {value!r}") from None

        if raw.get("lastModifiedDate"):
            computed["version"] = _aware(str(raw["lastModifiedDate"])).isoformat()
        if stream in (Stream.INVOICES, Stream.CREDIT_MEMOS):
            total = amount_of(raw.get("total") or "0", "total", "total")
            status = str(raw.get("status") or "")
            remaining = raw.get("amountRemaining")
            if stream is Stream.CREDIT_MEMOS and remaining is None:
                remaining = raw.get("unapplied")
            if remaining is None:
                remaining = "0" if status in ("Paid In Full", "Fully Applied") else total
            open_amount = amount_of(remaining, "open_amount", "amountRemaining")
            computed["open_amount"] = open_amount
            computed["status"] = _document_status(status, total, open_amount)
        elif stream is Stream.PAYMENTS:
            amount = amount_of(raw.get("payment") or raw.get("total") or "0", "amount", "payment")
            unapplied = raw.get("unapplied")
            left = amount_of(unapplied, "unapplied_amount", "unapplied") if unapplied is not None else amount
            computed["unapplied_amount"] = left
            if str(raw.get("status") or "").lower() == "voided":
                computed["status"] = PaymentStatus.VOID
            elif left <= 0:
                computed["status"] = PaymentStatus.APPLIED
            elif left < amount:
                computed["status"] = PaymentStatus.PARTIALLY_APPLIED
            else:
                computed["status"] = PaymentStatus.UNAPPLIED
        return self.fieldmap.to_record(stream, raw, **computed)

    def _tombstone(self, stream: Stream, rid: str, deleted_at: datetime, raw: dict[str, Any]) -> Record:
        """A soft delete: ``getDeleted`` gives only the id; the store flags its copy."""
        common: dict[str, Any] = {
            "remote_id": rid,
            "remote_modified_at": deleted_at,
            "deleted": True,
            "raw_status": "Deleted",
            "raw": raw,
        }
        if stream is Stream.CUSTOMERS:
            return Customer(
                name=str((raw.get("record") or {}).get("name") or f"(deleted {rid})"),
                status=CustomerStatus.INACTIVE,
                **common,
            )
        if stream is Stream.PAYMENTS:
            return Payment(
                date=deleted_at.date(),
                amount=Decimal(0),
                unapplied_amount=Decimal(0),
                currency="USD",
                status=PaymentStatus.VOID,
                **common,
            )
        doc: dict[str, Any] = {
            "customer_remote_id": "unknown",
            "currency": "USD",
            "issue_date": deleted_at.date(),
            "total": Decimal(0),
            "open_amount": Decimal(0),
            "status": DocumentStatus.VOID,
        }
        if stream is Stream.INVOICES:
            return Invoice(**doc, **common)
        return CreditMemo(**doc, **common)

    # -- fetch --------------------------------------------------------------------------------

    def _get(self, record_type: str, internal_id: str | None = None, external_id: str | None = None) -> Any:
        ref = self.client.type("core", "RecordRef")(
            type=record_type, internalId=internal_id, externalId=external_id
        )
        response = self.client.call("get", baseRef=ref)
        read = response.find("{*}readResponse")
        data = to_python(read) if read is not None else {}
        status = (data or {}).get("status") or {}
        if status.get("isSuccess") != "true":
            detail = (as_list(status.get("statusDetail")) or [{}])[0]
            if detail.get("code") == "RCRD_DSNT_EXIST":
                return None
            raise classify_status(detail.get("code"), detail.get("message"))
        return data.get("record")

    def fetch(self, target_type: TargetType, remote_id: str) -> Record | None:
        """Re-read one record by internal id; None when NetSuite no longer has it."""
        stream = TARGETS[target_type]
        raw = self._get(STREAMS[stream].record_type, remote_id)
        return None if raw is None else self.to_record(stream, raw)

    def find_written(self, op: OutboundOp) -> WriteResult | None:
        """A payment or a note is found by its ``externalId``; a status update by comparing the
        custom fields.

        No payment or note with the operation's ``externalId`` means it certainly did not land: the
        ``externalId`` is written in the same call that creates the record.
        """
        operation = op.op
        created = isinstance(operation, Note) or (
            isinstance(operation, PaymentApplication) and operation.payment_id is None
        )
        if created:
            record_type = "note" if isinstance(operation, Note) else "customerPayment"
            raw = self._get(record_type, external_id=external_id_for(op.key))
            if raw is None:
                return WriteResult(op.key, False)
            return WriteResult(op.key, True, remote_id=raw.get("internalId"), duplicate=True)
        if isinstance(operation, CollectionStatusUpdate) and operation.target_type in (
            TargetType.INVOICE,
            TargetType.CUSTOMER,
        ):
            fields = self._status_fields(operation.target_type)
            raw = self._get(STREAMS[TARGETS[operation.target_type]].record_type, operation.target_id)
            custom = (raw or {}).get("customFieldList") or {}
            if raw is not None and custom.get(fields[0]) == operation.collection_status.value:
                return WriteResult(op.key, True, remote_id=operation.target_id, duplicate=True)
        return None

    # -- write --------------------------------------------------------------------------------

    def _status_fields(self, target: TargetType) -> tuple[str, str, str]:
        s = self.cfg
        if target is TargetType.INVOICE:
            return s.invoice_status_field, s.invoice_dunning_level_field, s.invoice_next_action_field
        return s.customer_status_field, s.customer_dunning_level_field, s.customer_next_action_field

    def _status_record(self, op: CollectionStatusUpdate) -> Any:
        c = self.client
        status_field, level_field, next_field = self._status_fields(op.target_type)
        fields = [
            c.type("core", "StringCustomFieldRef")(scriptId=status_field, value=op.collection_status.value)
        ]
        if op.dunning_level is not None:
            fields.append(c.type("core", "LongCustomFieldRef")(scriptId=level_field, value=op.dunning_level))
        if op.next_action_date is not None:
            fields.append(
                c.type("core", "DateCustomFieldRef")(
                    scriptId=next_field, value=datetime.combine(op.next_action_date, time())
                )
            )
        custom = c.type("core", "CustomFieldList")(customField=fields)
        if op.target_type is TargetType.INVOICE:
            return c.type("sales", "Invoice")(internalId=op.target_id, customFieldList=custom)
        return c.type("relationships", "Customer")(internalId=op.target_id, customFieldList=custom)

    def _payment_record(self, op: PaymentApplication, key: str) -> Any:
        c = self.client
        applies = [a for a in op.allocations if a.target_type is TargetType.INVOICE]
        credits = [a for a in op.allocations if a.target_type is TargetType.CREDIT_MEMO]
        fields: dict[str, Any] = {}
        if applies:
            fields["applyList"] = c.type("customers", "CustomerPaymentApplyList")(
                apply=[
                    c.type("customers", "CustomerPaymentApply")(
                        apply=True, doc=int(a.target_id), amount=a.amount
                    )
                    for a in applies
                ],
                replaceAll=False,
            )
        if credits:
            fields["creditList"] = c.type("customers", "CustomerPaymentCreditList")(
                credit=[
                    c.type("customers", "CustomerPaymentCredit")(
                        apply=True, doc=int(a.target_id), amount=a.amount
                    )
                    for a in credits
                ],
                replaceAll=False,
            )
        payment = c.type("customers", "CustomerPayment")
        if op.payment_id:
            return payment(internalId=op.payment_id, **fields)
        memo = " · ".join(x for x in (op.reference, op.reason) if x)[:999] or None
        return payment(
            externalId=external_id_for(key),
            customer=c.type("core", "RecordRef")(internalId=op.customer_remote_id),
            payment=op.amount,
            tranDate=datetime.combine(op.date, time()),
            memo=memo,
            **fields,
        )

    def _note_record(self, op: Note, key: str) -> Any:
        """A user note on the customer or the transaction, under the outbox key's ``externalId``."""
        if self.cfg.note_mode == "off":
            raise PermanentError("note write-back is off for this connection (note_mode: off)")
        c = self.client
        ref = c.type("core", "RecordRef")(internalId=op.target_id)
        if op.target_type is TargetType.CUSTOMER:
            target = {"entity": ref}
        elif op.target_type in (TargetType.INVOICE, TargetType.CREDIT_MEMO):
            target = {"transaction": ref}
        else:
            raise BadRecordError(
                f"notes are written to customers, invoices and credit memos, not {op.target_type.value}"
            )
        first_line = op.text.strip().splitlines()[0] if op.text.strip() else op.text
        # Without noteDate NetSuite dates the note the day it is saved; a retry days later keeps
        # the day of the call.
        when = datetime.combine(op.decided_on, time()) if op.decided_on else None
        return c.type("communication", "Note")(
            externalId=external_id_for(key),
            title=first_line[:NOTE_TITLE_MAX],
            noteDate=when,
            note=op.text,
            **target,
        )

    def write(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        """Status updates through ``updateList``; new payments and notes through ``upsertList`` (by
        externalId).

        Operations go out in list calls of at most ``list_batch_max``; one record's failure is that
        operation's result. A call that fails as a whole raises, and then no result of this batch
        counts: every call here is safe to repeat (updates set values, upserts find their payment).
        """
        results: dict[str, WriteResult] = {}
        updates: list[tuple[OutboundOp, Any]] = []
        upserts: list[tuple[OutboundOp, Any]] = []
        for op in ops:
            operation: Operation = op.op
            try:
                if isinstance(operation, CollectionStatusUpdate):
                    if operation.target_type not in (TargetType.INVOICE, TargetType.CUSTOMER):
                        raise PermanentError(
                            f"collection status is written to invoices and customers, not "
                            f"{operation.target_type.value}"
                        )
                    updates.append((op, self._status_record(operation)))
                elif isinstance(operation, PaymentApplication):
                    if operation.payment_id:
                        updates.append((op, self._payment_record(operation, op.key)))
                    else:
                        upserts.append((op, self._payment_record(operation, op.key)))
                elif isinstance(operation, Note):
                    upserts.append((op, self._note_record(operation, op.key)))
                else:
                    raise PermanentError(f"NetSuite connector does not write {operation.op_type.value}")
            except (ConnectorError, ValueError) as exc:
                error = exc if isinstance(exc, ConnectorError) else BadRecordError(str(exc))
                results[op.key] = WriteResult(op.key, False, error=error)
        stale = self._stale([op for op, _ in updates + upserts])
        for op in ops:
            if op.key in stale:
                results[op.key] = WriteResult(op.key, False, error=stale[op.key])
        updates = [(op, rec) for op, rec in updates if op.key not in stale]
        upserts = [(op, rec) for op, rec in upserts if op.key not in stale]
        for operation_name, group in (("updateList", updates), ("upsertList", upserts)):
            size = self.cfg.list_batch_max
            for i in range(0, len(group), size):
                chunk = group[i : i + size]
                response = self.client.call(operation_name, record=[rec for _, rec in chunk])
                results.update(self._list_results(response, [op for op, _ in chunk]))
        return [results[op.key] for op in ops]

    def _stale(self, ops: list[OutboundOp]) -> dict[str, ConflictError]:
        """Operations whose target changed since ``base_version`` (one ``getList`` per batch).

        SuiteTalk has no conditional update, so the check reads ``lastModifiedDate`` just before
        writing; a change in between the two calls is not caught.
        """
        checked = [op for op in ops if op.op.base_version and op.op.target_type in TARGETS]
        if not checked:
            return {}
        c = self.client
        refs = [
            c.type("core", "RecordRef")(
                type=STREAMS[TARGETS[op.op.target_type]].record_type, internalId=op.op.target_id
            )
            for op in checked
        ]
        response = c.call("getList", baseRef=refs)
        lst = response.find("{*}readResponseList")
        reads = [to_python(r) for r in lst.iterfind("{*}readResponse")] if lst is not None else []
        out: dict[str, ConflictError] = {}
        for op, read in zip(checked, reads, strict=False):
            record = (read or {}).get("record") or {}
            modified = record.get("lastModifiedDate")
            current = _aware(str(modified)).isoformat() if modified else None
            if current != op.op.base_version:
                out[op.key] = ConflictError(
                    f"{op.op.target_type.value} {op.op.target_id} changed in NetSuite since it was read "
                    f"({op.op.base_version} -> {current or 'gone'})",
                    erp_code="RCRD_HAS_BEEN_CHANGED",
                )
        return out

    def _list_results(self, response: Any, ops: list[OutboundOp]) -> dict[str, WriteResult]:
        wrl = response.find("{*}writeResponseList")
        answers = [to_python(w) for w in wrl.iterfind("{*}writeResponse")] if wrl is not None else []
        out: dict[str, WriteResult] = {}
        for i, op in enumerate(ops):
            if i >= len(answers):
                out[op.key] = WriteResult(
                    op.key, False, error=PermanentError("NetSuite gave no status for this record")
                )
                continue
            answer = answers[i]
            status = answer.get("status") or {}
            ref = answer.get("baseRef") or {}
            if status.get("isSuccess") == "true":
                out[op.key] = WriteResult(op.key, True, remote_id=ref.get("internalId"))
            else:
                detail = (as_list(status.get("statusDetail")) or [{}])[0]
                out[op.key] = WriteResult(
                    op.key,
                    False,
                    remote_id=ref.get("internalId"),
                    error=classify_status(detail.get("code"), detail.get("message")),
                )
        return out

    def close(self) -> None:
        self.client.session.close()


def _document_status(raw: str, total: Decimal, open_amount: Decimal) -> DocumentStatus:
    lowered = raw.lower()
    if "void" in lowered or lowered == "rejected":
        return DocumentStatus.VOID
    if "pending approval" in lowered:
        return DocumentStatus.DRAFT
    if (open_amount <= 0 and total > 0) or lowered in ("paid in full", "fully applied"):
        return DocumentStatus.PAID
    if 0 < open_amount < total:
        return DocumentStatus.PARTIALLY_PAID
    return DocumentStatus.OPEN
