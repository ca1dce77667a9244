"""A PostgreSQL database laid out as a Dynamics GP company, reached through a real ODBC driver.

``GpSandbox`` creates GP's Receivables tables (from the vendor file), the eConnect stand-ins and a
login for the connector, seeds a data set, and does to the company what GP's users do (post an
invoice, apply a payment, void a document, move paid documents to history), for tests and demos.
It talks to the server through pyodbc and the PostgreSQL ODBC driver, as the connector does.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyodbc

from sandboxes.dynamics_gp.ddl import blank, create_table_sql, quote
from sandboxes.dynamics_gp.procedures import LEDGER, procedure_sql
from sandboxes.dynamics_gp.vendor import VendorSchema, load

__all__ = ["GpSandbox", "OdbcDriverMissing", "postgres_driver"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class OdbcDriverMissing(RuntimeError):
    """No PostgreSQL ODBC driver is registered with unixODBC."""


def postgres_driver() -> str:
    """The name of the installed PostgreSQL ODBC driver (Unicode preferred).

    Raises:
        OdbcDriverMissing: with what to install.
    """
    drivers = pyodbc.drivers()
    for wanted in ("PostgreSQL Unicode", "PostgreSQL ANSI"):
        if wanted in drivers:
            return wanted
    for name in drivers:
        if "postgres" in name.lower():
            return name
    raise OdbcDriverMissing(
        "no PostgreSQL ODBC driver is registered (odbcinst -q -d lists "
        f"{drivers or 'none'}); install unixODBC and the driver: apt-get install unixodbc odbc-postgresql"
    )


def _check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"{what} {name!r}: use letters, digits and _ (at most 63)")
    return name


class GpSandbox:
    """One GP company: a schema (``dbo`` by default) of a PostgreSQL database.

    Args:
        host, port, user, password: the PostgreSQL server and an administrator login.
        database: the database holding the company (created by ``create`` when missing).
        schema: the schema of GP's tables and procedures.
        dsn: an ODBC data source to use instead of host/port/database (the database must exist).
        specs: the vendor specs folder (default: ``$ARBRIDGE_SPECS`` or ``../shared/specs``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 5432,
        user: str = "postgres",
        password: str | None = None,
        database: str = "arbridge_gp",
        schema: str = "dbo",
        dsn: str | None = None,
        specs: str | Path | None = None,
    ) -> None:
        self.host, self.port, self.user, self.password = host, port, user, password
        self.database = _check_name(database, "database")
        self.schema = _check_name(schema, "schema")
        self.dsn = dsn
        self.vendor: VendorSchema = load(specs)
        self.driver = None if dsn else postgres_driver()
        self._admin: pyodbc.Connection | None = None
        self._lock = threading.RLock()
        self.logins: list[str] = []

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> GpSandbox:
        """From ``postgresql://user[:password]@host[:port]/database``."""
        parts = urlsplit(url)
        if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
            raise ValueError(f"{url!r}: expected postgresql://user@host:port/database")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password) if parts.password else None,
            database=(parts.path or "/arbridge_gp").lstrip("/") or "arbridge_gp",
            **kwargs,
        )

    # -- connections -------------------------------------------------------------------------

    def connection_string(self, *, user: str | None = None, database: str | None = None) -> str:
        """An ODBC connection string to the company (without a password)."""
        if self.dsn:
            return f"DSN={self.dsn}" + (f";UID={user}" if user else "")
        return (
            f"DRIVER={{{self.driver}}};SERVER={self.host};PORT={self.port};"
            f"DATABASE={database or self.database};UID={user or self.user}"
        )

    def _connect(self, database: str | None = None) -> pyodbc.Connection:
        text = self.connection_string(database=database)
        if self.password:
            text += ";PWD={" + self.password.replace("}", "}}") + "}"
        if self.dsn and self.user and "UID=" not in text:
            text += f";UID={self.user}"
        return pyodbc.connect(text, autocommit=True, timeout=10)

    def admin(self) -> pyodbc.Connection:
        """The administrator's connection (autocommit) to the company's database."""
        with self._lock:
            if self._admin is None:
                self._admin = self._connect()
            return self._admin

    def execute(self, sql: str, *params: Any) -> pyodbc.Cursor:
        with self._lock:
            return self.admin().execute(sql, *params)

    def rows(self, sql: str, *params: Any) -> list[pyodbc.Row]:
        with self._lock:
            return self.admin().execute(sql, *params).fetchall()

    def close(self) -> None:
        with self._lock:
            if self._admin is not None:
                self._admin.close()
                self._admin = None

    def t(self, table: str) -> str:
        """A table or procedure of the company, qualified and quoted."""
        return f"{quote(self.schema)}.{quote(table)}"

    # -- creating ----------------------------------------------------------------------------

    def ensure_database(self) -> None:
        """Create the database when it does not exist (not with a DSN: the DSN names an existing one)."""
        if self.dsn:
            return
        server = self._connect(database="postgres")
        try:
            found = server.execute("SELECT 1 FROM pg_database WHERE datname = ?", self.database).fetchone()
            if not found:
                try:
                    server.execute(f"CREATE DATABASE {quote(self.database)}")
                except pyodbc.Error as exc:
                    if "already exists" not in str(exc):  # created by another process meanwhile
                        raise
        finally:
            server.close()

    def create(self, seed: str = "demo", **seed_options: Any) -> None:
        """(Re)create the company: tables, eConnect stand-ins, a data set (``demo``, ``empty``, ``large``)."""
        from sandboxes.dynamics_gp.seed import SEEDS

        if seed not in SEEDS:
            raise ValueError(f"unknown seed {seed!r} (known: {', '.join(SEEDS)})")
        self.ensure_database()
        dbms = str(self.admin().getinfo(pyodbc.SQL_DBMS_NAME))
        if "postgres" not in dbms.lower():
            raise ValueError(f"the sandbox builds its stand-in on PostgreSQL; the data source is {dbms}")
        self.drop()
        self.execute(f"CREATE SCHEMA {quote(self.schema)}")
        for table in self.vendor.tables.values():
            for statement in create_table_sql(self.schema, table):
                self.execute(statement)
        for statement in procedure_sql(self.schema, self.vendor):
            self.execute(statement)
        SEEDS[seed](self, **seed_options)
        self.execute(f"ANALYZE {quote(self.schema)}.{quote('RM20101')}")

    def drop(self) -> None:
        """Remove the company's schema and the logins created for it."""
        for login in list(self.logins):
            self.drop_login(login)
        self.execute(f"DROP SCHEMA IF EXISTS {quote(self.schema)} CASCADE")

    def create_login(self, name: str | None = None) -> str:
        """A login for the connector (not a superuser): read the tables, execute the procedures.

        As GP's DYNGRP role does on SQL Server: the procedures write with their owner's rights.
        """
        name = _check_name(name or f"gp_{secrets.token_hex(5)}", "login")
        self.execute(f"DROP ROLE IF EXISTS {quote(name)}")
        self.execute(f"CREATE ROLE {quote(name)} LOGIN")
        self.execute(f"GRANT USAGE ON SCHEMA {quote(self.schema)} TO {quote(name)}")
        self.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {quote(self.schema)} TO {quote(name)}")
        self.execute(f"GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA {quote(self.schema)} TO {quote(name)}")
        self.logins.append(name)
        return name

    def drop_login(self, name: str) -> None:
        self.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ?", name)
        exists = self.rows("SELECT 1 FROM pg_roles WHERE rolname = ?", name)
        if exists:
            self.execute(f"DROP OWNED BY {quote(name)}")
            self.execute(f"DROP ROLE {quote(name)}")
        if name in self.logins:
            self.logins.remove(name)

    # -- what GP's users do ----------------------------------------------------------------------

    def insert(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert rows as GP writes them: every column, blank where a row gives no value."""
        spec = self.vendor.tables[table]
        columns = [c for c in spec.columns if not c.identity]
        names = ", ".join(quote(c.name) for c in columns)
        marks = ", ".join("?" for _ in columns)
        ts_index = next((i for i, c in enumerate(columns) if c.name == "DEX_ROW_TS"), None)
        batch = []
        for row in rows:
            unknown = set(row) - {c.name for c in columns}
            if unknown:
                raise KeyError(f"{table} has no columns {sorted(unknown)}")
            values = [row.get(c.name, blank(c)) for c in columns]
            if ts_index is not None and row.get("DEX_ROW_TS") is None:
                values[ts_index] = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
            batch.append(values)
        if not batch:
            return 0
        with self._lock:
            cursor = self.admin().cursor()
            cursor.executemany(f"INSERT INTO {self.t(table)} ({names}) VALUES ({marks})", batch)
            cursor.close()
        return len(batch)

    def econnect(self, procedure: str, **arguments: Any) -> tuple[int, str]:
        """Call an eConnect stand-in as an integration would; returns (error state, error numbers)."""
        names = list(arguments)
        args = ", ".join(f"{quote(n)} => ?" for n in names)
        row = self.rows(
            f"CALL {self.t(procedure)}({args}{', ' if args else ''}"
            '"O_iErrorState" => NULL, "oErrString" => NULL)',
            *[arguments[n] for n in names],
        )[0]
        return int(row[0]), str(row[1] or "")

    def post_payment(
        self,
        customer: str,
        number: str,
        amount: Decimal,
        on: date,
        applies: Sequence[tuple[int, str, Decimal]] = (),
        *,
        key: str | None = None,
    ) -> None:
        """A cash receipt entered and applied in GP, in one transaction (raises on a refusal)."""
        with self._lock:
            conn = self._connect()
            conn.autocommit = False
            try:
                cursor = conn.cursor()
                calls: list[tuple[str, dict[str, Any]]] = [
                    (
                        "taRMCashReceiptInsert",
                        {
                            "I_vCUSTNMBR": customer,
                            "I_vDOCNUMBR": number,
                            "I_vDOCDATE": datetime.combine(on, datetime.min.time()),
                            "I_vORTRXAMT": amount,
                            "I_vGLPOSTDT": datetime.combine(on, datetime.min.time()),
                            "I_vBACHNUMB": "CASHRCPT",
                            "I_vCSHRCTYP": 0,
                            "I_vUSRDEFND4": key or "",
                        },
                    )
                ]
                for doc_type, doc_number, applied in applies:
                    calls.append(
                        (
                            "taRMApply",
                            {
                                "I_vAPTODCNM": doc_number,
                                "I_vAPFRDCNM": number,
                                "I_vAPPTOAMT": applied,
                                "I_vAPFRDCTY": 9,
                                "I_vAPTODCTY": doc_type,
                                "I_vAPPLYDATE": datetime.combine(on, datetime.min.time()),
                                "I_vUSRDEFND4": key or "",
                            },
                        )
                    )
                for procedure, arguments in calls:
                    names = list(arguments)
                    args = ", ".join(f"{quote(n)} => ?" for n in names)
                    cursor.execute(
                        f'CALL {self.t(procedure)}({args}, "O_iErrorState" => NULL, "oErrString" => NULL)',
                        *[arguments[n] for n in names],
                    )
                    state, codes = cursor.fetchone()
                    if state:
                        raise ValueError(f"{procedure} refused {number}: error {codes}")
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                conn.close()

    def void(self, doc_type: int, number: str) -> None:
        """Void a posted document as GP does: it leaves the open table for history, marked voided."""
        self._to_history(doc_type, number, voided=True)

    def move_to_history(self, doc_type: int, number: str) -> None:
        """Paid Transaction Removal for one fully applied document (and its applications)."""
        self._to_history(doc_type, number, voided=False)

    def _to_history(self, doc_type: int, number: str, *, voided: bool) -> None:
        open_, hist = self.vendor.tables["RM20101"], self.vendor.tables["RM30101"]
        shared = [
            c.name
            for c in hist.columns
            if c.name in open_.names and not c.identity and c.name != "DEX_ROW_TS"
        ]
        cols = ", ".join(quote(c) for c in shared)
        extra = [
            c for c in hist.columns if c.name not in shared and not c.identity and c.name != "DEX_ROW_TS"
        ]
        extra_cols = "".join(f", {quote(c.name)}" for c in extra)
        extra_vals = "".join(f", {self._literal(blank(c), c.base)}" for c in extra)
        where = '"RMDTYPAL" = ? AND "DOCNUMBR" = ?'
        conn = self._connect()
        conn.autocommit = False
        try:
            cur = conn.cursor()
            found = cur.execute(
                f"SELECT COUNT(*) FROM {self.t('RM20101')} WHERE {where}", doc_type, number
            ).fetchone()
            if not found or not found[0]:
                raise KeyError(f"no open document {doc_type}:{number}")
            cur.execute(
                f"INSERT INTO {self.t('RM30101')} ({cols}{extra_cols}) SELECT {cols}{extra_vals} "
                f"FROM {self.t('RM20101')} WHERE {where}",
                doc_type,
                number,
            )
            if voided:
                cur.execute(
                    f'UPDATE {self.t("RM30101")} SET "VOIDSTTS" = 1, "VOIDDATE" = CAST(now() AS date), '
                    f'"CURTRXAM" = 0 WHERE {where}',
                    doc_type,
                    number,
                )
            cur.execute(f"DELETE FROM {self.t('RM20101')} WHERE {where}", doc_type, number)
            if not voided:
                self._applies_to_history(cur, doc_type, number)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def _applies_to_history(self, cur: pyodbc.Cursor, doc_type: int, number: str) -> None:
        open_, hist = self.vendor.tables["RM20201"], self.vendor.tables["RM30201"]
        shared = [c.name for c in hist.columns if c.name in open_.names and not c.identity]
        cols = ", ".join(quote(c) for c in shared)
        where = '("APFRDCTY" = ? AND "APFRDCNM" = ?) OR ("APTODCTY" = ? AND "APTODCNM" = ?)'
        args = (doc_type, number, doc_type, number)
        cur.execute(
            f"INSERT INTO {self.t('RM30201')} ({cols}) SELECT {cols} FROM {self.t('RM20201')} WHERE {where}",
            *args,
        )
        cur.execute(f"DELETE FROM {self.t('RM20201')} WHERE {where}", *args)

    @staticmethod
    def _literal(value: Any, base: str) -> str:
        if isinstance(value, str):
            return f"TIMESTAMP '{value}'" if base == "datetime" else f"'{value}'"
        return str(value)

    # -- what the sandbox keeps -------------------------------------------------------------------

    def calls(self, key: str, procedure: str | None = None) -> int:
        """How many eConnect calls carrying outbox key ``key`` were committed."""
        sql = f"SELECT COUNT(*) FROM {self.t(LEDGER)} WHERE outbox_key = ?"
        params: list[Any] = [key]
        if procedure:
            sql += " AND proc = ?"
            params.append(procedure)
        return int(self.rows(sql, *params)[0][0])

    def ids(self, table: str, where: str = "", *params: Any) -> list[tuple[Any, ...]]:
        pk = self.vendor.tables[table].primary_key
        sql = f"SELECT {', '.join(quote(c) for c in pk)} FROM {self.t(table)}"
        if where:
            sql += f" WHERE {where}"
        return [
            tuple(v.rstrip() if isinstance(v, str) else v for v in row) for row in self.rows(sql, *params)
        ]

    def refuse_logins(self, login: str) -> None:
        """The server refuses the login from now on (as a disabled SQL login is)."""
        self.execute(f"ALTER ROLE {quote(login)} NOLOGIN")
        self.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ?", login)

    def slow_econnect(self, login: str, seconds: float) -> None:
        """Every eConnect call of the login's new sessions takes ``seconds`` longer (a busy server)."""
        self.execute(f"ALTER ROLE {quote(login)} SET \"arbridge.econnect_delay\" = '{float(seconds)}'")

    def activity(self, login: str) -> list[tuple[str, str]]:
        """(state, current or last statement) of the login's sessions, as the server sees them now."""
        rows = self.rows("SELECT state, query FROM pg_stat_activity WHERE usename = ?", login)
        return [(str(state or ""), str(query or "")) for state, query in rows]

    def limit_connections(self, login: str, limit: int) -> None:
        """At most ``limit`` connections for the login (0: every new one is refused as the server is full)."""
        self.execute(f"ALTER ROLE {quote(login)} CONNECTION LIMIT {int(limit)}")
        if limit == 0:
            self.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ?", login)
