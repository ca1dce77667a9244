"""What the database says becomes the error family the engine acts on, for both drivers."""

from __future__ import annotations

import pyodbc
import pytest
from pydantic import SecretStr

from connectors.errors import ErrorKind
from connectors.odbc import Database, classify, with_password
from sandboxes.dynamics_gp import GpSandbox


@pytest.mark.parametrize(
    ("state", "text", "kind"),
    [
        # SQL Server's driver (texts as the Microsoft ODBC Driver reports them).
        (
            "28000",
            "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Login failed for user 'arbridge'.",
            "auth",
        ),
        (
            "08001",
            "[Microsoft][ODBC Driver 18 for SQL Server]TCP Provider: No connection could be made",
            "transient",
        ),
        ("08S01", "[Microsoft][ODBC Driver 18 for SQL Server]Communication link failure", "transient"),
        (
            "40001",
            "Transaction (Process ID 57) was deadlocked on lock resources and has been chosen as the victim",
            "transient",
        ),
        ("HYT00", "[Microsoft][ODBC Driver 18 for SQL Server]Query timeout expired", "transient"),
        ("42000", "The EXECUTE permission was denied on the object 'taRMApply'", "permanent"),
        ("42S02", "Invalid object name 'dbo.RM20101'.", "permanent"),
        ("23000", "Violation of PRIMARY KEY constraint 'PKRM20101'", "bad_record"),
        # PostgreSQL's driver reports every refused connection as 08001 with the server's words.
        ("08001", 'FATAL:  role "gp" is not permitted to log in', "auth"),
        ("08001", 'FATAL:  too many connections for role "gp"', "throttled"),
        ("08001", 'FATAL:  database "TWO" does not exist', "permanent"),
        ("08001", "Connection refused. Is the server running on that host", "transient"),
    ],
)
def test_driver_errors_are_sorted_into_the_families_the_engine_acts_on(
    state: str, text: str, kind: str
) -> None:
    error = classify(pyodbc.Error(state, text), "reading RM20101")
    assert error.kind is ErrorKind(kind)
    assert "reading RM20101" in str(error)


def test_a_password_in_the_drivers_words_is_blanked() -> None:
    error = classify(pyodbc.Error("08001", "login s3cret-pw failed"), "connecting", ["s3cret-pw"])
    assert "s3cret-pw" not in str(error)


def test_the_password_reaches_the_driver_braced_and_never_shows() -> None:
    text = with_password("DSN=GP;UID=arbridge", SecretStr("a;b}c"))
    assert text.endswith("PWD={a;b}}c}")
    assert "a;b" not in repr(Database("DSN=GP;UID=arbridge", SecretStr("a;b}c")))


def test_a_login_refused_by_the_real_server_is_an_auth_error(gp: GpSandbox, login: str) -> None:
    gp.refuse_logins(login)
    db = Database(gp.connection_string(user=login))
    with pytest.raises(Exception) as caught:
        db.query("SELECT 1", what="checking")
    assert getattr(caught.value, "kind", None) is ErrorKind.AUTH


def test_a_server_that_is_down_is_a_transient_error() -> None:
    from sandboxes.dynamics_gp import postgres_driver

    try:
        driver = postgres_driver()
    except Exception as exc:
        pytest.skip(str(exc))
    db = Database(f"DRIVER={{{driver}}};SERVER=127.0.0.1;PORT=9;DATABASE=x;UID=x", login_timeout=3)
    with pytest.raises(Exception) as caught:
        db.query("SELECT 1", what="checking")
    assert getattr(caught.value, "kind", None) is ErrorKind.TRANSIENT
