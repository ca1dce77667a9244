"""Connecting through pyodbc, one transaction at a time, with every driver error classified.

The connection string comes from the admin (a DSN, or a driver and server); the password is a
separate ``SecretStr`` added here, so it never sits in a setting that is shown. pyodbc errors carry
an SQLSTATE and the driver's text: ``classify`` sorts them into the connector error families in
one place, for SQL Server's driver and PostgreSQL's (psqlodbc reports every refused connection as
``08001`` with the server's message, so connection refusals are told apart by that message).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from typing import Any

import pyodbc
from pydantic import SecretStr

from connectors.errors import (
    AuthError,
    BadRecordError,
    ConnectorError,
    PermanentError,
    ThrottledError,
    TransientError,
)
from connectors.odbc.dialect import DIALECTS, Dialect, dialect_for_dbms

__all__ = ["Database", "classify", "odbc_value", "with_password"]

log = logging.getLogger("arbridge.connector.odbc")

# Refusals at connect time, by the server's words (psqlodbc: 08001 for all; SQL Server: 28000 and 08001).
_AUTH = re.compile(
    r"password authentication failed|not permitted to log in|role \".*\" does not exist|"
    r"no pg_hba\.conf entry|Login failed for user|28000|28P01",
    re.IGNORECASE,
)
_BUSY = re.compile(
    r"too many connections|remaining connection slots are reserved|"
    r"maximum number of .*user connections|53300",
    re.IGNORECASE,
)
_NO_DATABASE = re.compile(r"database \".*\" does not exist|Cannot open database", re.IGNORECASE)
_PWD = re.compile(r"(PWD|PASSWORD)\s*=\s*(\{(?:[^}]|\}\})*\}|[^;]*)", re.IGNORECASE)


def odbc_value(value: str) -> str:
    """A value for an ODBC connection string, braced so ``;`` and ``}`` in it are kept."""
    return "{" + value.replace("}", "}}") + "}"


def with_password(connection_string: str, password: SecretStr | None) -> str:
    """The connection string with ``PWD`` appended (the admin's string must not carry one)."""
    base = connection_string.strip().rstrip(";")
    if password is None:
        return base
    return f"{base};PWD={odbc_value(password.get_secret_value())}"


def mask(connection_string: str) -> str:
    """The connection string with any password blanked, for messages."""
    return _PWD.sub(lambda m: f"{m.group(1)}=***", connection_string)


def classify(exc: BaseException, what: str, secrets: Sequence[str] = ()) -> ConnectorError:
    """The connector error for a pyodbc error (or another failure reaching the database).

    Args:
        exc: what pyodbc raised.
        what: what was being done, for the message ("reading RM20101").
        secrets: values to blank out of the driver's text.
    """
    state, text = _state_and_text(exc)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    message = f"{what}: {' '.join(text.split())[:500]}"
    code = state or None
    if state.startswith("28") or (state == "08001" and _AUTH.search(text)):
        return AuthError(f"{message} (check the login and its password)", erp_code=code)
    if state.startswith("53") or _BUSY.search(text):
        return ThrottledError(message, erp_code=code)
    if state == "08001" and _NO_DATABASE.search(text):
        return PermanentError(f"{message} (check the database in the connection string)", erp_code=code)
    if state.startswith("08") or state in ("HYT00", "HYT01", "40001", "40P01", "57P01", "57014", "55P03"):
        return TransientError(message, erp_code=code)
    if state in ("42501", "42000") and re.search(r"permission|denied", text, re.IGNORECASE):
        return PermanentError(f"permission denied: {message}", erp_code=code)
    if state.startswith(("22", "23")):
        return BadRecordError(message, erp_code=code)
    if state.startswith(("42", "IM", "HY")):
        return PermanentError(message, erp_code=code)
    return TransientError(message, erp_code=code)


def _state_and_text(exc: BaseException) -> tuple[str, str]:
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    if isinstance(exc, pyodbc.Error) and len(args) >= 2:
        return str(args[0]), str(args[1])
    return "", str(exc)


class Database:
    """One ODBC connection to a company database, opened when first needed, one transaction at a time.

    Reads run in short read-only transactions (committed at once, so no lock outlives a page);
    ``transaction()`` wraps one write operation: committed when the block ends, rolled back on
    any error, so a process killed in the middle leaves nothing behind.
    """

    def __init__(
        self,
        connection_string: str,
        password: SecretStr | None = None,
        *,
        dialect: str = "auto",
        login_timeout: int = 15,
        query_timeout: int = 300,
        guard: Callable[[], AbstractContextManager[Any]] | None = None,
    ) -> None:
        self._connection_string = with_password(connection_string, password)
        self._secrets = [password.get_secret_value()] if password is not None else []
        self._dialect_setting = dialect
        self._dialect: Dialect | None = None if dialect == "auto" else DIALECTS[dialect]
        self.login_timeout = login_timeout
        self.query_timeout = query_timeout
        self._conn: pyodbc.Connection | None = None
        self._lock = threading.RLock()
        # Taken around every transaction: the connector's rate limiter, when it declares one.
        self._guard = guard or nullcontext

    def __repr__(self) -> str:
        return f"<Database {mask(self._connection_string)!r}>"

    @property
    def secrets(self) -> list[str]:
        return list(self._secrets)

    @property
    def dialect(self) -> Dialect:
        """The server's dialect (asks the driver on first use when the setting is ``auto``)."""
        if self._dialect is None:
            conn = self.connection()
            self._dialect = dialect_for_dbms(str(conn.getinfo(pyodbc.SQL_DBMS_NAME)))
        return self._dialect

    def connection(self) -> pyodbc.Connection:
        """The open connection (autocommit off), connecting when there is none."""
        with self._lock:
            if self._conn is None:
                try:
                    conn = pyodbc.connect(
                        self._connection_string, autocommit=False, timeout=self.login_timeout
                    )
                except pyodbc.Error as exc:
                    raise classify(exc, "connecting to the database", self._secrets) from None
                try:
                    conn.timeout = self.query_timeout
                except pyodbc.Error:
                    # psqlodbc has no connection-wide query timeout; SQL Server's driver does.
                    log.debug("the ODBC driver takes no query timeout; statements run without one")
                self._conn = conn
            return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with suppress(pyodbc.Error):
                    self._conn.close()
                self._conn = None

    def _broken(self) -> None:
        """Forget a connection after an error that may have left it unusable."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.rollback()
                conn.close()
            except pyodbc.Error:
                pass

    @contextmanager
    def transaction(self, what: str) -> Iterator[pyodbc.Cursor]:
        """A cursor inside one transaction: committed at the end, rolled back on any error.

        Driver errors leave as classified ``ConnectorError``s naming ``what``.
        """
        with self._guard(), self._lock:
            conn = self.connection()
            cursor = conn.cursor()
            try:
                yield cursor
                conn.commit()
            except pyodbc.Error as exc:
                error = classify(exc, what, self._secrets)
                self._broken()
                raise error from None
            except BaseException:
                try:
                    conn.rollback()
                except pyodbc.Error:
                    self._broken()
                raise
            finally:
                with suppress(pyodbc.Error):
                    cursor.close()

    def query(self, sql: str, params: Sequence[Any] = (), *, what: str) -> list[pyodbc.Row]:
        """All rows of one query, in a short transaction of its own."""
        with self.transaction(what) as cursor:
            cursor.execute(sql, *params) if params else cursor.execute(sql)
            return cursor.fetchall()

    def scalar(self, sql: str, params: Sequence[Any] = (), *, what: str) -> Any:
        rows = self.query(sql, params, what=what)
        return rows[0][0] if rows else None
