"""Dunning delivery: each planned communication's sending state (claims, commit point, retries).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    # Rows planned before this revision keep status "planned": the dispatcher sends those still
    # within rules.dunning.expire_after of their send time and expires the older ones.
    with op.batch_alter_table("dunning_actions") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_attempt_at", TS, nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("claimed_at", TS, nullable=True))
        batch.add_column(sa.Column("committed_at", TS, nullable=True))
        batch.add_column(sa.Column("reference", sa.Text, nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text, nullable=True))
        batch.create_index("ix_dunning_actions_due", ["connection", "status", "send_at"])


def downgrade() -> None:
    with op.batch_alter_table("dunning_actions") as batch:
        batch.drop_index("ix_dunning_actions_due")
        for column in (
            "last_error",
            "reference",
            "committed_at",
            "claimed_at",
            "claimed_by",
            "next_attempt_at",
            "attempts",
        ):
            batch.drop_column(column)
