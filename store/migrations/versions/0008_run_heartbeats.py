"""Runs carry a heartbeat: a run whose process is gone is told apart from one still working.

A cycle killed mid-way left its run ``running`` for ever. With ``heartbeat_at`` refreshed while a
cycle runs, a run on another machine whose heartbeat went stale is taken for abandoned (on the same
machine, a dead pid says so at once), and ``arbridge status`` shows and stores it as such.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("heartbeat_at", sa.String(32), nullable=True))
    op.create_index("ix_runs_status", "runs", ["status", "connection"])


def downgrade() -> None:
    op.drop_index("ix_runs_status", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("heartbeat_at")
