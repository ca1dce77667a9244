"""`arbridge demo` as a newcomer runs it: from a checkout, then `--resume` a few times."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from sync_daemon import cli


@dataclass
class DemoRuns:
    checkout: Path
    state_home: Path
    outputs: list[str]


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> DemoRuns:
    root = tmp_path_factory.mktemp("newcomer")
    checkout, state_home = root / "checkout", root / "state"
    checkout.mkdir()
    patch = pytest.MonkeyPatch()
    patch.chdir(checkout)
    patch.setenv("XDG_STATE_HOME", str(state_home))
    outputs = []
    try:
        for args in (["demo"], ["demo", "--resume"], ["demo", "--resume"]):
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 0, result.output
            outputs.append(result.output)
    finally:
        patch.undo()
    return DemoRuns(checkout, state_home, outputs)


def test_the_demo_says_which_customers_would_get_which_reminder_with_no_channel(
    demo_runs: DemoRuns,
) -> None:
    first = demo_runs.outputs[0]
    due = re.search(r"(\d+) customer\(s\) are due a reminder\. The demo configures no channel", first)
    assert due is not None, first
    assert "so none was sent; with one, these would go out:" in first
    lines = re.findall(
        r"^    (.+) \(customer \w+\): level (\d) reminder by e-mail to \S+@\S+ about", first, re.M
    )
    assert len(lines) == 5 and all(name for name, _ in lines)
    assert f"… and {int(due.group(1)) - 5} more (arbridge dunning preview lists them all)" in first


def test_the_demo_says_what_cash_application_did_with_each_unapplied_payment(demo_runs: DemoRuns) -> None:
    first = demo_runs.outputs[0]
    section = first[first.index("Cash application") : first.index("Written back")]
    counted = sum(int(n) for n in re.findall(r"^  (\d+) ", section, re.M))
    assert counted >= 1
    assert re.search(r"^    payment \w+ from .+, [\d,]+\.\d\d USD", section, re.M)
    assert "Traceback" not in first


def test_the_demo_says_why_nothing_reached_quickbooks_while_reminders_wait(demo_runs: DemoRuns) -> None:
    first = demo_runs.outputs[0]
    written = first[first.index("Written back to QuickBooks:") :]
    assert "a reminder's status reaches the ERP with the send that makes it true" in written
    assert "{" not in written  # sentences, no dict dumped at the end


def test_the_demo_lists_what_it_wrote_to_sap_and_how_cash_was_applied(
    tmp_path: Path, specs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARBRIDGE_SPECS", str(specs_dir))
    result = CliRunner().invoke(cli, ["demo", "--erp", "sap-s4hana", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = result.output
    applied = re.search(r"^  (\d+) applied automatically", out, re.M)
    assert applied is not None, out
    assert re.search(r"^    payment \S+ from .+, [\d,]+\.\d\d USD → invoice \S+ [\d,]+\.\d\d USD$", out, re.M)
    written = out[out.index("Written back to SAP S/4HANA:") :]
    assert f"  {applied.group(1)} payment application(s):" in written
    assert re.search(r"^  \d+ invoice\(s\) got a collection status:$", written, re.M)
    assert re.search(r"^    invoice \S+: on hold$", written, re.M)
    assert f"Next: `arbridge demo --erp sap-s4hana --resume --state-dir {tmp_path}`" in out


def test_each_resume_edits_other_invoices_in_the_erp(demo_runs: DemoRuns) -> None:
    edited = [
        set(re.findall(r"\d+", m.group(1)))
        for out in demo_runs.outputs[1:]
        for m in [re.search(r"Simulated ERP activity: invoices (.+) edited", out)]
        if m
    ]
    assert len(edited) == 2 and all(len(ids) == 2 for ids in edited)
    assert edited[0].isdisjoint(edited[1])
    for out in demo_runs.outputs[1:]:
        assert "incremental" in out and "needs re-authorization" not in out


def test_the_demo_leaves_nothing_in_the_directory_it_runs_from(demo_runs: DemoRuns) -> None:
    assert list(demo_runs.checkout.iterdir()) == []
    state = demo_runs.state_home / "arbridge" / "demo"
    assert (state / "arbridge.sqlite").is_file()
    assert f"arbridge's state (SQLite): {state / 'arbridge.sqlite'}" in demo_runs.outputs[0]
    assert "Next: `arbridge demo --resume` for an incremental cycle." in demo_runs.outputs[0]


def test_a_demo_state_folder_inside_the_checkout_is_ignored_by_git() -> None:
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().split()
    assert "arbridge-demo/" in ignored
