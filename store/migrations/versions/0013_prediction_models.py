"""Each connection's fitted payment-date model, and how its last refit went.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "prediction_models",
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("feature_schema", sa.Integer, nullable=True),
        sa.Column("fitted_at", TS, nullable=True),
        sa.Column("trained_on", sa.BigInteger, nullable=True),
        sa.Column("holdout_mae_days", sa.Float, nullable=True),
        sa.Column("model", sa.LargeBinary, nullable=True),
        sa.Column("failed_at", TS, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("connection", name="pk_prediction_models"),
    )


def downgrade() -> None:
    op.drop_table("prediction_models")
