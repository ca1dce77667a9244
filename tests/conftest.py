"""Fixtures shared by the whole suite: where the vendors' spec files are, and PostgreSQL databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# The memory and faulty connectors are test doubles, loaded only on request; child processes the
# tests start (daemons, kill targets) inherit the request.
os.environ.setdefault("ARBRIDGE_TEST_DOUBLES", "1")

ROOT = Path(__file__).resolve().parent.parent
SPECS = Path(os.environ.get("ARBRIDGE_SPECS", ROOT.parent / "shared" / "specs"))
PG_ADMIN_URL = os.environ.get("ARBRIDGE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    """The vendors' WSDL/XSD/EDMX files and response samples (read only, never copied into the repo)."""
    if not SPECS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"vendor spec files not found at {SPECS} (CI must have ../shared beside the repo)")
        pytest.skip(f"vendor spec files not found at {SPECS}; set ARBRIDGE_SPECS")
    return SPECS


def _pg_available() -> bool:
    try:
        import sqlalchemy as sa

        eng = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect():
            pass
        eng.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return _pg_available()


@pytest.fixture
def postgres_url(pg_available: bool) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if not pg_available:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}; .ci/run must start it")
        pytest.skip("PostgreSQL is not reachable")
    import sqlalchemy as sa

    name = f"arbridge_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store-backed test runs on both SQLite (the default) and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def other_store_url(store_url: str, tmp_path: Path) -> Iterator[str]:
    """A second empty store of the same kind as ``store_url``, for tests that compare two stores."""
    if store_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'other.sqlite'}"
        return
    import sqlalchemy as sa

    name = f"arbridge_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(autouse=True)
def _restore_arbridge_logging() -> Iterator[None]:
    """The CLI configures the ``arbridge`` loggers for a process; give each test the default back."""
    import logging

    yield
    logger = logging.getLogger("arbridge")
    logger.handlers[:] = []
    logger.propagate = True
    logger.setLevel(logging.NOTSET)
