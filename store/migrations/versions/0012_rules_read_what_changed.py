"""Rules that read what changed: when each dunning action last changed, each customer's next
re-plan day, and each rule's mark (what it last read up to, under which policy).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    with op.batch_alter_table("dunning_actions") as batch:
        batch.add_column(sa.Column("changed_at", TS, nullable=True))
        batch.create_index("ix_dunning_actions_changed", ["connection", "changed_at"])
    op.create_index("ix_dunning_calls_recorded", "dunning_calls", ["connection", "recorded_at"])
    op.create_table(
        "dunning_wake",
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("wake_on", sa.String(10), nullable=True),
        sa.Column("planned_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("connection", "customer_id", name="pk_dunning_wake"),
    )
    op.create_index("ix_dunning_wake_wake_on", "dunning_wake", ["connection", "wake_on"])
    op.create_table(
        "rule_marks",
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("rule", sa.String(40), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("connection", "rule", name="pk_rule_marks"),
    )
    op.create_table(
        "cashapp_open_documents",
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("stream", sa.String(32), nullable=False),
        sa.Column("remote_id", sa.String(200), nullable=False),
        sa.Column("customer_remote_id", sa.String(200), nullable=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("connection", "stream", "remote_id", name="pk_cashapp_open_documents"),
    )
    op.create_index(
        "ix_cashapp_open_documents_customer", "cashapp_open_documents", ["connection", "customer_remote_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_cashapp_open_documents_customer", table_name="cashapp_open_documents")
    op.drop_table("cashapp_open_documents")
    op.drop_table("rule_marks")
    op.drop_index("ix_dunning_wake_wake_on", table_name="dunning_wake")
    op.drop_table("dunning_wake")
    op.drop_index("ix_dunning_calls_recorded", table_name="dunning_calls")
    with op.batch_alter_table("dunning_actions") as batch:
        batch.drop_index("ix_dunning_actions_changed")
        batch.drop_column("changed_at")
