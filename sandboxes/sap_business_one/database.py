"""B1's tables in PostgreSQL, filled from a sandbox company: the stand-in for the fast read over ODBC.

``B1Database`` lays out OCRD, OINV, ORIN, ORCT and RCT2 with the columns of SAP's mapping-info file
(``specs/sap-business-one/db-tables-…DERIVED.json``: every column of those tables the Service Layer
maps, with its OData type) and the user-defined fields the company has, then copies the company's
records into them the way B1 stores them: enum members as their codes (from SAP's v1 metadata,
``<Member Name="tYES" Value="Y"/>``), days as dates, the time of day as an integer HHMMSS
(``UpdateTS``). It is reached through pyodbc and the PostgreSQL ODBC driver, as the connector is.

How the stand-in differs from SQL Server's B1 tables: SAP's file gives OData types, not SQL ones,
so texts are ``varchar`` without B1's lengths, amounts ``numeric(19,6)``, dates ``timestamp``; two
columns the file lacks are added from B1's documented layout: ``PaidToDate`` of OINV/ORIN and
``DocNum`` of RCT2 (the payment's DocEntry).
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyodbc
from lxml import etree

from sandboxes.dynamics_gp.database import postgres_driver
from sandboxes.sap_business_one.company import Company
from sandboxes.sap_business_one.metadata import SAP_BUSINESS_ONE, TABLES_FILE
from sandboxes.specs import locate

__all__ = ["B1Database"]

V1_METADATA = "sap-business-one/metadata/v1-odata3/metadata.xml"
#: Table → (entity set, or None for payment lines) of the sandbox company.
SOURCES = {
    "OCRD": "BusinessPartners",
    "OINV": "Invoices",
    "ORIN": "CreditNotes",
    "ORCT": "IncomingPayments",
    "RCT2": None,
}
#: Columns B1 has and SAP's mapping file does not list (name → (property, OData type)).
ADDED = {
    "OINV": {"PaidToDate": ("PaidToDate", "Edm.Double")},
    "ORIN": {"PaidToDate": ("PaidToDate", "Edm.Double")},
    "RCT2": {"DocNum": ("", "Edm.Int32")},
}
#: Tables a user-defined field of one document header appears on (B1 adds it to every header).
UDF_TABLES = {"OCRD": ("OCRD",), "OINV": ("OINV", "ORIN"), "ORIN": ("OINV", "ORIN"), "ORCT": ("ORCT",)}
_PG = {
    "Edm.String": "varchar",
    "Edm.Int32": "integer",
    "Edm.Double": "numeric(19,6)",
    "Edm.DateTime": "timestamp(0)",
    "Edm.DateTimeOffset": "timestamp(0)",
    "Edm.Time": "integer",
}
_UDF_PG = {"db_Alpha": "varchar", "db_Memo": "text", "db_Numeric": "integer", "db_Date": "timestamp(0)"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@functools.lru_cache(maxsize=2)
def _vendor(specs: str | None) -> tuple[dict[str, dict[str, tuple[str, str]]], dict[str, dict[str, str]]]:
    """Per table its columns (column → (property, OData type)), and the enums (type → member → code)."""
    root = locate(SAP_BUSINESS_ONE, specs)
    tables: dict[str, dict[str, tuple[str, str]]] = {}
    for name, table in json.loads((root / TABLES_FILE).read_text(encoding="utf-8"))["tables"].items():
        if name not in SOURCES:
            continue
        columns: dict[str, tuple[str, str]] = {}
        for c in table["columnDetails"]:
            if c.get("userField") or c["column"] in columns:
                continue  # the source database's own UDFs; a column mapped twice keeps its first
            columns[c["column"]] = (c["slProperty"], c["edmType"])
        columns.update(ADDED.get(name, {}))
        tables[name] = columns
    doc = etree.parse(str(root / V1_METADATA), etree.XMLParser(resolve_entities=False, no_network=True))
    enums = {
        e.get("Name"): {m.get("Name"): m.get("Value") for m in e.iter("{*}Member")}
        for e in doc.iter("{*}EnumType")
    }
    return tables, enums


class B1Database:
    """One B1 company's tables in a schema of a PostgreSQL database.

    Args:
        host, port, user: the PostgreSQL server and an administrator login (trusted on loopback).
        database: the database (created when missing); schema: the company's schema.
        specs: the vendor specs folder (default: ``$ARBRIDGE_SPECS`` or ``../shared/specs``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 5432,
        user: str = "postgres",
        database: str = "arbridge_b1",
        schema: str = "dbo",
        specs: str | Path | None = None,
    ) -> None:
        for value in (database, schema):
            if not _NAME.match(value):
                raise ValueError(f"{value!r}: use letters, digits and _")
        self.host, self.port, self.user, self.database, self.schema = host, port, user, database, schema
        self.tables, self.enums = _vendor(None if specs is None else str(specs))
        self.driver = postgres_driver()
        self._admin: pyodbc.Connection | None = None
        self._lock = threading.RLock()
        self.logins: list[str] = []

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> B1Database:
        """From ``postgresql://user@host[:port]/database`` (the server trusts loopback logins)."""
        parts = urlsplit(url)
        if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
            raise ValueError(f"{url!r}: expected postgresql://user@host:port/database")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            database=(parts.path or "/arbridge_b1").lstrip("/") or "arbridge_b1",
            **kwargs,
        )

    def connection_string(self, *, user: str | None = None, database: str | None = None) -> str:
        return (
            f"DRIVER={{{self.driver}}};SERVER={self.host};PORT={self.port};"
            f"DATABASE={database or self.database};UID={user or self.user}"
        )

    def _connect(self, database: str | None = None) -> pyodbc.Connection:
        return pyodbc.connect(self.connection_string(database=database), autocommit=True, timeout=10)

    def execute(self, sql: str, *params: Any) -> Any:
        with self._lock:
            if self._admin is None:
                self._admin = self._connect()
            return self._admin.execute(sql, *params)

    def rows(self, sql: str, *params: Any) -> list[Any]:
        with self._lock:
            return list(self.execute(sql, *params).fetchall())

    def t(self, table: str) -> str:
        return f"{_quote(self.schema)}.{_quote(table)}"

    def _ensure_database(self) -> None:
        server = self._connect(database="postgres")
        try:
            if not server.execute("SELECT 1 FROM pg_database WHERE datname = ?", self.database).fetchone():
                try:
                    server.execute(f"CREATE DATABASE {_quote(self.database)}")
                except pyodbc.Error as exc:
                    if "already exists" not in str(exc):
                        raise
        finally:
            server.close()

    # -- laying out and filling --------------------------------------------------------------

    def _udf_columns(self, company: Company) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {t: {} for t in SOURCES}
        for udf in company.udfs:
            for table in UDF_TABLES.get(str(udf["TableName"]), ()):
                out[table][f"U_{udf['Name']}"] = _UDF_PG.get(str(udf.get("Type")), "varchar")
        return out

    def create(self, company: Company) -> None:
        """(Re)create the company's tables and copy ``company`` into them."""
        self._ensure_database()
        self.drop()
        self.execute(f"CREATE SCHEMA {_quote(self.schema)}")
        udfs = self._udf_columns(company)
        for table, columns in self.tables.items():
            parts = [f"{_quote(c)} {_PG.get(edm, 'varchar(20)')}" for c, (_, edm) in columns.items()]
            parts += [f"{_quote(c)} {kind}" for c, kind in udfs[table].items()]
            self.execute(f"CREATE TABLE {self.t(table)} ({', '.join(parts)})")
        self.load(company)

    def load(self, company: Company) -> None:
        """Replace the rows with the company's records as they are now."""
        udfs = self._udf_columns(company)
        with company.lock:
            for table, entity_set in SOURCES.items():
                self.execute(f"DELETE FROM {self.t(table)}")
                if entity_set is None:
                    records = [
                        {**line, "_payment": payment["DocEntry"]}
                        for payment in company.tables["IncomingPayments"].values()
                        for line in payment.get("PaymentInvoices") or []
                    ]
                else:
                    records = list(company.tables[entity_set].values())
                self._insert(table, records, udfs[table])
        self.execute(f"ANALYZE {self.t('OINV')}")

    def _insert(self, table: str, records: list[dict[str, Any]], udfs: dict[str, str]) -> None:
        columns = self.tables[table]
        used = [c for c, (prop, _) in columns.items() if any(prop in r for r in records)]
        if table == "RCT2":
            used.append("DocNum")
        used += [c for c in udfs if any(c in r for r in records)]
        if not records or not used:
            return
        rows = [[self._value(table, c, r) for c in used] for r in records]
        # Many rows per statement: psqlODBC sends an executemany row by row.
        per_statement = max(1, 20_000 // len(used))
        names = ", ".join(_quote(c) for c in used)
        one = f"({', '.join('?' for _ in used)})"
        with self._lock:
            for i in range(0, len(rows), per_statement):
                chunk = rows[i : i + per_statement]
                sql = f"INSERT INTO {self.t(table)} ({names}) VALUES {', '.join(one for _ in chunk)}"
                self.execute(sql, *[v for row in chunk for v in row])

    def _value(self, table: str, column: str, record: dict[str, Any]) -> Any:
        if table == "RCT2" and column == "DocNum":
            return record["_payment"]
        prop, edm = self.tables[table].get(column, (column, ""))
        value = record.get(prop)
        if value is None:
            return None
        if edm.startswith("SAPB1."):
            return self.enums.get(edm.removeprefix("SAPB1."), {}).get(str(value), str(value))
        if edm == "Edm.Time":
            hours, minutes, seconds = [*str(value).split(":"), "0", "0"][:3]
            return int(hours) * 10_000 + int(minutes) * 100 + int(seconds)
        if edm in ("Edm.DateTime", "Edm.DateTimeOffset") or (column.startswith("U_") and _is_day(value)):
            return date.fromisoformat(str(value)[:10])
        if edm == "Edm.Double":
            return Decimal(str(value))
        return value

    # -- logins ------------------------------------------------------------------------------

    def create_login(self) -> str:
        """A read-only login (SELECT on the company's tables), as an admin grants the fast read."""
        name = f"b1_read_{secrets.token_hex(4)}"
        self.execute(f"CREATE ROLE {_quote(name)} LOGIN")
        self.execute(f"GRANT USAGE ON SCHEMA {_quote(self.schema)} TO {_quote(name)}")
        self.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {_quote(self.schema)} TO {_quote(name)}")
        self.logins.append(name)
        return name

    def drop(self) -> None:
        for name in list(self.logins):
            self.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ?", name)
            self.execute(f"DROP OWNED BY {_quote(name)}")
            self.execute(f"DROP ROLE {_quote(name)}")
            self.logins.remove(name)
        self.execute(f"DROP SCHEMA IF EXISTS {_quote(self.schema)} CASCADE")

    def close(self) -> None:
        with self._lock:
            if self._admin is not None:
                self._admin.close()
                self._admin = None


def _is_day(value: Any) -> bool:
    return isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}", value) is not None
