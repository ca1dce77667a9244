"""Microsoft Dynamics GP: Receivables read over ODBC from the company database, written through eConnect.

Reads customers (RM00101), open and historical documents (RM20101, RM30101) and their applications
(RM20201, RM30201) with pyodbc; writes cash receipts, their applications and the collection status
through GP's eConnect stored procedures over the same connection, one transaction per operation.
SQL Server is the production target; every statement is built by ``connectors.odbc.Dialect``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from connectors.base import (
    Capabilities,
    CheckResult,
    Connector,
    ConnectorContext,
    ConnectorError,
    ConnectorSettings,
    Cursor,
    OutboundOp,
    Page,
    WriteResult,
)
from connectors.dynamics_gp import schema as gp
from connectors.dynamics_gp.reader import GpReader
from connectors.dynamics_gp.settings import GpSettings
from connectors.dynamics_gp.writer import NOTES_OFF, GpWriter
from connectors.odbc import Database
from mapping.fieldmap import FieldMap
from mapping.models import OpType, Record, Stream, TargetType

__all__ = ["DynamicsGpConnector"]

MAPPING = Path(__file__).with_name("mapping.yaml")
STREAM_OF_TARGET = {
    TargetType.CUSTOMER: Stream.CUSTOMERS,
    TargetType.INVOICE: Stream.INVOICES,
    TargetType.CREDIT_MEMO: Stream.CREDIT_MEMOS,
    TargetType.PAYMENT: Stream.PAYMENTS,
}


def _fieldmap(settings: GpSettings, overrides: Any) -> FieldMap:
    fieldmap = FieldMap.load(MAPPING, overrides)
    if settings.currencies:
        extra = {
            "streams": {s.value: {"value_maps": {"currency": dict(settings.currencies)}} for s in Stream}
        }
        fieldmap = fieldmap.with_overrides(extra)
    return fieldmap


class DynamicsGpConnector(Connector):
    """One GP company database (SQL Server in production; PostgreSQL in tests and sandboxes)."""

    name: ClassVar[str] = "dynamics-gp"
    version: ClassVar[str] = "0.1.0"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streams=frozenset(Stream),
        write_ops=frozenset({OpType.COLLECTION_STATUS, OpType.PAYMENT_APPLICATION}),
        page_max=50_000,
        batch_max=50,
        sorted_streams=frozenset(Stream),
    )
    settings_model: ClassVar[type[ConnectorSettings]] = GpSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, GpSettings)
        self.settings: GpSettings = settings
        self.db = Database(
            settings.connection_string,
            settings.password,
            dialect=settings.dialect,
            login_timeout=settings.login_timeout,
            query_timeout=settings.query_timeout,
            guard=lambda: self.limiter,
        )
        self.reader = GpReader(
            self.db,
            settings.schema_name,
            _fieldmap(settings, context.mapping_overrides),
            page_size=settings.page_size,
            overlap=timedelta(seconds=settings.overlap_seconds),
            reconcile_every=(
                timedelta(hours=settings.reconcile_every_hours) if settings.reconcile_every_hours else None
            ),
        )
        self.writer = GpWriter(self.db, settings)

    def budget_key(self) -> str:
        # Connections to one company database share whatever the server allows.
        return f"{self.name}:{self.settings.connection_string}|{self.settings.schema_name}"

    def check(self) -> CheckResult:
        """Connect, read every table the connector reads, find the eConnect procedures."""
        try:
            dialect = self.db.dialect
            missing: list[str] = []
            for table, columns in (
                (gp.CUSTOMER_TABLE, gp.CUSTOMER_COLUMNS),
                *((t, gp.DOCUMENT_COLUMNS) for t in gp.DOCUMENT_TABLES),
                *((t, gp.APPLY_COLUMNS) for t in gp.APPLY_TABLES),
            ):
                sql = dialect.select(columns, dialect.table(self.settings.schema_name, table), limit=True)
                self.db.query(sql, dialect.limit_params(1, []), what=f"reading {table}")
            for procedure in gp.PROCEDURES:
                found = self.db.scalar(
                    dialect.routine_exists(),
                    [self.settings.schema_name, procedure],
                    what="looking up eConnect",
                )
                if not found:
                    missing.append(procedure)
        except ConnectorError as exc:
            return CheckResult(False, f"GP database: {exc}", {"kind": exc.kind.value})
        if missing:
            return CheckResult(
                False,
                f"connected ({dialect.name}), but the eConnect procedures {', '.join(missing)} are not "
                f"in schema "
                f"{self.settings.schema_name}: install eConnect for this company, or fix 'schema'",
                {"missing_procedures": missing},
            )
        return CheckResult(
            True,
            f"connected ({dialect.name}); RM00101, RM20101, RM30101, RM20201, RM30201 readable; "
            f"eConnect found; {NOTES_OFF}",
            {"dialect": dialect.name},
        )

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        if stream not in self.capabilities.streams:
            raise ValueError(f"dynamics-gp does not read {stream}")
        yield from self.reader.read(stream, cursor)

    def write(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        return [self.writer.write(item) for item in ops]

    def fetch(self, target_type: TargetType, remote_id: str) -> Record | None:
        return self.reader.fetch(STREAM_OF_TARGET[target_type], remote_id)

    def find_written(self, op: OutboundOp) -> WriteResult | None:
        return self.writer.find(op)

    def close(self) -> None:
        self.db.close()
