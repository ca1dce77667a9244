"""``arbridge sandbox sap-business-one --database …``: B1's tables beside the sandbox, for the fast read."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from tests.connectors.dynamics_gp.gp_support import odbc_missing

if odbc_missing() and not os.environ.get("CI"):
    pytest.skip(str(odbc_missing()), allow_module_level=True)

from sandboxes.sap_business_one import cli
from sandboxes.sap_business_one.cli import command
from tests.connectors.sap_business_one.test_b1_odbc_read import B1_DATABASE


def test_the_sandbox_prints_the_odbc_block_to_paste_and_removes_its_tables_when_stopped(
    specs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyodbc

    from sandboxes.sap_business_one.database import B1Database

    schema = f"b1cli_{uuid.uuid4().hex[:10]}"
    seen: dict[str, int] = {}

    class StopAtOnce:
        def wait(self) -> None:
            # While the sandbox runs, the tables are there and hold the company; then Ctrl-C.
            probe = B1Database(database=B1_DATABASE, schema=schema, specs=specs_dir)
            seen["invoices"] = probe.rows(f"SELECT COUNT(*) FROM {probe.t('OINV')}")[0][0]
            probe.close()
            raise KeyboardInterrupt

    monkeypatch.setattr(cli, "threading", SimpleNamespace(Event=StopAtOnce))
    try:
        result = CliRunner().invoke(
            command,
            [
                "--port", "0", "--specs", str(specs_dir), "--schema", schema,
                "--database", f"postgresql://postgres@127.0.0.1:5432/{B1_DATABASE}",
            ],
        )  # fmt: skip
    except pyodbc.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable through ODBC: {exc}")
    assert result.exit_code == 0, result.output
    assert "read_via: odbc" in result.output and f"schema: {schema}" in result.output
    assert 'connection_string: "DRIVER={PostgreSQL' in result.output
    assert seen["invoices"] == 15
    probe = B1Database(database=B1_DATABASE, schema=schema, specs=specs_dir)
    left = probe.rows("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", schema)
    probe.close()
    assert left[0][0] == 0
