"""An in-memory ERP for tests and benchmarks, and the connector that talks to it.

The ERP holds no records: the base version of every record is generated from its index
(``connectors.memory.data``), and only records changed since (by ``touch`` or by a write) live in
a small dict of overrides. So a benchmark can sync a million invoices in bounded memory, and a test
can change a few records and check that an incremental read returns exactly those.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import logging
import random
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field, SecretStr

from connectors.base import (
    AuthError,
    BadRecordError,
    Capabilities,
    CheckResult,
    ConflictError,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    Cursor,
    OutboundOp,
    Page,
    PermanentError,
    ThrottledError,
    WriteResult,
)
from connectors.memory.data import DEFAULT_START, Generator, index_of, remote_id
from mapping.models import (
    Allocation,
    CollectionStatusUpdate,
    CreditMemo,
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
    utcnow,
)

log = logging.getLogger("arbridge.connector.memory")

STREAM_OF_TARGET: dict[TargetType, Stream] = {
    TargetType.CUSTOMER: Stream.CUSTOMERS,
    TargetType.INVOICE: Stream.INVOICES,
    TargetType.CREDIT_MEMO: Stream.CREDIT_MEMOS,
    TargetType.PAYMENT: Stream.PAYMENTS,
}

SortKey = tuple[datetime, str]


class MemoryErp:
    """One fake company's books: generated records, the changes made since, and a write log.

    Attributes:
        name: the registry name (``MemoryConnector.erps[name]``).
        applied: every operation the ERP applied, by idempotency key.
        applied_count: how many times each key was applied (1 when idempotency holds).
        effects: how many operations were applied per target (``"invoice/I0000001"``).
        notes: note texts per target.
        write_calls: how many write calls reached the ERP.
        read_calls: how many pages the ERP served.
        auth_rejected: while True the ERP refuses every call with an auth failure.
        throttled_for: while set, the ERP refuses every call as rate-limited, asking for that
            many seconds' wait.
        api_key: when set, the key a connection must present.
    """

    def __init__(
        self,
        name: str,
        *,
        customers: int,
        invoices: int,
        credit_memos: int,
        payments: int,
        seed: int = 0,
        start: datetime = DEFAULT_START,
        api_key: str | None = None,
    ) -> None:
        self.name = name
        self.counts: dict[Stream, int] = {
            Stream.CUSTOMERS: customers,
            Stream.INVOICES: invoices,
            Stream.CREDIT_MEMOS: credit_memos,
            Stream.PAYMENTS: payments,
        }
        self.seed = seed
        self.generator = Generator(dict(self.counts), seed, start)
        self.overrides: dict[Stream, dict[int, Record]] = {s: {} for s in Stream}
        self.created: dict[Stream, int] = {s: 0 for s in Stream}
        self.applied: dict[str, Operation] = {}
        self.result_ids: dict[str, str] = {}
        self.applied_count: Counter[str] = Counter()
        self.effects: Counter[str] = Counter()
        self.notes: dict[str, list[str]] = {}
        self.write_calls = 0
        self.read_calls = 0
        self.auth_rejected = False
        self.throttled_for: float | None = None
        self.api_key = api_key
        self._clock = self.generator.end() + timedelta(days=1)
        self._lock = threading.RLock()

    @property
    def params(self) -> tuple[Any, ...]:
        """What the generated data depends on: two ERPs with equal params hold the same base data."""
        return (tuple(self.counts.values()), self.seed, self.generator.start)

    def total(self, stream: Stream) -> int:
        """How many records ``stream`` has, including those created by writes."""
        return self.counts[stream] + self.created[stream]

    def tick(self) -> datetime:
        """Advance the ERP clock: every change gets a modification time after all earlier ones."""
        with self._lock:
            self._clock += timedelta(seconds=1)
            return self._clock

    # -- records -----------------------------------------------------------------------------

    def get(self, stream: Stream, rid: str) -> Record | None:
        """The current version of a record, or None when it does not exist."""
        index = index_of(stream, rid)
        if index is None or not 0 <= index < self.total(stream):
            return None
        return self.record(stream, index)

    def record(self, stream: Stream, index: int) -> Record:
        """The current version of record ``index``."""
        changed = self.overrides[stream].get(index)
        return changed if changed is not None else self.generator.build(stream, index)

    def records_after(self, stream: Stream, after: SortKey | None) -> Iterator[Record]:
        """Records in (modified_at, id) order, after ``after``: the unchanged ones, then the changed ones."""
        with self._lock:
            # A snapshot: changes made while the caller pages through do not reorder this read.
            snapshot = dict(self.overrides[stream])
        changed = sorted((r.remote_modified_at, r.remote_id, i) for i, r in snapshot.items())
        gen = self.generator
        count = self.counts[stream]
        first = 0
        if after is not None:
            # Base records are one second apart in index order, so the start is computed, not searched.
            first = max(0, min(count, int((after[0] - gen.start).total_seconds())))
            while first > 0 and (gen.modified_at(first - 1), remote_id(stream, first - 1)) > after:
                first -= 1
            while first < count and (gen.modified_at(first), remote_id(stream, first)) <= after:
                first += 1
        for index in range(first, count):
            if index not in snapshot:
                yield gen.build(stream, index)
        start = 0 if after is None else bisect.bisect_right(changed, (after[0], after[1], float("inf")))
        for _, _, index in changed[start:]:
            yield snapshot[index]

    def _bump(self, record: Record, when: datetime, **changes: Any) -> Record:
        version = str(int(record.version or "0") + 1)
        return record.model_copy(update={"remote_modified_at": when, "version": version, **changes})

    def _put(self, stream: Stream, record: Record) -> None:
        index = index_of(stream, record.remote_id)
        assert index is not None
        self.overrides[stream][index] = record

    def touch(self, stream: Stream, amount: float | int, seed: int = 0) -> list[str]:
        """Change records as users of the ERP would: new version, new modification time.

        Args:
            stream: which records.
            amount: how many (an int) or which share of the stream (a float from 0 to 1).
            seed: picks which records, deterministically.

        Returns:
            the ids of the changed records, sorted. They share one modification time, as a batch
            job's changes do, so an incremental read must order them by id.
        """
        with self._lock:
            total = self.total(stream)
            count = round(amount * total) if isinstance(amount, float) else int(amount)
            count = max(0, min(total, count))
            chosen = sorted(random.Random(seed).sample(range(total), count))
            when = self.tick()
            for index in chosen:
                record = self.record(stream, index)
                changes: dict[str, Any] = {}
                if isinstance(record, (Invoice, CreditMemo)):
                    changes["memo"] = f"{record.memo or ''} (edited)".strip()
                self.overrides[stream][index] = self._bump(record, when, **changes)
            return [remote_id(stream, i) for i in chosen]

    def delete(self, stream: Stream, rid: str) -> None:
        """Delete (or void) one record as a user would: it stays listed, marked deleted."""
        with self._lock:
            record = self.get(stream, rid)
            if record is None:
                raise KeyError(f"{stream.value} {rid} does not exist")
            self._put(stream, self._bump(record, self.tick(), deleted=True))

    def make_stale(self, target_type: TargetType, rid: str) -> str:
        """Change one record behind the back of any pending decision; return its new version."""
        stream = STREAM_OF_TARGET[target_type]
        with self._lock:
            record = self.get(stream, rid)
            if record is None:
                raise KeyError(f"{target_type.value} {rid} does not exist")
            bumped = self._bump(record, self.tick())
            self._put(stream, bumped)
            return bumped.version or ""

    # -- writes ------------------------------------------------------------------------------

    def apply(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        """Apply a batch of operations the way an ERP with idempotency keys and versions does."""
        with self._lock:
            self.write_calls += 1
            when = self.tick()
            return [self._apply_one(item, when) for item in ops]

    def _apply_one(self, item: OutboundOp, when: datetime) -> WriteResult:
        op = item.op
        if item.key in self.applied:
            return WriteResult(item.key, True, remote_id=self._result_id(item.key, op), duplicate=True)
        stream = STREAM_OF_TARGET[op.target_type]
        target = self.get(stream, op.target_id)
        if target is None:
            return WriteResult(
                item.key, False, error=BadRecordError(f"{op.target_type.value} {op.target_id} not found")
            )
        if op.base_version is not None and op.base_version != target.version:
            error = ConflictError(
                f"{op.target_type.value} {op.target_id} is at version {target.version}, "
                f"the operation was based on version {op.base_version}",
                erp_code="stale_version",
            )
            return WriteResult(item.key, False, remote_id=op.target_id, version=target.version, error=error)
        try:
            if isinstance(op, CollectionStatusUpdate):
                updated = self._collection_status(target, op, when)
            elif isinstance(op, PaymentApplication):
                updated = self._payment_application(target, op, when)
            elif isinstance(op, Note):
                self.notes.setdefault(f"{op.target_type.value}/{op.target_id}", []).append(op.text)
                updated = target
            else:
                raise PermanentError(f"{op.op_type.value} is not supported")
        except (BadRecordError, PermanentError) as exc:
            return WriteResult(item.key, False, remote_id=op.target_id, error=exc)
        self.applied[item.key] = op
        self.result_ids[item.key] = updated.remote_id
        self.applied_count[item.key] += 1
        self.effects[f"{op.target_type.value}/{op.target_id}"] += 1
        return WriteResult(item.key, True, remote_id=updated.remote_id, version=updated.version)

    def _result_id(self, key: str, op: Operation) -> str:
        return self.result_ids.get(key, op.target_id)

    def _collection_status(self, target: Record, op: CollectionStatusUpdate, when: datetime) -> Record:
        changes: dict[str, Any] = {}
        if isinstance(target, Invoice):
            changes = {"collection_status": op.collection_status, "dunning_level": op.dunning_level}
        updated = self._bump(target, when, **changes)
        self._put(target.stream, updated)
        return updated

    def _payment_application(self, target: Record, op: PaymentApplication, when: datetime) -> Record:
        # Check every allocation before changing anything: an ERP applies all lines or none.
        documents: list[tuple[Allocation, Invoice | CreditMemo]] = []
        for alloc in op.allocations:
            stream = Stream.INVOICES if alloc.target_type is TargetType.INVOICE else Stream.CREDIT_MEMOS
            doc = self.get(stream, alloc.target_id)
            if not isinstance(doc, (Invoice, CreditMemo)):
                raise BadRecordError(f"{alloc.target_type.value} {alloc.target_id} not found")
            if doc.currency != op.currency:
                raise BadRecordError(f"{doc.remote_id} is in {doc.currency}, the payment in {op.currency}")
            if alloc.amount > doc.open_amount:
                raise BadRecordError(f"{alloc.amount} exceeds the open {doc.open_amount} of {doc.remote_id}")
            documents.append((alloc, doc))
        applied_total = sum((a.amount for a in op.allocations), Decimal(0))
        if isinstance(target, Payment):
            if applied_total > target.unapplied_amount:
                raise BadRecordError(f"{applied_total} exceeds the unapplied {target.unapplied_amount}")
            unapplied = target.unapplied_amount - applied_total
            payment = self._bump(
                target,
                when,
                allocations=[*target.allocations, *op.allocations],
                unapplied_amount=unapplied,
                status=PaymentStatus.APPLIED if unapplied == 0 else PaymentStatus.PARTIALLY_APPLIED,
            )
        else:
            if applied_total > op.amount:
                raise BadRecordError(f"allocations of {applied_total} exceed the payment's {op.amount}")
            index = self.total(Stream.PAYMENTS)
            unapplied = op.amount - applied_total
            payment = Payment(
                remote_id=remote_id(Stream.PAYMENTS, index),
                remote_modified_at=when,
                version="1",
                customer_remote_id=op.customer_remote_id,
                status=PaymentStatus.APPLIED if unapplied == 0 else PaymentStatus.PARTIALLY_APPLIED,
                date=op.date,
                amount=op.amount,
                currency=op.currency,
                unapplied_amount=unapplied,
                reference=op.reference,
                allocations=list(op.allocations),
            )
            self.created[Stream.PAYMENTS] += 1
        self._put(Stream.PAYMENTS, payment)
        for alloc, doc in documents:
            left = doc.open_amount - alloc.amount
            status = DocumentStatus.PAID if left == 0 else DocumentStatus.PARTIALLY_PAID
            self._put(doc.stream, self._bump(doc, when, open_amount=left, status=status))
        return payment


class MemorySettings(ConnectorSettings):
    """Settings of a memory connection: the size and seed of the generated company.

    Attributes:
        erp: the registry name of the ERP instance; connections naming the same ERP share it.
        customers: how many customers to generate (likewise ``invoices``, ``credit_memos``,
            ``payments``).
        seed: varies the generated data.
        page_size: records per page.
        batch_max: operations per write call.
        api_key: a credential, checked when the ERP was created with one (and a secret for the
            redaction tests).
    """

    erp: str = "default"
    customers: int = Field(default=100, ge=0)
    invoices: int = Field(default=1000, ge=0)
    credit_memos: int = Field(default=50, ge=0)
    payments: int = Field(default=300, ge=0)
    seed: int = 0
    page_size: int = Field(default=1000, ge=1, le=100_000)
    batch_max: int = Field(default=30, ge=1, le=10_000)
    api_key: SecretStr | None = None


class MemoryConnector(Connector):
    """The connector of the in-memory ERP: generated data, exact write log, faults on demand."""

    name: ClassVar[str] = "memory"
    version: ClassVar[str] = "1.0.0"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streams=frozenset(Stream),
        write_ops=frozenset(OpType),
        page_max=100_000,
        batch_max=30,
        sorted_streams=frozenset(Stream),
    )
    settings_model: ClassVar[type[ConnectorSettings]] = MemorySettings
    erps: ClassVar[dict[str, MemoryErp]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, MemorySettings)
        self.config: MemorySettings = settings
        self.erp = self.attach(settings)
        if settings.batch_max != self.capabilities.batch_max:
            self.capabilities = dataclasses.replace(type(self).capabilities, batch_max=settings.batch_max)  # type: ignore[misc]

    @classmethod
    def attach(cls, settings: MemorySettings) -> MemoryErp:
        """The ERP named in ``settings``, created on first use; replaced if its size or seed changed."""
        with cls._registry_lock:
            erp = cls.erps.get(settings.erp)
            wanted = MemoryErp(
                settings.erp,
                customers=settings.customers,
                invoices=settings.invoices,
                credit_memos=settings.credit_memos,
                payments=settings.payments,
                seed=settings.seed,
            )
            if erp is None or erp.params != wanted.params:
                if erp is not None:
                    log.info("memory ERP %r regenerated with new size or seed", settings.erp)
                cls.erps[settings.erp] = erp = wanted
            return erp

    @classmethod
    def reset(cls) -> None:
        """Forget every ERP instance (between tests)."""
        with cls._registry_lock:
            cls.erps.clear()

    def _authenticate(self) -> None:
        if self.erp.throttled_for is not None:
            raise ThrottledError("HTTP 429: request limit reached", retry_after=self.erp.throttled_for)
        if self.erp.auth_rejected:
            raise AuthError("HTTP 401: the ERP rejected the credentials", erp_code="invalid_grant")
        expected = self.erp.api_key
        given = self.config.api_key.get_secret_value() if self.config.api_key else None
        if expected is not None and given != expected:
            raise AuthError("HTTP 401: the API key is not valid for this company", erp_code="invalid_key")

    def check(self) -> CheckResult:
        """Report whether the ERP accepts this connection's credentials."""
        try:
            self._authenticate()
        except AuthError as exc:
            return CheckResult(False, f"{exc.message}: set a valid api_key for ERP {self.erp.name!r}")
        counts = {s.value: self.erp.total(s) for s in Stream}
        return CheckResult(True, f"memory ERP {self.erp.name!r} is reachable", {"records": counts})

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        """Yield the records changed after ``cursor`` in (modified_at, id) order, ``page_size`` at a time."""
        if stream not in self.capabilities.streams:
            raise PermanentError(f"stream {stream.value} is not supported")
        self._authenticate()
        after = self._parse_cursor(cursor)
        self.erp.generator.seen_at = utcnow()
        size = self.config.page_size
        page: list[Record] = []
        for record in self.erp.records_after(stream, after):
            page.append(record)
            if len(page) >= size:
                yield self._page(stream, page)
                page = []
        if page:
            yield self._page(stream, page)

    def _page(self, stream: Stream, records: list[Record]) -> Page:
        self.erp.read_calls += 1
        last = records[-1]
        value = json.dumps({"modified_at": last.remote_modified_at.isoformat(), "id": last.remote_id})
        return Page(stream, records, Cursor(value))

    @staticmethod
    def _parse_cursor(cursor: Cursor | None) -> SortKey | None:
        if cursor is None:
            return None
        try:
            data = json.loads(cursor.value)
            return (datetime.fromisoformat(data["modified_at"]), str(data["id"]))
        except (ValueError, KeyError, TypeError):
            raise PermanentError(
                f"cursor {cursor.value[:80]!r} was not written by the memory connector"
            ) from None

    def write(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        """Apply a batch; each operation's failure is its own result."""
        self._authenticate()
        if len(ops) > self.capabilities.batch_max:
            raise PermanentError(f"at most {self.capabilities.batch_max} operations per call, got {len(ops)}")
        return self.erp.apply(ops)

    def fetch(self, target_type: TargetType, remote_id: str) -> Record | None:
        """The current version of one record."""
        self._authenticate()
        return self.erp.get(STREAM_OF_TARGET[target_type], remote_id)

    def find_written(self, op: OutboundOp) -> WriteResult | None:
        """Whether the ERP applied ``op``'s key; None when it did not."""
        self._authenticate()
        if op.key not in self.erp.applied:
            return None
        return WriteResult(
            op.key, True, remote_id=self.erp.result_ids.get(op.key, op.op.target_id), duplicate=True
        )
