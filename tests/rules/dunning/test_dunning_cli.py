"""``arbridge dunning plan`` on files alone, with the example policies from ``config/``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.dunning_files import dunning_group

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ["config/dunning-policy.example.yaml", "config/dunning-policy.eu-late-payment.yaml"]

_CUSTOMER_ROWS = """\
id,name,email,phone,time_zone,language,country,terms,credit_limit,balance,risk_score,tags,opt_out_channels,dunning_block
C1,Acme GmbH,ap@acme.example,+49 30 1234567,Europe/Berlin,de,DE,Net 30,10000,2500,20,,,
C2,Beta LLC,ar@beta.example,+1 212 555 0100,America/New_York,en-US,US,Net 30,5000,900,80,,email,
C3,Gamma Ltd,,,,en,GB,Net 30,,,,key-account;strategic,,
C4,Delta SA,d@delta.example,,Europe/Paris,fr,FR,,,,,,,yes
"""
# The postal addresses letters go to (address_line1, city, region, postal_code).
_ADDRESSES = {
    "id": "address_line1,city,region,postal_code",
    "C1": "Hafenstr. 1,Hamburg,,20457",
    "C2": "350 Fifth Avenue,New York,NY,10118",
}
CUSTOMERS = "".join(
    f"{row},{_ADDRESSES.get(row.split(',')[0], ',,,')}\n" for row in _CUSTOMER_ROWS.splitlines()
)
INVOICES = """\
id,customer_id,number,currency,issue_date,due_date,total,open_amount,status,disputed,promise_to_pay_date,dunning_block,dunning_level
I1,C1,INV-1001,EUR,2026-09-01,2026-09-30,1000.00,1000.00,open,,,,
I2,C1,INV-1002,EUR,2026-10-01,2026-10-31,500.00,500.00,open,true,,,
I3,C1,INV-1003,USD,2026-10-01,2026-11-10,300.00,300.00,open,,,,
I4,C2,INV-2001,USD,2026-09-15,2026-10-15,900.00,900.00,open,,2026-11-30,,
I5,C2,INV-2002,USD,2026-10-01,2026-10-20,100.00,100.00,open,,,,
I6,C3,INV-3001,GBP,2026-08-01,2026-08-31,40.00,40.00,open,,,,
I7,C4,INV-4001,EUR,2026-08-01,2026-08-31,100.00,100.00,open,,,,
I8,C1,INV-1004,EUR,2026-11-01,2026-11-25,200.00,200.00,open,,,,
I9,C1,INV-1005,EUR,2026-10-01,2026-10-15,80.00,80.00,open,,,,
I10,C1,INV-1006,EUR,2026-09-01,2026-09-20,80.00,0.00,paid,,,,
"""
MEMOS = """\
id,customer_id,number,currency,issue_date,total,open_amount,applies_to_invoice_id,status
M1,C1,CM-77,EUR,2026-11-02,80.00,80.00,I9,open
"""
ACTION_FIELDS = {
    "customer_id",
    "invoice_ids",
    "level",
    "channel",
    "template",
    "send_at",
    "fees",
    "interest",
    "currency",
    "reason",
}
SKIP_FIELDS = {"customer_id", "invoice_ids", "skipped", "reason"}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "invoices.csv").write_text(INVOICES)
    (tmp_path / "credit_memos.csv").write_text(MEMOS)
    return tmp_path


def _plan(files: Path, policy: str, out: str, *extra: str, as_of: str = "2026-11-23T10:00:00Z") -> list[dict]:
    result = CliRunner().invoke(
        dunning_group,
        [
            "plan",
            "--policy",
            str(ROOT / policy),
            "--customers",
            str(files / "customers.csv"),
            "--invoices",
            str(files / "invoices.csv"),
            "--credit-memos",
            str(files / "credit_memos.csv"),
            "--as-of",
            as_of,
            "--out",
            str(files / out),
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in (files / out).read_text().splitlines()]


@pytest.mark.parametrize("policy", EXAMPLES)
def test_example_policies_run_through_dunning_plan(files: Path, policy: str) -> None:
    lines = _plan(files, policy, "actions.jsonl")
    planned = [line for line in lines if "skipped" not in line]
    skipped = [line for line in lines if "skipped" in line]
    assert planned and skipped
    for line in planned:
        assert set(line) >= ACTION_FIELDS
        assert line["send_at"].endswith("Z")
    for line in skipped:
        assert set(line) >= SKIP_FIELDS
    reasons = {(s["customer_id"], s["skipped"]) for s in skipped}
    assert ("C1", "disputed") in reasons
    assert ("C1", "credit_memo_pending") in reasons
    assert ("C2", "promise_to_pay") in reasons
    assert ("C4", "customer_dunning_block") in reasons
    # The paid invoice appears nowhere.
    assert all("I10" not in line["invoice_ids"] for line in lines)


def test_example_policy_plans_what_the_policy_says(files: Path) -> None:
    lines = _plan(files, EXAMPLES[0], "actions.jsonl")
    planned = {(p["customer_id"], p["currency"]): p for p in lines if "skipped" not in p}
    assert set(planned) == {("C1", "EUR"), ("C1", "USD"), ("C2", "USD")}
    assert planned[("C1", "EUR")]["invoice_ids"] == ["I1"]  # I2 disputed, I9 credit memo, I8 not due
    assert planned[("C2", "USD")]["channel"] == "letter"  # opted out of e-mail
    assert "fell back to letter" in planned[("C2", "USD")]["reason"]
    assert planned[("C2", "USD")]["template"] == "reminder"  # high-risk segment (risk score 80)
    gamma = next(s for s in lines if s["customer_id"] == "C3")
    assert gamma["skipped"] == "below_minimum"  # key-account segment: 50.00 minimum


def test_feeding_a_runs_output_back_as_history_plans_nothing_the_same_day(files: Path) -> None:
    first = _plan(files, EXAMPLES[0], "run1.jsonl")
    assert any("skipped" not in line for line in first)
    second = _plan(
        files, EXAMPLES[0], "run2.jsonl", "--history", str(files / "run1.jsonl"), as_of="2026-11-23T16:30:00Z"
    )
    assert [line for line in second if "skipped" not in line] == []
    assert any(line["skipped"] == "already_contacted_today" for line in second)


def test_plan_rejects_an_as_of_without_time_zone(files: Path) -> None:
    result = CliRunner().invoke(
        dunning_group,
        [
            "plan",
            "--policy",
            str(ROOT / EXAMPLES[0]),
            "--customers",
            str(files / "customers.csv"),
            "--invoices",
            str(files / "invoices.csv"),
            "--as-of",
            "2026-11-23T10:00:00",
            "--out",
            "-",
        ],
    )
    assert result.exit_code == 2
    assert "with a time zone" in result.output


def test_plan_names_the_file_and_line_of_a_bad_row(files: Path) -> None:
    (files / "invoices.csv").write_text(INVOICES.replace("1000.00,1000.00", "1000.00,lots"))
    result = CliRunner().invoke(
        dunning_group,
        [
            "plan",
            "--policy",
            str(ROOT / EXAMPLES[0]),
            "--customers",
            str(files / "customers.csv"),
            "--invoices",
            str(files / "invoices.csv"),
            "--as-of",
            "2026-11-23T10:00:00Z",
            "--out",
            "-",
        ],
    )
    assert result.exit_code == 2
    assert "invoices.csv:2:8: open_amount: expected a decimal amount with a '.', e.g. 120.50, got 'lots'" in (
        result.output
    )


def test_plan_reports_an_invalid_policy(files: Path) -> None:
    bad = files / "bad.yaml"
    bad.write_text(
        "default_policy: missing\npolicies:\n  p:\n    levels: [{days_overdue: 1, channels: [fax]}]\n"
    )
    result = CliRunner().invoke(
        dunning_group,
        [
            "plan",
            "--policy",
            str(bad),
            "--customers",
            str(files / "customers.csv"),
            "--invoices",
            str(files / "invoices.csv"),
            "--as-of",
            "2026-11-23T10:00:00Z",
            "--out",
            "-",
        ],
    )
    assert result.exit_code == 2
    assert "invalid dunning policy" in result.output
    assert "policies.p.levels[0].channels[0] (line 4): expected one of 'email', 'letter'" in result.output
    assert "Traceback" not in result.output


def test_render_writes_the_planned_messages_for_review(files: Path) -> None:
    _plan(files, EXAMPLES[0], "actions.jsonl")
    result = CliRunner().invoke(
        dunning_group,
        [
            "render",
            "--policy",
            str(ROOT / EXAMPLES[0]),
            "--customers",
            str(files / "customers.csv"),
            "--actions",
            str(files / "actions.jsonl"),
            "--out-dir",
            str(files / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (files / "out").iterdir())
    assert "C1-EUR-L1-email.html" in names and "C2-USD-L1-letter.pdf" in names
    german = (files / "out" / "C1-EUR-L1-email.txt").read_text()
    assert german.startswith("Zahlungserinnerung: 1.000,00 EUR überfällig")
    assert "INV-1001" in german
