"""A small toolkit for connectors that read an ERP's database over ODBC (pyodbc).

- ``dialect``: every SQL difference between SQL Server (production) and PostgreSQL (tests,
  sandboxes) in one place;
- ``connection``: connecting, one transaction per operation, driver errors classified;
- ``paging``: keyset paging over a table, positions that survive a restart;
- ``rows``: a connector's ``mapping.yaml`` compiled for flat rows.
"""

from connectors.odbc.connection import Database, classify, odbc_value, with_password
from connectors.odbc.dialect import DIALECTS, MSSQL, POSTGRESQL, Dialect, dialect_for_dbms
from connectors.odbc.paging import KeysetQuery, Position, dump_position, load_position, utc
from connectors.odbc.rows import OMIT, RowMapper

__all__ = [
    "DIALECTS",
    "MSSQL",
    "OMIT",
    "POSTGRESQL",
    "Database",
    "Dialect",
    "KeysetQuery",
    "Position",
    "RowMapper",
    "classify",
    "dialect_for_dbms",
    "dump_position",
    "load_position",
    "odbc_value",
    "utc",
    "with_password",
]
