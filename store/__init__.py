"""The state store: records, cursors, outbox, quarantine, audit log, runs (SQLAlchemy Core + Alembic)."""

from store.keys import idempotency_key
from store.state import (
    AuditCheckpoint,
    ConnectorStateStore,
    OutboxRow,
    PageOutcome,
    RunInfo,
    StateStore,
    StoreError,
    create_engine,
    migrate,
    schema_revision,
)

__all__ = [
    "AuditCheckpoint",
    "ConnectorStateStore",
    "OutboxRow",
    "PageOutcome",
    "RunInfo",
    "StateStore",
    "StoreError",
    "create_engine",
    "idempotency_key",
    "migrate",
    "schema_revision",
]
