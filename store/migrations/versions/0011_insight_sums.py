"""The overview's sums kept up to date (each record's contribution, their sums per currency and day) and
the worklist's assignments of customers to collectors.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "insight_facts",
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("stream", sa.String(32), nullable=False),
        sa.Column("remote_id", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("due", sa.String(10), nullable=False),
        sa.Column("open_units", sa.BigInteger, nullable=False),
        sa.Column("flow_units", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("connection", "stream", "remote_id", name="pk_insight_facts"),
    )
    op.create_index("ix_insight_facts_due", "insight_facts", ["connection", "stream", "currency", "due"])
    op.create_table(
        "insight_days",
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("stream", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("due", sa.String(10), nullable=False),
        sa.Column("open_count", sa.BigInteger, nullable=False),
        sa.Column("open_units", sa.BigInteger, nullable=False),
        sa.Column("flow_units", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("connection", "stream", "currency", "day", "due", name="pk_insight_days"),
    )

    op.create_table(
        "worklist_assignments",
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("assigned_by", sa.String(100), nullable=False),
        sa.Column("assigned_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("connection", "customer_id", name="pk_worklist_assignments"),
    )
    op.create_index("ix_worklist_assignments_user", "worklist_assignments", ["username"])


def downgrade() -> None:
    op.drop_index("ix_worklist_assignments_user", table_name="worklist_assignments")
    op.drop_table("worklist_assignments")
    op.drop_table("insight_days")
    op.drop_index("ix_insight_facts_due", table_name="insight_facts")
    op.drop_table("insight_facts")
