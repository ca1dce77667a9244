"""The state store: what arbridge knows, what it promised the ERP, and what it did.

SQLite file by default (WAL, ``synchronous=FULL``: a committed page survives a power cut), PostgreSQL
by URL. Every method that changes state commits before it returns, so a process killed at any
instant loses at most the page or write it was in the middle of, never one it reported as stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from connectors.base import Cursor, Reject
from mapping.bulk import paused_gc
from mapping.models import (
    Operation,
    Record,
    Stream,
    hash_content,
    operation_from_json,
    record_from_json_text,
)
from store import runs as runs_mod
from store import schema as t
from store.keys import idempotency_key

GENESIS = "0" * 64

log = logging.getLogger("arbridge.store")


def ts(value: datetime) -> str:
    """A datetime as sortable ISO-8601 UTC text (the store's one timestamp format)."""
    if value.tzinfo is UTC:
        return value.isoformat(timespec="microseconds")
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the state store")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def from_ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def now() -> datetime:
    return datetime.now(UTC)


def any_of(dialect: str, column: Any, values: Sequence[Any]) -> Any:
    """``column IN (values)``; on PostgreSQL ``column = ANY(array)``, with one parameter.

    An ``IN`` list sends one parameter per value, and its statement's text changes with the list's
    length: the driver converts each such statement anew and the server parses hundreds of
    parameters, several milliseconds a statement of 500 ids. The array keeps one text, read along
    the same indexes.
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


@dataclass
class PageOutcome:
    """What storing one page did."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    quarantined: int = 0
    changed_keys: list[str] = field(default_factory=list)


@dataclass
class OutboxRow:
    id: int
    key: str
    connection: str
    op_type: str
    target_type: str
    target_id: str
    payload: dict[str, Any]
    depends_on: str | None
    status: str
    attempts: int
    conflicts: int
    sent_at: datetime | None
    last_error: str | None
    error_kind: str | None
    created_at: datetime
    # An earlier claim had already let this write leave, so it may be in the ERP; unlike a count of
    # attempts, this survives an admin's retry, which starts the attempts over.
    maybe_sent: bool = False
    # Why the stored payload could not be read (the relay parks such a row instead of stopping).
    payload_error: str | None = None

    def operation(self) -> Operation:
        """The stored operation; ``ValueError`` when the row cannot be read as one."""
        if self.payload_error is not None:
            raise ValueError(self.payload_error)
        return operation_from_json(self.op_type, self.payload)

    def key_matches_payload(self) -> bool:
        """False when the payload was changed after its idempotency key was issued."""
        return idempotency_key(self.connection, self.operation()) == self.key


@dataclass(frozen=True, slots=True)
class PlannedDunningAction:
    """A communication the dunning planner decided, as ``StateStore.record_dunning_actions`` keeps it."""

    key: str
    customer_id: str
    send_at: datetime
    channel: str
    level: int
    payload: dict[str, Any]


@dataclass
class RunInfo:
    id: str
    connection: str
    kind: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    stats: dict[str, Any]
    error: str | None
    worker: str | None = None
    job_id: int | None = None


_PAGE_COLUMNS = (
    "remote_id",
    "content_hash",
    "customer_remote_id",
    "remote_modified_at",
    "seen_at",
    "deleted",
    "version",
    "data",
)
_UPDATED = ", ".join(f"{c} = excluded.{c}" for c in (*_PAGE_COLUMNS[1:], "changed_at"))
# SQLite's default limit of bound parameters per statement was 999 before 3.32.
_SQLITE_CHUNK = 900
# Outbox rows claimed between two looks at its statistics (``StateStore._after_claims``): a look is
# one query, an analysis follows only when a tenth of the outbox changed.
_CLAIMED_BETWEEN_LOOKS = 3000
_SQLITE_UPSERT = (
    f"INSERT INTO records (connection, stream, {', '.join(_PAGE_COLUMNS)}, changed_at) "
    f"VALUES ({', '.join('?' * (len(_PAGE_COLUMNS) + 3))}) "
    f"ON CONFLICT (connection, stream, remote_id) DO UPDATE SET {_UPDATED}"
)
# One page, one statement: the rows whose hash differs are written (xmax is 0 for a row this
# statement inserted, not updated), and the quarantine of those rows is cleared. The arrays go in
# psycopg's binary format (``%(…)b``): as text every element would be quoted and escaped in Python.
_POSTGRESQL_PAGE = f"""
WITH page AS (
    SELECT * FROM unnest(
        %(remote_id)b::text[], %(content_hash)b::text[], %(customer_remote_id)b::text[],
        %(remote_modified_at)b::text[], %(seen_at)b::text[], %(deleted)b::boolean[],
        %(version)b::text[], %(data)b::text[]
    ) AS p({", ".join(_PAGE_COLUMNS)})
), written AS (
    INSERT INTO records AS r (connection, stream, {", ".join(_PAGE_COLUMNS)}, changed_at)
    SELECT %(connection)s, %(stream)s, {", ".join(_PAGE_COLUMNS)}, %(stamp)s FROM page
    ON CONFLICT (connection, stream, remote_id) DO UPDATE SET {_UPDATED}
    WHERE r.content_hash <> excluded.content_hash
    RETURNING r.remote_id, r.xmax = 0 AS inserted
), cleared AS (
    DELETE FROM quarantine q USING written w
    WHERE q.connection = %(connection)s AND q.stream = %(stream)s
      AND q.remote_id = w.remote_id COLLATE "default"
)
SELECT remote_id, inserted FROM written
"""


class StoreError(RuntimeError):
    pass


class StoreBusyError(StoreError):
    """Another process kept the store locked longer than the busy timeout."""


class ConnectionBusyError(StoreError):
    """Another live process is running a cycle of the connection."""


BUSY_TIMEOUT_S = 30


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin): pysqlite's own transaction handling
    # commits DDL implicitly, so a process killed during a migration would leave half a schema.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock at the start, waiting (busy_timeout) while another process
    # holds it. A deferred transaction that reads and then writes cannot wait: SQLite fails it at
    # once with "database is locked" when another process wrote in between.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _busy_store(context: Any) -> BaseException | None:
    """Turn SQLite's "database is locked", after the busy timeout, into a message for a person."""
    original = context.original_exception
    if context.engine is not None and context.engine.dialect.name == "sqlite" and "locked" in str(original):
        path = context.engine.url.database
        return StoreBusyError(
            f"the state store {path} stayed busy for {BUSY_TIMEOUT_S} s: another arbridge process "
            "is writing to it; try again, or let one daemon run the connections"
        )
    return None


def _create_private(path: Path) -> None:
    """Create a new store file (and its folder) readable by the owner only; leave existing ones be.

    The store holds OAuth tokens and customer data. SQLite gives the WAL and its index the mode of
    the database file, so they are private too.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def create_engine(url: str) -> Engine:
    """An engine for the store URL, with SQLite made durable and PostgreSQL pooled."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            _create_private(Path(path))
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        sa.event.listen(engine, "handle_error", _busy_store)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (an installed daemon keeps its data)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Daemons started together: one migrates, the others wait and then find the schema current.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(727275)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def schema_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


class ConnectorStateStore:
    """The durable ``KeyValueStore`` a connector gets for its connection (OAuth tokens …)."""

    def __init__(self, store: StateStore, connection: str) -> None:
        self._store = store
        self._connection = connection

    def get(self, key: str) -> str | None:
        with self._store.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.connector_state.c.value).where(
                    t.connector_state.c.connection == self._connection, t.connector_state.c.key == key
                )
            ).first()
        return None if row is None else str(row[0])

    def put(self, key: str, value: str) -> None:
        with self._store.engine.begin() as conn:
            self._store._upsert(
                conn,
                t.connector_state,
                {"connection": self._connection, "key": key, "value": value, "updated_at": ts(now())},
                ["connection", "key"],
                ["value", "updated_at"],
            )

    def __repr__(self) -> str:
        return f"<ConnectorStateStore {self._connection!r}>"


