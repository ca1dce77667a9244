"""The state store: records, cursors, outbox, quarantine, audit log, runs (SQLAlchemy Core + Alembic)."""

from store.keys import idempotency_key
from store.state import (
    AuditCheckpoint,
    AuditEntry,
    ConnectionBusyError,
    ConnectorStateStore,
    OutboxRow,
    PageOutcome,
    RunInfo,
    StateStore,
    StoreBusyError,
    StoreError,
    create_engine,
    migrate,
    schema_revision,
)

__all__ = [
    "AuditCheckpoint",
    "AuditEntry",
    "ConnectionBusyError",
    "ConnectorStateStore",
    "OutboxRow",
    "PageOutcome",
    "RunInfo",
    "StateStore",
    "StoreBusyError",
    "StoreError",
    "create_engine",
    "idempotency_key",
    "migrate",
    "schema_revision",
]
