"""``arbridge demo --erp business-central``: a full cycle against the BC sandbox, then an incremental."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from sync_daemon import cli


def test_the_demo_syncs_a_bc_company_and_then_reads_only_the_payment_a_customer_made(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["demo", "--erp", "business-central", "--state-dir", str(tmp_path)])
    assert first.exit_code == 0, first.output
    out = first.output
    assert "Business Central OData v4 sandbox at http://127.0.0.1:" in out
    assert "invoices      150 new" in out and "customers     25 new" in out
    # Every stream in one page of BC's largest size, and the company's id looked up once.
    assert re.search(r"Pulled from Business Central in [\d.]+s \(5 API calls\)", out), out
    assert re.search(r"^  \d+ customer\(s\) are due a reminder", out, re.M)
    written = out[out.index("Written back to Business Central:") :]
    # The payment cash application matched was applied to its invoice in BC, nothing refused.
    applied = re.search(r"^  (\d+) applied automatically", out, re.M)
    assert applied is not None, out
    assert f"  {applied.group(1)} payment application(s):" in written
    assert "0 the ERP refused" in written
    assert f"Next: `arbridge demo --erp business-central --resume --state-dir {tmp_path}`" in out
    assert (tmp_path / "business-central-sandbox.pickle").is_file()

    second = runner.invoke(
        cli, ["demo", "--erp", "business-central", "--resume", "--state-dir", str(tmp_path)]
    )
    assert second.exit_code == 0, second.output
    out = second.output
    paid = re.search(r"Simulated ERP activity: customer (\S+) paid [\d.]+ USD of invoice (\d+)", out)
    assert paid is not None, out
    assert "incremental" in out
    # The customer's new payment and the invoice it paid, and what the first run applied (read back).
    assert "payments      1 new, 1 changed" in out and "invoices      0 new, 2 changed" in out
    assert "customers     0 new, 0 changed" in out
