"""``arbridge demo --erp sap-s4hana``: a full cycle against the SAP sandbox, then an incremental one."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sync_daemon import cli


def test_sap_demo_runs_a_cycle_and_its_next_hint_keeps_the_erp_for_the_incremental_run(
    tmp_path: Path, specs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARBRIDGE_SPECS", str(specs_dir))
    state = str(tmp_path / "demo")
    runner = CliRunner()

    first = runner.invoke(cli, ["demo", "--erp", "sap-s4hana", "--state-dir", state], catch_exceptions=False)

    assert first.exit_code == 0, first.output
    assert "SAP S/4HANA sandbox" in first.output
    hint = next(line for line in first.output.splitlines() if line.startswith("Next:"))
    assert f"arbridge demo --erp sap-s4hana --resume --state-dir {Path(state).absolute()}" in hint

    again = runner.invoke(cli, hint.split("`")[1].split()[1:], catch_exceptions=False)

    assert again.exit_code == 0, again.output
    assert "Simulated ERP activity" in again.output and "incremental" in again.output
