"""A small recording ERP and its connector, for engine tests that need exact control of faults."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from connectors.base import (
    Capabilities,
    CheckResult,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    Cursor,
    OutboundOp,
    Page,
    WriteResult,
)
from connectors.errors import ConflictError, ConnectorError
from mapping import CollectionStatusUpdate, Customer, Invoice, OpType, Record, Stream, TargetType

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


class RecordingERP:
    """Holds records, applies writes once per key, and remembers every call it received."""

    def __init__(self, customers: int = 3, invoices: int = 10) -> None:
        self.records: dict[Stream, dict[str, Record]] = {s: {} for s in Stream}
        self.tick = 0
        for i in range(customers):
            self.put(
                Customer(remote_id=f"C{i}", name=f"Customer {i}", remote_modified_at=self.now(), version="0")
            )
        for i in range(invoices):
            self.put(
                Invoice(
                    remote_id=f"I{i}",
                    number=f"INV-{1000 + i}",
                    customer_remote_id=f"C{i % max(customers, 1)}",
                    currency="USD",
                    issue_date=date(2026, 9, 1),
                    due_date=date(2026, 10, 1),
                    total=Decimal("100.00"),
                    open_amount=Decimal("100.00"),
                    remote_modified_at=self.now(),
                    version="0",
                )
            )
        self.applied: dict[str, OutboundOp] = {}
        self.effects: Counter[str] = Counter()
        self.write_calls = 0
        self.read_calls = 0
        self.fail_reads: list[ConnectorError] = []
        self.fail_writes: list[ConnectorError] = []
        self.op_results: dict[str, ConnectorError] = {}

    def now(self) -> datetime:
        self.tick += 1
        return T0 + timedelta(seconds=self.tick)

    def put(self, rec: Record) -> None:
        self.records[rec.stream][rec.remote_id] = rec

    def touch(self, stream: Stream, rid: str, **changes: object) -> None:
        rec = self.records[stream][rid]
        version = str(int(rec.version or "0") + 1)
        self.put(rec.model_copy(update={"remote_modified_at": self.now(), "version": version, **changes}))


class FakeSettings(ConnectorSettings):
    erp: str
    page_size: int = 4


class FakeConnector(Connector):
    name: ClassVar[str] = "fake"
    version: ClassVar[str] = "1.0"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streams=frozenset({Stream.CUSTOMERS, Stream.INVOICES}),
        write_ops=frozenset({OpType.COLLECTION_STATUS}),
        page_max=4,
        batch_max=3,
        sorted_streams=frozenset({Stream.CUSTOMERS, Stream.INVOICES}),
    )
    settings_model = FakeSettings
    erps: ClassVar[dict[str, RecordingERP]] = {}

    def __init__(self, settings: FakeSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.erp = self.erps[settings.erp]
        self.page_size = settings.page_size

    def check(self) -> CheckResult:
        return CheckResult(True, "fake ERP reachable")

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        after = tuple(json.loads(cursor.value)) if cursor else ("", "")
        rows = sorted(
            (
                r
                for r in self.erp.records[stream].values()
                if (r.remote_modified_at.isoformat(), r.remote_id) > after
            ),
            key=lambda r: (r.remote_modified_at, r.remote_id),
        )
        for i in range(0, len(rows), self.page_size):
            self.erp.read_calls += 1
            if self.erp.fail_reads:
                raise self.erp.fail_reads.pop(0)
            chunk = rows[i : i + self.page_size]
            last = chunk[-1]
            yield Page(
                stream, list(chunk), Cursor(json.dumps([last.remote_modified_at.isoformat(), last.remote_id]))
            )

    def write(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        self.erp.write_calls += 1
        if self.erp.fail_writes:
            raise self.erp.fail_writes.pop(0)
        results = []
        for op in ops:
            assert isinstance(op.op, CollectionStatusUpdate)
            if op.op.target_id in self.erp.op_results:
                results.append(WriteResult(op.key, False, error=self.erp.op_results.pop(op.op.target_id)))
                continue
            if op.key in self.erp.applied:
                results.append(WriteResult(op.key, True, duplicate=True))
                continue
            rec = self.erp.records[Stream.INVOICES][op.op.target_id]
            if op.op.base_version is not None and op.op.base_version != rec.version:
                results.append(
                    WriteResult(op.key, False, error=ConflictError("stale version", erp_code="5010"))
                )
                continue
            self.erp.touch(
                Stream.INVOICES,
                rec.remote_id,
                collection_status=op.op.collection_status,
                dunning_level=op.op.dunning_level,
            )
            self.erp.applied[op.key] = op
            self.erp.effects[op.op.target_id] += 1
            results.append(
                WriteResult(
                    op.key,
                    True,
                    remote_id=rec.remote_id,
                    version=self.erp.records[Stream.INVOICES][rec.remote_id].version,
                )
            )
        return results

    def fetch(self, target_type: TargetType, remote_id: str) -> Record | None:
        return self.erp.records[Stream.INVOICES].get(remote_id)
