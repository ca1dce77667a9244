"""Records read customer by customer along an index: ix_records_customer gains remote_id.

The dunning planner and the worklist read invoices and payments ordered by customer and id. With
the id in the index, each page is a seek; without it the database sorted the rest of the stream
for every page, which grew with the square of the number of invoices.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_records_customer", table_name="records")
    op.create_index(
        "ix_records_customer", "records", ["connection", "stream", "customer_remote_id", "remote_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_records_customer", table_name="records")
    op.create_index("ix_records_customer", "records", ["connection", "stream", "customer_remote_id"])
