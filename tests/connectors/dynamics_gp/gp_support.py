"""A fresh GP company per test: a schema of one shared PostgreSQL database, reached over real ODBC."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from tests.conftest import SPECS

GP_DATABASE = os.environ.get("ARBRIDGE_TEST_GP_DB", "arbridge_gp_tests")
SENTINEL_PASSWORD = "gp-sentinel-Pa55word-7f3e"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (.ci/run must provide it)")
    pytest.skip(reason)


def odbc_missing() -> str | None:
    """Why pyodbc cannot be used here (unixODBC's libodbc is not installed), or None."""
    try:
        import pyodbc  # noqa: F401
    except ImportError as exc:
        return f"pyodbc cannot load unixODBC ({exc}); install it: apt-get install unixodbc odbc-postgresql"
    return None


def ignore_without_odbc() -> list[str]:
    """For a conftest's ``collect_ignore_glob``: outside CI, a machine without unixODBC skips these tests."""
    reason = odbc_missing()
    if reason is None:
        return []
    if os.environ.get("CI"):
        raise RuntimeError(f"{reason} (.ci/run must install it)")
    import warnings

    warnings.warn(f"ODBC tests not collected: {reason}", stacklevel=2)
    return ["test_*.py"]


def new_sandbox(seed: str = "demo", **options: Any):  # type: ignore[no-untyped-def]
    """A GP company seeded with ``seed``, in a schema of its own; ``drop()`` it when done."""
    import pyodbc

    from sandboxes.dynamics_gp import GpSandbox, OdbcDriverMissing
    from sandboxes.specs import SpecsNotFound

    try:
        sandbox = GpSandbox(database=GP_DATABASE, schema=f"gp_{uuid.uuid4().hex[:12]}", specs=SPECS)
    except SpecsNotFound as exc:
        _unavailable(str(exc))
    except OdbcDriverMissing as exc:
        _unavailable(str(exc))
    try:
        sandbox.create(seed, **options)
    except pyodbc.OperationalError as exc:
        _unavailable(f"PostgreSQL is not reachable through ODBC: {exc}")
    return sandbox