class StateStore:
    """Records, cursors, outbox, quarantine, audit log, runs and connection health."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # Rows this process added to ``records`` since it last refreshed PostgreSQL's statistics.
        self._grown = 0
        # The table's size when its statistics were last refreshed (None: not read yet).
        self._analyzed_at_rows: int | None = None
        # Outbox rows claimed since the outbox's statistics were last looked at (see ``claim``).
        self._claimed = 0
        # Upsert statements by table, key and updated columns: built once, they cost more to build
        # than to run for a row.
        self._upserts: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Any] = {}

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True) -> StateStore:
        engine = create_engine(url)
        if migrate_schema:
            migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False

    @property
    def writes_while_reading(self) -> bool:
        """Whether a pull should store a page while it reads the next one (see ``SyncEngine``).

        On PostgreSQL a page's statements wait for the server, time the next page's reading can
        use. SQLite works in this process, holding Python's lock for most of it, and an in-memory
        SQLite database exists once per thread: it is written where it is read.
        """
        return self.dialect == "postgresql"

    # -- helpers ---------------------------------------------------------------------------------

    def _insert(self, table: sa.Table) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    def _upsert(
        self,
        conn: Connection,
        table: sa.Table,
        values: dict[str, Any] | list[dict[str, Any]],
        keys: list[str],
        update: list[str],
    ) -> None:
        slot = (table.name, tuple(keys), tuple(update))
        stmt = self._upserts.get(slot)
        if stmt is None:
            stmt = self._insert(table)
            stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in update})
            self._upserts[slot] = stmt
        conn.execute(stmt, values)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction for several of the store's writes (pass it on as ``conn=``): all or none."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _tx(self, conn: Connection | None) -> Iterator[Connection]:
        """The caller's transaction when it passes one, else a new one committed on exit."""
        if conn is not None:
            yield conn
            return
        with self.engine.begin() as new:
            yield new

    # -- records and cursors ---------------------------------------------------------------------

    def save_page(
        self,
        connection: str,
        stream: Stream,
        records: Sequence[Record],
        rejects: Sequence[Reject] = (),
        cursor: Cursor | None = None,
        run_id: str | None = None,
    ) -> PageOutcome:
        """Store one page and, when it is resumable, the cursor after it — in one transaction.

        Records whose content hash is unchanged are left alone (not re-processed by the rules).
        The page is written with a few set-based statements, never one per record: on PostgreSQL
        one statement stores the page and clears the quarantine of what changed.
        """
        out = PageOutcome()
        stamp = ts(now())
        by_id: dict[str, Record] = {}
        for rec in records:
            by_id[rec.remote_id] = rec
        with paused_gc(), self.engine.begin() as conn:
            write = self._write_page_postgresql if self.dialect == "postgresql" else self._write_page_sqlite
            written = write(conn, connection, stream, by_id, stamp) if by_id else {}
            for rid, rec in by_id.items():
                inserted = written.get(rid)
                if inserted is None:
                    out.unchanged += 1
                    continue
                if inserted:
                    out.new += 1
                else:
                    out.changed += 1
                if rec.deleted:
                    out.deleted += 1
                out.changed_keys.append(rid)
            for rej in rejects:
                self._quarantine(
                    conn,
                    connection,
                    rej.stream.value,
                    rej.remote_id,
                    rej.field_path,
                    rej.reason,
                    rej.raw,
                    run_id,
                    stamp,
                )
                out.quarantined += 1
            if cursor is not None and cursor.resumable:
                self._set_cursor(conn, connection, stream, cursor.value)
        self._after_growth(out.new)
        return out

    @staticmethod
    def _record_row(
        rec: Record, content: str, digest: str, kept: str | None, stamps: dict[datetime, str]
    ) -> tuple[Any, ...]:
        """A record's columns after (connection, stream): id, hash, customer, times, flag, version, data.

        ``kept`` is the stored data of a record the page deletes: a deletion notice carries only
        the id and a time (QuickBooks CDC, NetSuite getDeleted), so the copy we have is flagged
        instead of overwritten with placeholders. ``stamps`` remembers the page's times as text:
        a page's records are mostly seen (and often changed) at one time, and formatting a time
        costs more than looking it up. ``content`` is the record's ``content_json`` (hashed into
        ``digest``), from which its whole JSON is put together.
        """
        data = rec.json_from_content(content)
        customer = rec.__dict__.get("customer_remote_id")  # getattr costs customers an exception
        if kept is not None:
            old = json.loads(kept)
            old.update(
                deleted=True,
                remote_modified_at=rec.remote_modified_at.isoformat(),
                version=rec.version,
            )
            data = json.dumps(old)
            customer = old.get("customer_remote_id")
        return (
            rec.remote_id,
            digest,
            customer,
            stamps.get(rec.remote_modified_at)
            or stamps.setdefault(rec.remote_modified_at, ts(rec.remote_modified_at)),
            stamps.get(rec.seen_at) or stamps.setdefault(rec.seen_at, ts(rec.seen_at)),
            rec.deleted,
            rec.version,
            data,
        )

    def _write_page_sqlite(
        self, conn: Connection, connection: str, stream: Stream, by_id: dict[str, Record], stamp: str
    ) -> dict[str, bool]:
        """Write the page's new and changed records; returns each written id, True when it was new.

        SQLite runs in this process: looking the stored hashes up first costs no round trip, and
        spares serialising the records that did not change.
        """
        ids = list(by_id)
        existing: dict[str, str] = {}
        for i in range(0, len(ids), _SQLITE_CHUNK):
            chunk = ids[i : i + _SQLITE_CHUNK]
            found = conn.exec_driver_sql(
                "SELECT remote_id, content_hash FROM records WHERE connection = ? AND stream = ? "
                f"AND remote_id IN ({', '.join('?' * len(chunk))})",
                (connection, stream.value, *chunk),
            )
            existing.update(found.fetchall())
        changed: dict[str, tuple[Record, str, str]] = {}
        for rid, rec in by_id.items():
            content = rec.content_json()
            digest = hash_content(content)
            if existing.get(rid) != digest:
                changed[rid] = (rec, content, digest)
        if not changed:
            return {}
        tombstones = [rid for rid, (rec, _, _) in changed.items() if rec.deleted and rid in existing]
        kept = self._stored_data(conn, connection, stream, tombstones) if tombstones else {}
        stamps: dict[datetime, str] = {}
        name = stream.value
        rows = [
            (connection, name, *self._record_row(rec, content, digest, kept.get(rid), stamps), stamp)
            for rid, (rec, content, digest) in changed.items()
        ]
        conn.exec_driver_sql(_SQLITE_UPSERT, rows)
        has_quarantined = conn.exec_driver_sql(
            "SELECT 1 FROM quarantine WHERE connection = ? AND stream = ? LIMIT 1", (connection, stream.value)
        ).first()
        if has_quarantined:
            # A record that now maps cleanly leaves quarantine.
            keys = list(changed)
            for i in range(0, len(keys), _SQLITE_CHUNK):
                chunk = keys[i : i + _SQLITE_CHUNK]
                conn.exec_driver_sql(
                    "DELETE FROM quarantine WHERE connection = ? AND stream = ? "
                    f"AND remote_id IN ({', '.join('?' * len(chunk))})",
                    (connection, stream.value, *chunk),
                )
        return {rid: rid not in existing for rid in changed}

    def _write_page_postgresql(
        self, conn: Connection, connection: str, stream: Stream, by_id: dict[str, Record], stamp: str
    ) -> dict[str, bool]:
        """Write the page in one statement; returns each written id, True when it was new.

        The page travels as one array per column; the upsert skips rows whose hash is unchanged,
        and the quarantine of the rows it wrote is cleared in the same statement. A round trip per
        page instead of per record, and no plan that depends on the table's statistics: the
        conflict is found through the primary key whatever the planner thinks of the table.
        """
        deleted = [rid for rid, rec in by_id.items() if rec.deleted]
        kept = self._stored_data(conn, connection, stream, deleted) if deleted else {}
        stamps: dict[datetime, str] = {}
        rows = []
        for rid, rec in by_id.items():
            content = rec.content_json()
            rows.append(self._record_row(rec, content, hash_content(content), kept.get(rid), stamps))
        columns = list(zip(*rows, strict=True))
        params: dict[str, Any] = {"connection": connection, "stream": stream.value, "stamp": stamp}
        params.update({name: list(values) for name, values in zip(_PAGE_COLUMNS, columns, strict=True)})
        result = conn.exec_driver_sql(_POSTGRESQL_PAGE, params)
        return dict(result.fetchall())

    def _after_growth(self, added: int) -> None:
        """Refresh PostgreSQL's statistics of ``records`` while a pull makes it grow.

        With statistics from when the table was small, PostgreSQL reads records along the wrong
        index and filters the whole stream instead of seeking the primary key (a first full pull
        into an empty store once ran at 830 records/s that way; the page's upsert now finds its
        rows through the primary key whatever the statistics, but the rules' reads after the pull
        still plan by them). Autovacuum would fix this in time, but it lags behind a bulk load (and
        some sites turn it off), so the store analyses the table itself each time it doubled.
        """
        if self.dialect != "postgresql" or added <= 0:
            return
        self._grown += added
        if self._analyzed_at_rows is None:
            # A process that starts on a big store counts from the statistics it finds, instead
            # of analysing a million rows because its first pull brought a thousand.
            self._analyzed_at_rows = self._analysed_rows()
        if self._grown < 1000 + self._analyzed_at_rows:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.text("ANALYZE records"))
                rows = conn.execute(
                    sa.text("SELECT reltuples FROM pg_class WHERE oid = 'records'::regclass")
                ).scalar()
        except sa.exc.SQLAlchemyError:  # not the table's owner: leave it to autovacuum
            log.debug("could not analyse the records table", exc_info=True)
            rows = None
        self._analyzed_at_rows = max(int(rows or 0), self._analyzed_at_rows + self._grown)
        self._grown = 0

    def _analysed_rows(self) -> int:
        """How many rows ``records`` held at its last analysis, as PostgreSQL's statistics say."""
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    sa.text("SELECT reltuples FROM pg_class WHERE oid = 'records'::regclass")
                ).scalar()
        except sa.exc.SQLAlchemyError:
            return 0
        return max(0, int(rows or 0))  # -1: never analysed

    def refresh_statistics(self, tables: Sequence[str] | None = None) -> list[str]:
        """Analyse the store's tables that changed much since their last analysis (PostgreSQL only).

        The rules read the outbox, their own tables and the records along indexes chosen by the
        planner's statistics; with none (a table never analysed) or old ones it reads a whole index
        where a few rows would do. Autovacuum analyses a table once a tenth of it changed, but some
        sites turn it off: the same rule is applied here, after a cycle. Returns the tables analysed.
        """
        if self.dialect != "postgresql":
            return []
        names = list(tables) if tables is not None else [table.name for table in t.metadata.sorted_tables]
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
                        " WHERE s.schemaname = current_schema() AND s.relname = ANY(:names)"
                        " AND s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)"
                    ),
                    {"names": names},
                ).all()
        except sa.exc.SQLAlchemyError:
            log.debug("could not read the tables' statistics", exc_info=True)
            return []
        analysed = []
        for (name,) in rows:
            try:
                with self.engine.begin() as conn:
                    # Another process analysing it already does the same: not worth waiting for.
                    conn.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
                    conn.execute(sa.text(f'ANALYZE "{name}"'))
                analysed.append(str(name))
            except sa.exc.SQLAlchemyError:  # not the owner, or busy: left to the next cycle
                log.debug("could not analyse %s", name, exc_info=True)
        return analysed

    @staticmethod
    def _stored_data(conn: Connection, connection: str, stream: Stream, ids: list[str]) -> dict[str, str]:
        rows = conn.execute(
            sa.select(t.records.c.remote_id, t.records.c.data).where(
                t.records.c.connection == connection,
                t.records.c.stream == stream.value,
                t.records.c.remote_id.in_(ids),
            )
        )
        return {r[0]: r[1] for r in rows}

    def _quarantine(
        self,
        conn: Connection,
        connection: str,
        stream: str,
        remote_id: str | None,
        field_path: str | None,
        reason: str,
        raw: Any,
        run_id: str | None,
        stamp: str,
    ) -> None:
        if remote_id is not None:
            conn.execute(
                sa.delete(t.quarantine).where(
                    t.quarantine.c.connection == connection,
                    t.quarantine.c.stream == stream,
                    t.quarantine.c.remote_id == remote_id,
                )
            )
        conn.execute(
            sa.insert(t.quarantine).values(
                connection=connection,
                stream=stream,
                remote_id=remote_id,
                field_path=field_path,
                reason=reason[:4000],
                raw=None if raw is None else json.dumps(raw, default=str)[:100_000],
                run_id=run_id,
                at=stamp,
            )
        )

    def quarantine_item(
        self,
        connection: str,
        stream: str,
        remote_id: str | None,
        reason: str,
        *,
        field_path: str | None = None,
        raw: Any = None,
        run_id: str | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Set one item aside with the reason (a payment the matcher cannot decide, a bad file line).

        It replaces what was quarantined before under the same stream and id, so an item that fails
        every cycle is listed once.
        """
        with self._tx(conn) as c:
            self._quarantine(c, connection, stream, remote_id, field_path, reason, raw, run_id, ts(now()))

    def release_quarantined(
        self, connection: str, stream: str, *, keep: set[str] | None = None, conn: Connection | None = None
    ) -> int:
        """Take the items of ``stream`` out of quarantine, except those in ``keep`` (still failing).

        For items a rule sets aside afresh on every run (a customer the dunning planner cannot
        plan): what the run no longer set aside was corrected. Returns how many left.
        """
        keep = keep or set()
        with self._tx(conn) as c:
            query = sa.select(t.quarantine.c.id, t.quarantine.c.remote_id).where(
                t.quarantine.c.connection == connection, t.quarantine.c.stream == stream
            )
            gone = [row.id for row in c.execute(query) if row.remote_id not in keep]
            for i in range(0, len(gone), 900):
                c.execute(sa.delete(t.quarantine).where(t.quarantine.c.id.in_(gone[i : i + 900])))
        return len(gone)

    def _set_cursor(self, conn: Connection, connection: str, stream: Stream, value: str) -> None:
        self._upsert(
            conn,
            t.cursors,
            {"connection": connection, "stream": stream.value, "value": value, "updated_at": ts(now())},
            ["connection", "stream"],
            ["value", "updated_at"],
        )

    def set_cursor(self, connection: str, stream: Stream, cursor: Cursor) -> None:
        with self.engine.begin() as conn:
            self._set_cursor(conn, connection, stream, cursor.value)

    def get_cursor(self, connection: str, stream: Stream) -> Cursor | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.cursors.c.value).where(
                    t.cursors.c.connection == connection, t.cursors.c.stream == stream.value
                )
            ).first()
        return None if row is None else Cursor(str(row[0]))

    def get_record(self, connection: str, stream: Stream, remote_id: str) -> Record | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.records.c.data).where(
                    t.records.c.connection == connection,
                    t.records.c.stream == stream.value,
                    t.records.c.remote_id == remote_id,
                )
            ).first()
        return None if row is None else record_from_json_text(stream.value, row[0])

    def record_versions(self, connection: str, stream: Stream, remote_ids: Sequence[str]) -> dict[str, str]:
        """The stored version token of each of these records (those without one are left out)."""
        cols = t.records.c
        out: dict[str, str] = {}
        ids = sorted(set(remote_ids))
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 900):
                rows = conn.execute(
                    sa.select(cols.remote_id, cols.version).where(
                        cols.connection == connection,
                        cols.stream == stream.value,
                        any_of(self.dialect, cols.remote_id, ids[i : i + 900]),
                    )
                )
                out.update({str(r): str(v) for r, v in rows if v})
        return out

    def customer_records(self, connection: str, stream: Stream, customer_id: str) -> list[Record]:
        """One customer's records of a stream (not the deleted ones), along ``ix_records_customer``."""
        cols = t.records.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(cols.data)
                .where(
                    cols.connection == connection,
                    cols.stream == stream.value,
                    cols.customer_remote_id == customer_id,
                    cols.deleted.is_(False),
                )
                .order_by(cols.remote_id)
            ).all()
        return [record_from_json_text(stream.value, data) for (data,) in rows]

    def iter_records(
        self,
        connection: str,
        stream: Stream,
        *,
        include_deleted: bool = False,
        order_by_customer: bool = False,
        batch: int = 2000,
    ) -> Iterator[Record]:
        """Stream stored records without holding them all in memory (keyset pagination).

        With ``order_by_customer``: records without a customer first, then by customer id and id.
        """
        cols = t.records.c
        q = sa.select(cols.customer_remote_id, cols.remote_id, cols.data).where(
            cols.connection == connection, cols.stream == stream.value
        )
        if not include_deleted:
            q = q.where(cols.deleted.is_(False))
        # Byte order on both databases, so callers can merge streams with Python's string order.
        rid: Any = cols.remote_id.collate("C") if self.dialect == "postgresql" else cols.remote_id
        if not order_by_customer:
            yield from self._keyset(q, stream, [rid], batch)
            return
        cust: Any = cols.customer_remote_id
        if self.dialect == "postgresql":
            cust = cust.collate("C")
        # Two plain keyset walks along ix_records_customer: ordering by an expression that folds in
        # the records without a customer would make the database sort the stream for every page.
        yield from self._keyset(q.where(cols.customer_remote_id.is_(None)), stream, [rid], batch)
        yield from self._keyset(q.where(cols.customer_remote_id.is_not(None)), stream, [cust, rid], batch)

    def _keyset(self, q: Any, stream: Stream, keys: list[Any], batch: int) -> Iterator[Record]:
        """Pages of ``q`` ordered by ``keys`` (the last of them ``remote_id``), each after the previous."""
        last: tuple[str, ...] | None = None
        while True:
            page = q
            if last is not None:
                after = (
                    sa.tuple_(*keys) > sa.tuple_(*(sa.literal(v) for v in last))
                    if len(keys) > 1
                    else keys[0] > last[0]
                )
                page = page.where(after)
            with self.engine.connect() as conn:
                rows = conn.execute(page.order_by(*keys).limit(batch)).all()
            if not rows:
                return
            for _customer, _rid, data in rows:
                yield record_from_json_text(stream.value, data)
            tail = rows[-1]
            last = (tail[0], tail[1]) if len(keys) > 1 else (tail[1],)

    def count_records(self, connection: str) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.records.c.stream, sa.func.count())
                .where(t.records.c.connection == connection, t.records.c.deleted.is_(False))
                .group_by(t.records.c.stream)
            ).all()
        return {str(s): int(n) for s, n in rows}

    def quarantined(self, connection: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        q = sa.select(t.quarantine).order_by(t.quarantine.c.id.desc()).limit(limit)
        if connection:
            q = q.where(t.quarantine.c.connection == connection)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def quarantine_count(self, connection: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(t.quarantine)
                    .where(t.quarantine.c.connection == connection)
                ).scalar_one()
            )

    # -- outbox ---------------------------------------------------------------------------------

    def enqueue(
        self,
        connection: str,
        ops: Iterable[Operation],
        *,
        run_id: str | None = None,
        depends_on: str | None = None,
        conn: Connection | None = None,
    ) -> list[str]:
        """Put operations in the outbox; an operation already there (same key) is not added again."""
        with self._tx(conn) as c:
            return [key for key, _ in self._enqueue(c, connection, ops, run_id, depends_on)]

    def _enqueue(
        self,
        conn: Connection,
        connection: str,
        ops: Iterable[Operation],
        run_id: str | None,
        depends_on: str | None,
    ) -> list[tuple[str, bool]]:
        """Insert each operation with its own statement; returns each key and whether it was new."""
        stamp = ts(now())
        parent_dropped = depends_on is not None and self._parent_dropped(conn, depends_on)
        out: list[tuple[str, bool]] = []
        stmt = self._insert(t.outbox).on_conflict_do_nothing(index_elements=["key"]).returning(t.outbox.c.key)
        for op in ops:
            key = idempotency_key(connection, op)
            row: dict[str, Any] = {
                "key": key,
                "connection": connection,
                "op_type": op.op_type.value,
                "target_type": op.target_type.value,
                "target_id": op.target_id,
                "payload": op.model_dump_json(),
                "depends_on": depends_on,
                "status": "pending",
                "attempts": 0,
                "conflicts": 0,
                "next_attempt_at": stamp,
                "created_at": stamp,
                "run_id": run_id,
            }
            if parent_dropped:
                # Nothing would ever release it: it is given up with the write it waits on, as
                # the rows already waiting were, instead of holding the queue's age up forever.
                row.update(
                    status="dropped",
                    finished_at=stamp,
                    error_kind="parent_dropped",
                    last_error=f"waited on {str(depends_on)[:16]}, which was dropped",
                )
            # RETURNING tells a new row from a conflict on every backend (psycopg's rowcount does not).
            out.append((key, conn.execute(stmt, row).first() is not None))
        return out

    def commit_decision(
        self,
        connection: str,
        decisions: Sequence[tuple[Operation, Operation | None]],
        *,
        rule: str,
        run_id: str | None = None,
        record: Callable[[Connection], object] | None = None,
    ) -> int:
        """Queue what one decision writes to the ERP, audit it and let the rule record it: one transaction.

        A decision that becomes several rows (a dunning action and the status of each of its
        invoices; a match verdict and its payment application) is either stored whole or not at
        all, so a process killed in between never leaves a decision that later cycles take as
        done while part of it never reached the outbox.

        Args:
            decisions: each operation with the one it must wait for (queued first), or None.
            record: writes the rule's own record of the decision on the same connection.

        Returns:
            How many operations were new to the outbox (the others were queued before).
        """
        [added] = self.commit_decisions(connection, [(decisions, record)], rule=rule, run_id=run_id)
        return added

    def commit_decisions(
        self,
        connection: str,
        groups: Sequence[
            tuple[Sequence[tuple[Operation, Operation | None]], Callable[[Connection], object] | None]
        ],
        *,
        rule: str,
        run_id: str | None = None,
    ) -> list[int]:
        """Store several decisions (each as ``commit_decision`` takes it) in one transaction.

        Each decision is still stored whole or not at all, since the batch is; a commit per batch
        instead of one per decision is what keeps a cycle of a thousand verdicts cheap. The outbox
        rows, their audit entries and the rules' records come in the decisions' order.

        Returns:
            For each decision, how many operations were new to the outbox.
        """
        counts: list[int] = []
        with self.engine.begin() as conn:
            if any(after is not None for decisions, _ in groups for _, after in decisions):
                # A chained operation is queued right after its parent: group by group, in order.
                for group in groups:
                    counts += self._store_decisions(conn, connection, [group], rule, run_id)
            else:
                counts = self._store_decisions(conn, connection, groups, rule, run_id)
        return counts

    def _store_decisions(
        self,
        conn: Connection,
        connection: str,
        groups: Sequence[
            tuple[Sequence[tuple[Operation, Operation | None]], Callable[[Connection], object] | None]
        ],
        rule: str,
        run_id: str | None,
    ) -> list[int]:
        """The decisions' rows on ``conn``: one lookup and one INSERT for all plain operations."""
        audits: list[AuditEntry] = []
        plain = [[op for op, after in decisions if after is None] for decisions, _ in groups]
        keys = [[idempotency_key(connection, op) for op in ops] for ops in plain]
        known = self._known_keys(conn, [k for ks in keys for k in ks])
        fresh: dict[str, Operation] = {}
        for ops, ks in zip(plain, keys, strict=True):
            for op, key in zip(ops, ks, strict=True):
                if key not in known:
                    fresh.setdefault(key, op)
        new = self._enqueue_many(conn, connection, [(op, key) for key, op in fresh.items()], run_id)
        counts: list[int] = []
        for (decisions, _), ops, ks in zip(groups, plain, keys, strict=True):
            chained: list[tuple[Operation, str, bool]] = []
            for op, key in zip(ops, ks, strict=True):
                # A key new to the outbox counts once: for the first decision that queued it.
                chained.append((op, key, key in new))
                new.discard(key)
            for op, after in decisions:
                if after is not None:
                    [(parent, _)] = self._enqueue(conn, connection, [after], run_id, None)
                    [(key, is_new)] = self._enqueue(conn, connection, [op], run_id, parent)
                    chained.append((op, key, is_new))
            added = 0
            for op, key, is_new in chained:
                if not is_new:
                    continue  # decided before (a re-run on the same state): the outbox already has it
                audits.append(
                    AuditEntry(
                        "decided",
                        connection,
                        run_id,
                        f"{op.target_type.value}/{op.target_id}",
                        {"rule": rule, "key": key, "op": op.model_dump(mode="json")},
                    )
                )
                added += 1
            counts.append(added)
        self.audit_many(conn, audits)
        for _, record in groups:
            if record is not None:
                record(conn)
        return counts

    def _known_keys(self, conn: Connection, keys: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for i in range(0, len(keys), 900):
            known = any_of(self.dialect, t.outbox.c.key, keys[i : i + 900])
            rows = conn.execute(sa.select(t.outbox.c.key).where(known))
            out.update(str(r[0]) for r in rows)
        return out

    def _enqueue_many(
        self, conn: Connection, connection: str, ops: Sequence[tuple[Operation, str]], run_id: str | None
    ) -> set[str]:
        """Insert operations without a parent, one row each (in their order); returns the keys added."""
        if not ops:
            return set()
        stamp = ts(now())
        rows = [
            {
                "key": key,
                "connection": connection,
                "op_type": op.op_type.value,
                "target_type": op.target_type.value,
                "target_id": op.target_id,
                "payload": op.model_dump_json(),
                "depends_on": None,
                "status": "pending",
                "attempts": 0,
                "conflicts": 0,
                "next_attempt_at": stamp,
                "created_at": stamp,
                "run_id": run_id,
            }
            for op, key in ops
        ]
        # Another process may have queued one of them since the lookup: it keeps its row.
        conn.execute(self._insert(t.outbox).on_conflict_do_nothing(index_elements=["key"]), rows)
        return {key for _, key in ops}

    def _parent_dropped(self, conn: Connection, key: str) -> bool:
        q = sa.select(t.outbox.c.status).where(t.outbox.c.key == key)
        if self.dialect == "postgresql":
            # A drop running now waits for this insert (and then sees the new child), or this
            # read waits for the drop and sees "dropped": a child cannot slip between the two.
            q = q.with_for_update(read=True)
        return conn.execute(q).scalar() == "dropped"

    def has_operation(self, key: str) -> bool:
        """Whether an operation with this idempotency key was ever queued."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(t.outbox.c.id).where(t.outbox.c.key == key)).first() is not None

    def claim(self, connection: str, limit: int, *, at: datetime | None = None) -> list[OutboxRow]:
        """The next rows due for sending, oldest first, marked ``sending`` before they leave.

        A row whose parent write is not done yet waits (a parked parent keeps it waiting).
        """
        stamp = ts(at or now())
        o = t.outbox
        parent = o.alias("parent")
        parent_done = (
            sa.select(parent.c.key).where(parent.c.key == o.c.depends_on, parent.c.status == "done").exists()
        )
        q = (
            sa.select(o)
            .where(
                o.c.connection == connection,
                o.c.status.in_(("pending", "sending")),
                o.c.next_attempt_at <= stamp,
                sa.or_(o.c.depends_on.is_(None), parent_done),
            )
            .order_by(o.c.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            q = q.with_for_update(skip_locked=True, of=o)
        with self.engine.begin() as conn:
            rows = conn.execute(q).all()
            if rows:
                conn.execute(
                    sa.update(o)
                    .where(o.c.id.in_([r.id for r in rows]))
                    .values(
                        status="sending",
                        attempts=o.c.attempts + 1,
                        sent_at=sa.func.coalesce(o.c.sent_at, stamp),
                    )
                )
        self._after_claims(len(rows))
        return [
            self._row(r, status="sending", sent_at=r.sent_at or stamp, maybe_sent=r.sent_at is not None)
            for r in rows
        ]

    def _after_claims(self, claimed: int) -> None:
        """Refresh PostgreSQL's statistics of the outbox while a long write-back empties it.

        Statistics taken when most rows were pending (right after a first run queued 200,000
        writes) make the planner read the rows due along the primary key, stepping over every row
        sent since: 0.1 s a claim after 40,000 sent, growing with each batch. With a tenth of the
        outbox moved since its analysis they are refreshed, and the claim reads ``ix_outbox_due``.
        """
        if self.dialect != "postgresql":
            return
        self._claimed += claimed
        if self._claimed >= _CLAIMED_BETWEEN_LOOKS:
            self._claimed = 0
            self.refresh_statistics(["outbox"])

    @staticmethod
    def _row(r: Any, **override: Any) -> OutboxRow:
        m = dict(r._mapping)
        m.update(override)
        payload_error = None
        try:
            payload = json.loads(m["payload"])
        except ValueError as exc:
            payload, payload_error = {}, f"the stored payload is not JSON ({exc})"
        return OutboxRow(
            id=m["id"],
            key=m["key"],
            connection=m["connection"],
            op_type=m["op_type"],
            target_type=m["target_type"],
            target_id=m["target_id"],
            payload=payload,
            depends_on=m["depends_on"],
            status=m["status"],
            attempts=m["attempts"] + (1 if override.get("status") == "sending" else 0),
            conflicts=m["conflicts"],
            sent_at=from_ts(m["sent_at"]),
            last_error=m["last_error"],
            error_kind=m["error_kind"],
            created_at=datetime.fromisoformat(m["created_at"]),
            maybe_sent=bool(m.get("maybe_sent", m["sent_at"] is not None)),
            payload_error=payload_error,
        )

    def mark_done(
        self,
        key: str,
        *,
        remote_id: str | None = None,
        version: str | None = None,
        conn: Connection | None = None,
    ) -> None:
        with self._tx(conn) as c:
            c.execute(
                sa.update(t.outbox)
                .where(t.outbox.c.key == key)
                .values(
                    status="done",
                    finished_at=ts(now()),
                    remote_id=remote_id,
                    remote_version=version,
                    last_error=None,
                )
            )

    def mark_done_many(self, conn: Connection, done: Sequence[tuple[str, str | None, str | None]]) -> None:
        """Mark rows done on the caller's transaction: ``(key, remote_id, version)`` each, one UPDATE."""
        if not done:
            return
        o = t.outbox
        conn.execute(
            sa.update(o)
            .where(o.c.key == sa.bindparam("done_key"))
            .values(
                status="done",
                finished_at=ts(now()),
                remote_id=sa.bindparam("done_remote_id"),
                remote_version=sa.bindparam("done_version"),
                last_error=None,
            ),
            [{"done_key": k, "done_remote_id": r, "done_version": v} for k, r, v in done],
        )

    def mark_retry(
        self, key: str, *, error: str, kind: str, delay: float, conn: Connection | None = None
    ) -> None:
        with self._tx(conn) as c:
            c.execute(
                sa.update(t.outbox)
                .where(t.outbox.c.key == key)
                .values(
                    status="pending",
                    last_error=error[:2000],
                    error_kind=kind,
                    next_attempt_at=ts(now() + timedelta(seconds=max(0.0, delay))),
                )
            )

    def mark_parked(self, key: str, *, error: str, kind: str, conn: Connection | None = None) -> None:
        with self._tx(conn) as c:
            c.execute(
                sa.update(t.outbox)
                .where(t.outbox.c.key == key)
                .values(status="parked", last_error=error[:2000], error_kind=kind, finished_at=ts(now()))
            )

    def rebase(self, key: str, op: Operation) -> None:
        """Replace a row's payload after a conflict; the content (and so the key) must not change."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(t.outbox.c.connection).where(t.outbox.c.key == key)).first()
            if row is None:
                raise StoreError(f"no outbox row {key}")
            if idempotency_key(row[0], op) != key:
                raise StoreError("a rebased operation must keep its content; enqueue a new one instead")
            conn.execute(
                sa.update(t.outbox)
                .where(t.outbox.c.key == key)
                .values(
                    payload=op.model_dump_json(),
                    status="pending",
                    conflicts=t.outbox.c.conflicts + 1,
                    next_attempt_at=ts(now()),
                )
            )

    def release(self, keys: Sequence[str], *, attempted: bool = True) -> None:
        """Give claimed rows back (shutdown before sending, a refused call).

        ``attempted=False``: the write was not tried at all (its look-up failed), so the attempt
        the claim counted is taken back.
        """
        if not keys:
            return
        values: dict[str, Any] = {"status": "pending"}
        if not attempted:
            values["attempts"] = sa.case((t.outbox.c.attempts > 0, t.outbox.c.attempts - 1), else_=0)
        with self.engine.begin() as conn:
            conn.execute(sa.update(t.outbox).where(t.outbox.c.key.in_(list(keys))).values(**values))

    def outbox_rows(
        self,
        connection: str | None = None,
        status: str | None = None,
        limit: int = 1000,
        *,
        newest_first: bool = False,
    ) -> list[OutboxRow]:
        order = t.outbox.c.id.desc() if newest_first else t.outbox.c.id
        q = sa.select(t.outbox).order_by(order).limit(limit)
        if connection:
            q = q.where(t.outbox.c.connection == connection)
        if status:
            q = q.where(t.outbox.c.status == status)
        with self.engine.connect() as conn:
            return [self._row(r) for r in conn.execute(q)]

    def outbox_find(self, key_prefix: str, limit: int = 10) -> list[OutboxRow]:
        """The outbox rows whose key starts with ``key_prefix`` (an admin types the first characters)."""
        q = (
            sa.select(t.outbox)
            .where(t.outbox.c.key.startswith(key_prefix.lower(), autoescape=True))
            .order_by(t.outbox.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [self._row(r) for r in conn.execute(q)]

    def outbox_statuses(self, keys: Iterable[str]) -> dict[str, str]:
        """The status of each of these outbox rows (missing keys are left out)."""
        wanted = sorted(set(keys))
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            # In chunks: a cycle may ask about 100k keys, beyond any driver's parameter limit.
            for i in range(0, len(wanted), 900):
                chunk = wanted[i : i + 900]
                rows = conn.execute(
                    sa.select(t.outbox.c.key, t.outbox.c.status).where(t.outbox.c.key.in_(chunk))
                ).all()
                out.update({str(k): str(s) for k, s in rows})
        return out

    def retry_parked(self, key: str, *, by: str, note: str = "") -> bool:
        """Put a parked write back in the queue, due now, after an admin fixed its cause in the ERP.

        The key and payload stay as they are, so the ERP sees the same idempotency key again, and
        ``sent_at`` is kept: a write that may have landed before it was parked is still looked up
        in the ERP before it is sent again. The attempts start over, or a write parked after its
        last retry would be parked again at the first hiccup. False when the row was not parked
        (anymore); the status condition in the UPDATE is what keeps a running daemon out of the way.
        """
        o = t.outbox
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(o).where(o.c.key == key)).first()
            moved = conn.execute(
                sa.update(o)
                .where(o.c.key == key, o.c.status == "parked")
                .values(status="pending", attempts=0, next_attempt_at=ts(now()), finished_at=None)
            ).rowcount
            if moved != 1 or row is None:
                return False
            self._audit(
                conn,
                "outbox_retried",
                row.connection,
                None,
                f"{row.target_type}/{row.target_id}",
                {"key": key, "op": row.op_type, "error": row.last_error, "by": by, "note": note},
            )
        return True

    def drop_parked(self, key: str, *, by: str, note: str) -> list[OutboxRow] | None:
        """Give up a parked write for good (status ``dropped``), with every write waiting on it.

        Returns the rows dropped along with it (children, their children, ...), or None when the
        row was not parked (anymore). A dropped row keeps its key, so the same decision made again
        by a later cycle finds it and is not queued a second time.
        """
        o = t.outbox
        stamp = ts(now())
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(o).where(o.c.key == key)).first()
            moved = conn.execute(
                sa.update(o)
                .where(o.c.key == key, o.c.status == "parked")
                .values(status="dropped", finished_at=stamp)
            ).rowcount
            if moved != 1 or row is None:
                return None
            dependents: list[OutboxRow] = []
            frontier = [key]
            while frontier:
                # A child can only be pending or parked here: none is claimed before its parent is done.
                children = conn.execute(
                    sa.select(o).where(o.c.depends_on.in_(frontier), o.c.status.in_(("pending", "parked")))
                ).all()
                if not children:
                    break
                conn.execute(
                    sa.update(o)
                    .where(o.c.id.in_([c.id for c in children]), o.c.status.in_(("pending", "parked")))
                    .values(status="dropped", finished_at=stamp)
                )
                dependents.extend(self._row(c, status="dropped") for c in children)
                frontier = [c.key for c in children]
            self._audit(
                conn,
                "outbox_dropped",
                row.connection,
                None,
                f"{row.target_type}/{row.target_id}",
                {
                    "key": key,
                    "op": row.op_type,
                    "error": row.last_error,
                    "dependents": [d.key for d in dependents],
                    "by": by,
                    "note": note,
                },
            )
        return dependents

    def outbox_stats(self, connection: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.outbox.c.status, sa.func.count(), sa.func.min(t.outbox.c.created_at))
                .where(t.outbox.c.connection == connection)
                .group_by(t.outbox.c.status)
            ).all()
        counts = {str(s): int(n) for s, n, _ in rows}
        oldest = min((c for s, _, c in rows if s in ("pending", "sending") and c), default=None)
        age = (now() - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0.0
        return {"counts": counts, "oldest_pending_age_s": round(age, 1)}

    def last_operations(
        self, connection: str, op_type: str, targets: Iterable[tuple[str, str]] | None = None
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The newest operation of a type per target not parked or dropped: what the ERP shows, or will.

        With ``targets`` (``(target type, id)`` pairs), only for those, read along
        ``ix_outbox_target``: what a rule deciding on a few customers compares its decisions with,
        without reading the history of the whole book.
        """
        o = t.outbox
        if targets is not None:
            return self._last_operations_of(connection, op_type, targets)
        newest = (
            sa.select(sa.func.max(o.c.id))
            .where(
                o.c.connection == connection,
                o.c.op_type == op_type,
                o.c.status.not_in(("parked", "dropped")),
            )
            .group_by(o.c.target_type, o.c.target_id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(o.c.target_type, o.c.target_id, o.c.payload).where(o.c.id.in_(newest))
            ).all()
        return {(str(a), str(b)): json.loads(p) for a, b, p in rows}

    def _last_operations_of(
        self, connection: str, op_type: str, targets: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        o = t.outbox
        by_type: dict[str, set[str]] = {}
        for kind, target_id in targets:
            by_type.setdefault(kind, set()).add(target_id)
        newest: dict[tuple[str, str], str] = {}
        with self.engine.connect() as conn:
            for kind, id_set in by_type.items():
                ids = sorted(id_set)
                for i in range(0, len(ids), 900):
                    rows = conn.execute(
                        sa.select(o.c.target_type, o.c.target_id, o.c.payload)
                        .where(
                            o.c.connection == connection,
                            o.c.target_type == kind,
                            any_of(self.dialect, o.c.target_id, ids[i : i + 900]),
                            o.c.op_type == op_type,
                            o.c.status.not_in(("parked", "dropped")),
                        )
                        .order_by(o.c.id)
                    )
                    # In queue order: the newest of each target is the one left.
                    newest.update({(str(a), str(b)): p for a, b, p in rows})
        return {k: json.loads(p) for k, p in newest.items()}

    # -- rules state ------------------------------------------------------------------------------

    def record_dunning_action(
        self,
        connection: str,
        *,
        key: str,
        customer_id: str,
        send_at: datetime,
        channel: str,
        level: int,
        payload: dict[str, Any],
        conn: Connection | None = None,
    ) -> bool:
        """Remember a planned communication (the planner's history); False if it was planned before.

        An action cancelled (its invoices changed) or expired before it was sent is planned again under
        the same key when the planner decides it once more: it never reached anyone, so its key is free.
        """
        action = PlannedDunningAction(key, customer_id, send_at, channel, level, payload)
        return bool(self.record_dunning_actions(connection, [action], conn=conn))

    def record_dunning_actions(
        self, connection: str, actions: Sequence[PlannedDunningAction], *, conn: Connection | None = None
    ) -> set[str]:
        """Remember planned communications as ``record_dunning_action`` does each, in a few statements.

        A first plan of a big book stores one action for most customers: one INSERT per thousand of
        them instead of one per action (a round trip each on PostgreSQL). Only the keys stored before
        as cancelled or expired actions (planned again) are then updated one by one.

        Returns:
            The keys stored anew or planned again (the others were planned before and still stand).
        """
        if not actions:
            return set()
        stamp = ts(now())
        rows = [
            {
                "key": a.key,
                "connection": connection,
                "customer_id": a.customer_id,
                "send_at": ts(a.send_at),
                "channel": a.channel,
                "level": a.level,
                "payload": json.dumps(a.payload, default=str),
                "status": "planned",
                "created_at": stamp,
                "changed_at": stamp,
            }
            for a in actions
        ]
        d = t.dunning_actions
        # RETURNING tells a new row from a conflict on every backend (psycopg's rowcount does not).
        insert = self._insert(d).on_conflict_do_nothing(index_elements=["key"]).returning(d.c.key)
        stored: set[str] = set()
        with self._tx(conn) as c:
            # An executemany with RETURNING: SQLAlchemy sends it as INSERTs of many rows each.
            stored.update(str(k) for k in c.execute(insert, rows).scalars())
            revive = (
                sa.update(d)
                .where(d.c.key == sa.bindparam("old_key"), d.c.status.in_(["cancelled", "expired"]))
                .values(
                    attempts=0,
                    next_attempt_at=None,
                    claimed_by=None,
                    claimed_at=None,
                    committed_at=None,
                    reference=None,
                    last_error=None,
                    sent_at=None,
                )
            )
            taken = [row["key"] for row in rows if row["key"] not in stored]
            free: set[str] = set()
            for i in range(0, len(taken), _SQLITE_CHUNK):
                chunk = taken[i : i + _SQLITE_CHUNK]
                gone = sa.select(d.c.key).where(
                    any_of(self.dialect, d.c.key, chunk), d.c.status.in_(["cancelled", "expired"])
                )
                free.update(str(k) for k in c.execute(gone).scalars())
            for row in rows:
                if row["key"] not in free:
                    continue
                fresh = {k: v for k, v in row.items() if k not in ("key", "connection")}
                if c.execute(revive.values(**fresh), {"old_key": row["key"]}).rowcount:
                    stored.add(row["key"])
        return stored

    def dunning_history(self, connection: str) -> Iterator[dict[str, Any]]:
        """Every communication planned so far for the connection, oldest first.

        Cancelled and expired ones are left out: they never reached the customer, so the planner
        plans their level again rather than escalating past a reminder nobody saw. Failed ones come
        with ``"outcome": "failed"``: the planner falls back from their channel and recipient.
        """
        d = t.dunning_actions
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(d.c.payload, d.c.status)
                .where(d.c.connection == connection, d.c.status.not_in(["cancelled", "expired"]))
                .order_by(d.c.send_at)
            ).all()
        for payload, status in rows:
            data = json.loads(payload)
            if status == "failed":
                data["outcome"] = "failed"
            yield data

    def dunning_counts(self, connection: str) -> dict[str, int]:
        """How many planned communications are in each sending state (see ``store.dunning``)."""
        d = t.dunning_actions
        with self.engine.connect() as conn:
            q = sa.select(d.c.status, sa.func.count()).where(d.c.connection == connection)
            rows = conn.execute(q.group_by(d.c.status)).all()
        return {str(s): int(n) for s, n in rows}

    def dunning_actions(self, connection: str, status: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(t.dunning_actions).where(t.dunning_actions.c.connection == connection)
        if status:
            q = q.where(t.dunning_actions.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q.order_by(t.dunning_actions.c.send_at))]

    def save_match_result(
        self,
        connection: str,
        payment_id: str,
        *,
        status: str,
        customer_id: str | None,
        confidence: float | None,
        rule: str | None,
        result: dict[str, Any],
        conn: Connection | None = None,
    ) -> None:
        """Store the matcher's latest verdict on a payment; a clerk's decision is never overwritten."""
        m = t.match_results
        with self._tx(conn) as c:
            existing = c.execute(
                sa.select(m.c.status).where(m.c.connection == connection, m.c.payment_id == payment_id)
            ).scalar()
            if existing in ("accepted", "rejected"):
                return
            self._upsert(
                c,
                m,
                {
                    "connection": connection,
                    "payment_id": payment_id,
                    "status": status,
                    "customer_id": customer_id,
                    "confidence": confidence,
                    "rule": rule,
                    "result": json.dumps(result, default=str),
                    "decided_at": ts(now()),
                },
                ["connection", "payment_id"],
                ["status", "customer_id", "confidence", "rule", "result", "decided_at"],
            )

    def save_match_results(
        self, connection: str, verdicts: Sequence[dict[str, Any]], *, conn: Connection | None = None
    ) -> None:
        """Store several verdicts as ``save_match_result`` does each (``payment_id``, ``status``,
        ``customer_id``, ``confidence``, ``rule``, ``result``): one look-up and one write for all."""
        m = t.match_results
        stamp = ts(now())
        rows = {v["payment_id"]: v for v in verdicts}  # the latest of a payment's verdicts
        with self._tx(conn) as c:
            ids = sorted(rows)
            for i in range(0, len(ids), 900):
                clerks = c.execute(
                    sa.select(m.c.payment_id).where(
                        m.c.connection == connection,
                        m.c.payment_id.in_(ids[i : i + 900]),
                        m.c.status.in_(["accepted", "rejected"]),
                    )
                )
                for (pid,) in clerks:
                    rows.pop(str(pid), None)  # a clerk's decision is never overwritten
            if not rows:
                return
            self._upsert(
                c,
                m,
                [
                    {
                        "connection": connection,
                        "payment_id": v["payment_id"],
                        "status": v["status"],
                        "customer_id": v["customer_id"],
                        "confidence": v["confidence"],
                        "rule": v["rule"],
                        "result": json.dumps(v["result"], default=str),
                        "decided_at": stamp,
                    }
                    for v in rows.values()
                ],
                ["connection", "payment_id"],
                ["status", "customer_id", "confidence", "rule", "result", "decided_at"],
            )

    def match_results(self, connection: str, status: str | None = None) -> list[dict[str, Any]]:
        """The matcher's verdicts (``auto``, ``review``, ``unmatched``, ``accepted``, ``rejected``)."""
        q = sa.select(t.match_results).where(t.match_results.c.connection == connection)
        if status:
            q = q.where(t.match_results.c.status == status)
        with self.engine.connect() as conn:
            return [
                {**dict(r._mapping), "result": json.loads(r.result)}
                for r in conn.execute(q.order_by(t.match_results.c.payment_id))
            ]

    # -- runs -----------------------------------------------------------------------------------

    def start_run(
        self, connection: str, kind: str = "sync", *, worker: str | None = None, job_id: int | None = None
    ) -> str:
        """Record a new run of the connection, unless a live process runs one (``ConnectionBusyError``).

        Runs left ``running`` by processes that are gone are closed as ``abandoned`` first. A run of
        the shared task queue (``job_id``) holds the connection's lock already, so what it finds
        running can only be left over from a worker that is gone.
        """
        run_id = uuid.uuid4().hex
        stamp = now()
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                # Two processes starting the same connection's cycle at once: one waits for the other.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(727276, hashtext(:c))"), {"c": connection})
            for r in self._running(conn, connection):
                if job_id is not None or runs_mod.process_gone(
                    r.id, r.worker, from_ts(r.heartbeat_at), stamp
                ):
                    self._abandon(conn, r.id, r.worker, stamp)
                    continue
                raise ConnectionBusyError(
                    f"connection {connection!r} is being synced by another process ({r.worker or 'unknown'}, "
                    f"run {r.id[:12]} since {r.started_at[:19]}); this cycle is skipped"
                )
            conn.execute(
                sa.insert(t.runs).values(
                    id=run_id,
                    connection=connection,
                    kind=kind,
                    started_at=ts(stamp),
                    status="running",
                    stats="{}",
                    worker=worker or runs_mod.this_process(),
                    job_id=job_id,
                    heartbeat_at=ts(stamp),
                )
            )
        return run_id

    @staticmethod
    def _running(conn: Connection, connection: str | None) -> list[Any]:
        q = sa.select(t.runs.c.id, t.runs.c.worker, t.runs.c.heartbeat_at, t.runs.c.started_at).where(
            t.runs.c.status == "running"
        )
        if connection is not None:
            q = q.where(t.runs.c.connection == connection)
        return list(conn.execute(q).all())

    @staticmethod
    def _abandon(conn: Connection, run_id: str, worker: str | None, stamp: datetime) -> None:
        conn.execute(
            sa.update(t.runs)
            .where(t.runs.c.id == run_id, t.runs.c.status == "running")
            .values(
                finished_at=ts(stamp),
                status="abandoned",
                error=f"the process that ran it ({worker or 'unknown'}) is gone",
            )
        )

    def heartbeat(self, run_id: str) -> None:
        """The run's process is still working on it."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(t.runs)
                .where(t.runs.c.id == run_id, t.runs.c.status == "running")
                .values(heartbeat_at=ts(now()))
            )

    def close_abandoned_runs(self, connection: str | None = None) -> int:
        """Store runs left ``running`` by processes that are gone as ``abandoned``; returns how many."""
        stamp = now()
        with self.engine.connect() as conn:
            candidates = self._running(conn, connection)
        gone = [
            r for r in candidates if runs_mod.process_gone(r.id, r.worker, from_ts(r.heartbeat_at), stamp)
        ]
        if gone:
            with self.engine.begin() as conn:
                for r in gone:
                    self._abandon(conn, r.id, r.worker, stamp)
        return len(gone)

    def abandon_runs(self, job_id: int, reason: str) -> int:
        """Close the runs a dead worker left ``running`` for a job; returns how many."""
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(t.runs)
                .where(t.runs.c.job_id == job_id, t.runs.c.status == "running")
                .values(finished_at=ts(now()), status="abandoned", error=reason[:2000])
            )
        return int(result.rowcount)

    def finish_run(self, run_id: str, status: str, stats: dict[str, Any], error: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(
                    finished_at=ts(now()), status=status, stats=json.dumps(stats, default=str), error=error
                )
            )

    def runs(self, connection: str | None = None, limit: int = 10) -> list[RunInfo]:
        """The newest runs; one left ``running`` by a process that is gone is stored and shown abandoned."""
        self.close_abandoned_runs(connection)
        q = sa.select(t.runs).order_by(t.runs.c.started_at.desc()).limit(limit)
        if connection:
            q = q.where(t.runs.c.connection == connection)
        with self.engine.connect() as conn:
            return [
                RunInfo(
                    id=r.id,
                    connection=r.connection,
                    kind=r.kind,
                    started_at=datetime.fromisoformat(r.started_at),
                    finished_at=from_ts(r.finished_at),
                    status=r.status,
                    stats=json.loads(r.stats),
                    error=r.error,
                    worker=r.worker,
                    job_id=r.job_id,
                )
                for r in conn.execute(q)
            ]

    # -- connection health ----------------------------------------------------------------------

    def connection_health(self, name: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.connections).where(t.connections.c.name == name)).first()
        if row is None:
            return {"name": name, "needs_reauth": False, "reauth_reason": None, "last_success_at": None}
        return dict(row._mapping)

    def set_needs_reauth(self, name: str, reason: str, *, conn: Connection | None = None) -> bool:
        """Flag the connection; True only the first time (so the alert is raised once).

        With ``conn`` it is part of the caller's transaction (the flag and its audit entry together).
        """
        with self._tx(conn) as c:
            row = c.execute(
                sa.select(t.connections.c.needs_reauth).where(t.connections.c.name == name)
            ).first()
            first = row is None or not row[0]
            self._upsert(
                c,
                t.connections,
                {
                    "name": name,
                    "needs_reauth": True,
                    "reauth_reason": reason[:2000],
                    "alerted_at": ts(now()),
                    "updated_at": ts(now()),
                },
                ["name"],
                ["needs_reauth", "reauth_reason", "updated_at"] + (["alerted_at"] if first else []),
            )
        return first

    def clear_needs_reauth(self, name: str, *, conn: Connection | None = None) -> None:
        with self._tx(conn) as c:
            c.execute(
                sa.update(t.connections)
                .where(t.connections.c.name == name)
                .values(needs_reauth=False, reauth_reason=None)
            )

    def mark_success(self, name: str) -> None:
        with self.engine.begin() as conn:
            self._upsert(
                conn,
                t.connections,
                {"name": name, "needs_reauth": False, "last_success_at": ts(now()), "updated_at": ts(now())},
                ["name"],
                ["last_success_at", "updated_at"],
            )

    def connector_state(self, connection: str) -> ConnectorStateStore:
        return ConnectorStateStore(self, connection)

    # -- audit log (append-only, hash-chained) --------------------------------------------------

    def audit(
        self,
        event: str,
        *,
        connection: str | None = None,
        run_id: str | None = None,
        subject: str | None = None,
        detail: dict[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> None:
        if conn is None:
            with self.engine.begin() as c:
                self._audit(c, event, connection, run_id, subject, detail or {})
        else:
            self._audit(conn, event, connection, run_id, subject, detail or {})

    def _audit(
        self,
        conn: Connection,
        event: str,
        connection: str | None,
        run_id: str | None,
        subject: str | None,
        detail: dict[str, Any],
    ) -> None:
        self.audit_many(conn, [AuditEntry(event, connection, run_id, subject, detail)])

    def audit_many(self, conn: Connection, entries: Sequence[AuditEntry]) -> None:
        """Append several entries, chained in order, on the caller's transaction (one INSERT)."""
        if not entries:
            return
        if self.dialect == "postgresql":
            # Serialise appends so two workers never chain onto the same predecessor.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(727274)"))
        prev = conn.execute(sa.select(t.audit_log.c.hash).order_by(t.audit_log.c.id.desc()).limit(1)).scalar()
        prev_hash = prev or GENESIS
        stamp = ts(now())
        rows = []
        for e in entries:
            body = json.dumps(e.detail, sort_keys=True, default=str)
            digest = audit_hash(prev_hash, stamp, e.connection, e.run_id, e.event, e.subject, body)
            rows.append(
                {
                    "at": stamp,
                    "connection": e.connection,
                    "run_id": e.run_id,
                    "event": e.event,
                    "subject": e.subject,
                    "detail": body,
                    "prev_hash": prev_hash,
                    "hash": digest,
                }
            )
            prev_hash = digest
        conn.execute(sa.insert(t.audit_log), rows)

    def audit_entries(self, connection: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        q = sa.select(t.audit_log).order_by(t.audit_log.c.id.desc()).limit(limit)
        if connection:
            q = q.where(t.audit_log.c.connection == connection)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def audit_head(self) -> AuditCheckpoint | None:
        """The newest audit entry as a checkpoint (``None`` while the log is empty).

        A checkpoint kept outside the store (the daemon logs one with every cycle) is what lets
        ``verify_audit`` notice that the newest entries were deleted, which the chain alone cannot.
        """
        a = t.audit_log
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(a.c.id, a.c.hash).order_by(a.c.id.desc()).limit(1)).first()
        return None if row is None else AuditCheckpoint(int(row[0]), str(row[1]))

    def verify_audit(self, checkpoints: Sequence[AuditCheckpoint] = ()) -> list[str]:
        """Walk the chain; return one message per broken link (empty: the log is intact).

        Args:
            checkpoints: heads recorded earlier outside the store; each row they name must still
                be there with the same hash.
        """
        problems: list[str] = []
        prev = GENESIS
        expected_id: int | None = None
        wanted = {c.row: c.hash for c in checkpoints}
        last_id = 0
        with self.engine.connect() as conn:
            for r in conn.execute(sa.select(t.audit_log).order_by(t.audit_log.c.id)):
                last_id = r.id
                if r.id in wanted and wanted[r.id] != r.hash:
                    problems.append(f"row {r.id}: differs from the checkpoint {r.id}:{wanted[r.id][:16]}…")
                if expected_id is not None and r.id != expected_id:
                    problems.append(f"rows {expected_id}..{r.id - 1} are missing (deleted)")
                if r.prev_hash != prev:
                    problems.append(
                        f"row {r.id}: does not follow the previous row "
                        "(a row before it was changed or deleted)"
                    )
                digest = audit_hash(r.prev_hash, r.at, r.connection, r.run_id, r.event, r.subject, r.detail)
                if digest != r.hash:
                    problems.append(
                        f"row {r.id}: content does not match its hash (changed after it was written)"
                    )
                prev = r.hash
                expected_id = r.id + 1
        beyond = [row for row in wanted if row > last_id]
        if beyond:
            problems.append(
                f"rows {last_id + 1}..{max(beyond)} are missing: the log ends at row {last_id} but a "
                f"checkpoint names row {max(beyond)} (the newest entries were deleted)"
            )
        return problems


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry to append to the audit log."""

    event: str
    connection: str | None
    run_id: str | None
    subject: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditCheckpoint:
    """An audit row and its hash, written ``ROW:HASH``: what an admin keeps outside the store."""

    row: int
    hash: str

    def __str__(self) -> str:
        return f"{self.row}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> AuditCheckpoint:
        """Read ``ROW:HASH`` (the hash as printed: 64 hex digits).

        Raises:
            ValueError: the text is not a checkpoint.
        """
        found = _CHECKPOINT.fullmatch(text.strip())
        if found is None:
            raise ValueError(f"expected ROW:HASH (a row number and 64 hex digits), not {text!r}")
        return cls(int(found[1]), found[2])

    @classmethod
    def find_all(cls, text: str) -> list[AuditCheckpoint]:
        """Every checkpoint written in ``text``, such as the daemon's log lines."""
        return [cls(int(m[1]), m[2]) for m in _CHECKPOINT.finditer(text)]


_CHECKPOINT = re.compile(r"\b(\d+):([0-9a-f]{64})\b")


def audit_hash(
    prev_hash: str,
    at: str,
    connection: str | None,
    run_id: str | None,
    event: str,
    subject: str | None,
    detail: str,
) -> str:
    blob = json.dumps([prev_hash, at, connection, run_id, event, subject, detail], separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
