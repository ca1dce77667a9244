"""Dunning call outcomes: what a collector's call attempts achieved, kept apart from dunning actions.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "dunning_calls",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("invoice_ids", sa.Text, nullable=False),
        sa.Column("promised_date", sa.String(10), nullable=True),
        sa.Column("until", sa.String(10), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("recorded_by", sa.String(200), nullable=True),
        sa.Column("recorded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dunning_calls"),
    )
    op.create_index("ix_dunning_calls_customer", "dunning_calls", ["connection", "customer_id"])


def downgrade() -> None:
    op.drop_index("ix_dunning_calls_customer", table_name="dunning_calls")
    op.drop_table("dunning_calls")
