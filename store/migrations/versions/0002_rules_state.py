"""Rules state: planned dunning actions (the planner's history) and cash-application results.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "dunning_actions",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("send_at", TS, nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_dunning_actions"),
    )
    op.create_index("ix_dunning_actions_customer", "dunning_actions", ["connection", "customer_id"])
    op.create_table(
        "match_results",
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("payment_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("rule", sa.String(80), nullable=True),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("decided_at", TS, nullable=False),
        sa.Column("reviewed_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("connection", "payment_id", name="pk_match_results"),
    )
    op.create_index("ix_match_results_status", "match_results", ["connection", "status"])


def downgrade() -> None:
    op.drop_table("match_results")
    op.drop_table("dunning_actions")
