"""The initial state store: records, cursors, outbox, quarantine, audit log, runs, connector state.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "records",
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("stream", sa.String(32), nullable=False),
        sa.Column("remote_id", sa.String(200), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("customer_remote_id", sa.String(200), nullable=True),
        sa.Column("remote_modified_at", TS, nullable=False),
        sa.Column("seen_at", TS, nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("version", sa.String(100), nullable=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("connection", "stream", "remote_id", name="pk_records"),
    )
    op.create_index("ix_records_customer", "records", ["connection", "stream", "customer_remote_id"])
    op.create_index("ix_records_changed", "records", ["connection", "changed_at"])

    op.create_table(
        "cursors",
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("stream", sa.String(32), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("connection", "stream", name="pk_cursors"),
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("op_type", sa.String(40), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("depends_on", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("conflicts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("error_kind", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("remote_id", sa.String(200), nullable=True),
        sa.Column("remote_version", sa.String(100), nullable=True),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
    )
    op.create_index("ix_outbox_claim", "outbox", ["connection", "status", "next_attempt_at"])
    op.create_index("ix_outbox_target", "outbox", ["connection", "target_type", "target_id"])

    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("stream", sa.String(32), nullable=False),
        sa.Column("remote_id", sa.String(200), nullable=True),
        sa.Column("field_path", sa.String(300), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=True),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine"),
    )
    op.create_index("ix_quarantine_record", "quarantine", ["connection", "stream", "remote_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("connection", sa.String(100), nullable=True),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.Column("event", sa.String(60), nullable=False),
        sa.Column("subject", sa.String(300), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )

    op.create_table(
        "runs",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stats", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_connection", "runs", ["connection", "started_at"])

    op.create_table(
        "connector_state",
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("connection", "key", name="pk_connector_state"),
    )

    op.create_table(
        "connections",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("needs_reauth", sa.Boolean, nullable=False),
        sa.Column("reauth_reason", sa.Text, nullable=True),
        sa.Column("alerted_at", TS, nullable=True),
        sa.Column("last_success_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_connections"),
    )


def downgrade() -> None:
    for table in (
        "connections",
        "connector_state",
        "runs",
        "audit_log",
        "quarantine",
        "outbox",
        "cursors",
        "records",
    ):
        op.drop_table(table)
