"""Cash application: aliases learned from a clerk's accepted matches, and imported bank statements.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "learned_aliases",
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("value", sa.String(300), nullable=False),
        sa.Column("payment_id", sa.String(200), nullable=False),
        sa.Column("learned_by", sa.String(200), nullable=True),
        sa.Column("learned_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("connection", "customer_id", "kind", "value", name="pk_learned_aliases"),
    )
    op.create_table(
        "statement_files",
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("format", sa.String(20), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("imported_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("connection", "content_hash", name="pk_statement_files"),
    )
    op.create_table(
        "bank_lines",
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("line_id", sa.String(200), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("imported_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("connection", "line_id", name="pk_bank_lines"),
    )


def downgrade() -> None:
    op.drop_table("bank_lines")
    op.drop_table("statement_files")
    op.drop_table("learned_aliases")
