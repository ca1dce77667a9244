"""The state store's tables (SQLAlchemy Core). Alembic migrations in ``store/migrations`` create them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Timestamps are stored as ISO-8601 UTC text: identical on SQLite and PostgreSQL, sortable, and never
# silently made naive by a driver.
TS = sa.String(32)

records = sa.Table(
    "records",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("stream", sa.String(32), primary_key=True),
    sa.Column("remote_id", sa.String(200), primary_key=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("customer_remote_id", sa.String(200), nullable=True),
    sa.Column("remote_modified_at", TS, nullable=False),
    sa.Column("seen_at", TS, nullable=False),
    sa.Column("changed_at", TS, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("version", sa.String(100), nullable=True),
    sa.Column("data", sa.Text, nullable=False),
    # Also the order in which the dunning planner and the worklist read a stream, customer by customer.
    sa.Index("ix_records_customer", "connection", "stream", "customer_remote_id", "remote_id"),
    sa.Index("ix_records_changed", "connection", "changed_at"),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("stream", sa.String(32), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True),
    sa.Column("connection", sa.String(100), nullable=False),
    sa.Column("op_type", sa.String(40), nullable=False),
    sa.Column("target_type", sa.String(32), nullable=False),
    sa.Column("target_id", sa.String(200), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("depends_on", sa.String(64), nullable=True),
    # pending → sending → done | parked; "sending" with sent_at set means: maybe reached the ERP.
    # An admin moves parked → pending (retry) or parked → dropped (final, never sent).
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("conflicts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", TS, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("sent_at", TS, nullable=True),
    sa.Column("finished_at", TS, nullable=True),
    sa.Column("error_kind", sa.String(32), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("remote_id", sa.String(200), nullable=True),
    sa.Column("remote_version", sa.String(100), nullable=True),
    sa.Column("run_id", sa.String(40), nullable=True),
    sa.Index("ix_outbox_claim", "connection", "status", "next_attempt_at"),
    sa.Index("ix_outbox_target", "connection", "target_type", "target_id"),
    # The rows still to send, in queue order: a claim reads its first few, however many rows the
    # outbox has sent before them (along the primary key it stepped over each of those).
    sa.Index(
        "ix_outbox_due",
        "connection",
        "id",
        postgresql_where=sa.text("status IN ('pending', 'sending')"),
        sqlite_where=sa.text("status IN ('pending', 'sending')"),
    ),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(100), nullable=False),
    sa.Column("stream", sa.String(32), nullable=False),
    sa.Column("remote_id", sa.String(200), nullable=True),
    sa.Column("field_path", sa.String(300), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("raw", sa.Text, nullable=True),
    sa.Column("run_id", sa.String(40), nullable=True),
    sa.Column("at", TS, nullable=False),
    sa.Index("ix_quarantine_record", "connection", "stream", "remote_id"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", TS, nullable=False),
    sa.Column("connection", sa.String(100), nullable=True),
    sa.Column("run_id", sa.String(40), nullable=True),
    sa.Column("event", sa.String(60), nullable=False),
    sa.Column("subject", sa.String(300), nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("connection", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("started_at", TS, nullable=False),
    sa.Column("finished_at", TS, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("stats", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    # Which process ran the cycle (host:pid) and, with a shared task queue, which job it was.
    sa.Column("worker", sa.String(200), nullable=True),
    sa.Column("job_id", sa.BigInteger, nullable=True),
    # Refreshed while the cycle runs: a stale one on another machine means its process is gone.
    sa.Column("heartbeat_at", TS, nullable=True),
    sa.Index("ix_runs_connection", "connection", "started_at"),
    sa.Index("ix_runs_job", "job_id"),
    sa.Index("ix_runs_status", "status", "connection"),
)

connector_state = sa.Table(
    "connector_state",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

dunning_actions = sa.Table(
    "dunning_actions",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("connection", sa.String(100), nullable=False),
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("send_at", TS, nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    # planned → sending → sent | failed | in_doubt, or planned → cancelled | expired (see
    # store/dunning.py); the planner reads every row but the cancelled and expired ones as history.
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("sent_at", TS, nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", TS, nullable=True),
    # Which process is sending it (host/pid/token) and since when.
    sa.Column("claimed_by", sa.String(200), nullable=True),
    sa.Column("claimed_at", TS, nullable=True),
    # Set just before the point of no return (SMTP DATA, file rename, webhook POST).
    sa.Column("committed_at", TS, nullable=True),
    sa.Column("reference", sa.Text, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    # Set by every change: the dunning planner re-plans the customers whose history changed.
    sa.Column("changed_at", TS, nullable=True),
    sa.Index("ix_dunning_actions_customer", "connection", "customer_id"),
    sa.Index("ix_dunning_actions_due", "connection", "status", "send_at"),
    sa.Index("ix_dunning_actions_changed", "connection", "changed_at"),
)

# What a collector's call attempts achieved (store/dunning.py): not dunning actions, so they count
# against the call caps without reaching a level; promises and disputes pause the invoices named.
dunning_calls = sa.Table(
    "dunning_calls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(100), nullable=False),
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("at", TS, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # reached | no_answer | promise | dispute
    sa.Column("invoice_ids", sa.Text, nullable=False),  # a JSON list
    sa.Column("promised_date", sa.String(10), nullable=True),
    sa.Column("until", sa.String(10), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("recorded_by", sa.String(200), nullable=True),
    sa.Column("recorded_at", TS, nullable=False),
    sa.Index("ix_dunning_calls_customer", "connection", "customer_id"),
    sa.Index("ix_dunning_calls_recorded", "connection", "recorded_at"),
)

# The day each customer's plan may change by itself (an invoice falls due, a wait or a pause ends):
# the dunning planner re-plans it that day even when none of its records changed.
dunning_wake = sa.Table(
    "dunning_wake",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("customer_id", sa.String(200), primary_key=True),
    sa.Column("wake_on", sa.String(10), nullable=True),
    sa.Column("planned_at", TS, nullable=False),
    sa.Index("ix_dunning_wake_wake_on", "connection", "wake_on"),
)

# What a rule last read up to, and under which settings (JSON): a cycle reads what changed since.
rule_marks = sa.Table(
    "rule_marks",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("rule", sa.String(40), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

# Cash application's open invoices and credit memos, kept up to date from the records each cycle
# changed, so matching reads the open documents, not the whole book.
cashapp_open_documents = sa.Table(
    "cashapp_open_documents",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("stream", sa.String(32), primary_key=True),
    sa.Column("remote_id", sa.String(200), primary_key=True),
    sa.Column("customer_remote_id", sa.String(200), nullable=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Index("ix_cashapp_open_documents_customer", "connection", "customer_remote_id"),
)

match_results = sa.Table(
    "match_results",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("payment_id", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # auto | review | unmatched | accepted | rejected
    sa.Column("customer_id", sa.String(200), nullable=True),
    sa.Column("confidence", sa.Float, nullable=True),
    sa.Column("rule", sa.String(80), nullable=True),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("decided_at", TS, nullable=False),
    sa.Column("reviewed_by", sa.String(200), nullable=True),
    sa.Index("ix_match_results_status", "connection", "status"),
)

learned_aliases = sa.Table(
    "learned_aliases",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("customer_id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),  # bank_account | name
    sa.Column("value", sa.String(300), primary_key=True),
    sa.Column("payment_id", sa.String(200), nullable=False),
    sa.Column("learned_by", sa.String(200), nullable=True),
    sa.Column("learned_at", TS, nullable=False),
)

statement_files = sa.Table(
    "statement_files",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("content_hash", sa.String(64), primary_key=True),
    sa.Column("file_name", sa.String(500), nullable=False),
    sa.Column("format", sa.String(20), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # imported | quarantined
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("lines", sa.Integer, nullable=False),
    sa.Column("imported_at", TS, nullable=False),
)

bank_lines = sa.Table(
    "bank_lines",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("line_id", sa.String(200), primary_key=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("imported_at", TS, nullable=False),
)

connections = sa.Table(
    "connections",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("needs_reauth", sa.Boolean, nullable=False, default=False),
    sa.Column("reauth_reason", sa.Text, nullable=True),
    sa.Column("alerted_at", TS, nullable=True),
    sa.Column("last_success_at", TS, nullable=True),
    sa.Column("updated_at", TS, nullable=False),
)


# The workspace's people (store/users.py): a password is kept only as its argon2 hash.
users = sa.Table(
    "users",
    metadata,
    sa.Column("username", sa.String(100), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),  # viewer | collector | clerk | admin
    sa.Column("password_hash", sa.Text, nullable=False),
    # Changes with every new password: sessions started before it end.
    sa.Column("password_set_at", TS, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", TS, nullable=True),
    sa.Column("last_login_at", TS, nullable=True),
)

# Settings the workspace keeps for itself, shared by every daemon on the store (the session key).
workspace_settings = sa.Table(
    "workspace_settings",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)


# The overview's sums, kept up to date from the records that changed (store/insights.py): what each
# invoice, payment and credit memo adds, and those contributions summed per currency and day.
# Amounts are whole ten-thousandths, so sums are exact on every database.
insight_facts = sa.Table(
    "insight_facts",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("stream", sa.String(32), primary_key=True),
    sa.Column("remote_id", sa.String(200), primary_key=True),
    sa.Column("currency", sa.String(8), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),  # issue date, or a payment's date
    sa.Column("due", sa.String(10), nullable=False),  # due date; '' when none or not an invoice
    sa.Column("open_units", sa.BigInteger, nullable=False),
    sa.Column("flow_units", sa.BigInteger, nullable=False),
    # The invoices behind an aging bucket: open ones by due date.
    sa.Index("ix_insight_facts_due", "connection", "stream", "currency", "due"),
)

insight_days = sa.Table(
    "insight_days",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("stream", sa.String(32), primary_key=True),
    sa.Column("currency", sa.String(8), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("due", sa.String(10), primary_key=True),
    sa.Column("open_count", sa.BigInteger, nullable=False),
    sa.Column("open_units", sa.BigInteger, nullable=False),
    sa.Column("flow_units", sa.BigInteger, nullable=False),
)


# Which collector works which customer of the worklist (store/users.py: Assignments).
worklist_assignments = sa.Table(
    "worklist_assignments",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("customer_id", sa.String(200), primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("assigned_by", sa.String(100), nullable=False),
    sa.Column("assigned_at", TS, nullable=False),
    sa.Index("ix_worklist_assignments_user", "username"),
)


# Each connection's fitted payment-date model (store/prediction_models.py): the LightGBM models, the
# calibration, the baselines' tables and the forecast's correlations in one compressed blob, with
# what it was fitted on; and the last refit that failed (the model before it stays in use).
prediction_models = sa.Table(
    "prediction_models",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("feature_schema", sa.Integer, nullable=True),
    sa.Column("fitted_at", TS, nullable=True),
    sa.Column("trained_on", sa.BigInteger, nullable=True),
    sa.Column("holdout_mae_days", sa.Float, nullable=True),
    sa.Column("model", sa.LargeBinary, nullable=True),
    sa.Column("failed_at", TS, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)


# Tables another component keeps in the same database (the PostgreSQL task queue): not the store's.
FOREIGN_TABLE_PREFIXES = ("procrastinate_",)


def include_name(name: str | None, type_: str, _parent_names: object) -> bool:
    """Alembic filter: compare and migrate only the store's own tables."""
    return not (type_ == "table" and name is not None and name.startswith(FOREIGN_TABLE_PREFIXES))
