"""``arbridge demo --erp dynamics-gp``: a full cycle against a GP company over ODBC, then an incremental."""

from __future__ import annotations

from pathlib import Path

import pyodbc
import pytest

from sandboxes.demo import run_demo
from sandboxes.demo.dynamics_gp import names_for
from tests.connectors.dynamics_gp.gp_support import new_sandbox


@pytest.fixture
def state_dir(tmp_path: Path):  # type: ignore[no-untyped-def]
    new_sandbox("empty").drop()  # skips or fails like the other tests when ODBC or PostgreSQL is missing
    folder = tmp_path / "demo"
    yield folder
    from sandboxes.dynamics_gp import postgres_driver

    database, login = names_for(folder)
    server = pyodbc.connect(
        f"DRIVER={{{postgres_driver()}}};SERVER=127.0.0.1;PORT=5432;DATABASE=postgres;UID=postgres",
        autocommit=True,
    )
    server.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    server.execute(f'DROP ROLE IF EXISTS "{login}"')
    server.close()


def test_the_demo_syncs_a_gp_company_writes_back_and_then_reads_only_what_changed(state_dir: Path) -> None:
    lines: list[str] = []

    assert run_demo(state_dir, erp_name="dynamics-gp", echo=lines.append) == 0
    first = "\n".join(lines)
    assert "Dynamics GP company in PostgreSQL database" in first
    assert "invoices         46 new" in first and "customers        10 new" in first
    assert "0 parked" in first and " ok" in first

    lines.clear()
    assert run_demo(state_dir, resume=True, erp_name="dynamics-gp", echo=lines.append) == 0
    second = "\n".join(lines)
    assert "Simulated ERP activity: customer" in second
    assert "payments          1 new" in second and "invoices          0 new      1 changed" in second
