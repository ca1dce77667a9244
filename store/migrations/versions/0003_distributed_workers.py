"""Many workers on PostgreSQL: who ran each cycle, and the procrastinate task queue's tables.

On PostgreSQL this installs the schema of the procrastinate release arbridge requires (pinned in
``pyproject.toml``), in the same transaction as the rest of the migration, so every daemon start
brings the queue's tables with the store's. SQLite only gets the new ``runs`` columns: a SQLite
store serves one process, which needs no queue.

Upgrading procrastinate to a release that ships schema migrations takes a new revision here that
applies them (procrastinate's ``sql/migrations`` scripts) to stores where this revision already
installed the older schema.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("worker", sa.String(200), nullable=True))
        batch.add_column(sa.Column("job_id", sa.BigInteger, nullable=True))
    op.create_index("ix_runs_job", "runs", ["job_id"])

    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or sa.inspect(bind).has_table("procrastinate_jobs"):
        return
    from procrastinate.schema import SchemaManager

    # Many statements (types, tables, functions, triggers) run as one script on the driver's own
    # connection, inside the migration's transaction; without parameters nothing in it is a placeholder.
    driver = bind.connection.driver_connection
    assert driver is not None  # a live connection inside the migration's transaction
    driver.execute(SchemaManager.get_schema())


def downgrade() -> None:
    # The queue's tables stay: they hold no store data, and a later upgrade finds and keeps them.
    op.drop_index("ix_runs_job", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("job_id")
        batch.drop_column("worker")
