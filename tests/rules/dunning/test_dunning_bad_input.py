"""Policies and files: bad input gets a clear error (exit 2, where and what was expected), never a quiet
wrong answer and never a traceback. Each malformed value is fed to every file ``arbridge dunning``
reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.dunning_files import dunning_group

ROOT = Path(__file__).resolve().parents[3]

POLICY = """\
version: 1
default_time_zone: Europe/Berlin
default_policy: std
contact_window:
  holidays: [2026-12-24]
rate_tables:
  t: {margin_percent: "8", periods: [{from: 2026-01-01, reference_percent: "2.15"}]}
policies:
  std:
    minimum_amount: {EUR: "10.00"}
    interest: {rate_table: t}
    levels:
      - {days_overdue: 7, channels: [email]}
      - {days_overdue: 21, channels: [letter], fee: {EUR: "5.00"}}
"""
CUSTOMERS = "id,name,email,time_zone,currency\nC1,Acme GmbH,ap@acme.example,Europe/Berlin,EUR\n"
INVOICES = (
    "id,customer_id,number,currency,issue_date,due_date,total,open_amount\n"
    "I1,C1,INV-1,EUR,2026-09-01,2026-09-30,1000.00,1000.00\n"
)
MEMOS = "id,customer_id,currency,issue_date,total,open_amount\nM1,C1,EUR,2026-11-01,20.00,20.00\n"
PAYMENTS = "id,customer_id,currency,date,amount,unapplied_amount\nP1,C1,EUR,2026-11-02,50.00,50.00\n"
HISTORY = (
    '{"kind": "payment", "customer_id": "C1", "invoice_id": "I0", "due_date": "2026-06-01", '
    '"paid_date": "2026-06-09"}\n'
)


def run_plan(tmp_path: Path, **files: str) -> tuple[int, str, Path]:
    contents = {
        "policy.yaml": POLICY,
        "customers.csv": CUSTOMERS,
        "invoices.csv": INVOICES,
        "credit_memos.csv": MEMOS,
        "payments.csv": PAYMENTS,
        "history.jsonl": HISTORY,
    }
    contents.update({name.replace("__", "."): text for name, text in files.items()})
    for name, text in contents.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    out = tmp_path / "actions.jsonl"
    result = CliRunner().invoke(
        dunning_group,
        [
            "plan",
            "--policy", str(tmp_path / "policy.yaml"),
            "--customers", str(tmp_path / "customers.csv"),
            "--invoices", str(tmp_path / "invoices.csv"),
            "--credit-memos", str(tmp_path / "credit_memos.csv"),
            "--payments", str(tmp_path / "payments.csv"),
            "--history", str(tmp_path / "history.jsonl"),
            "--as-of", "2026-11-23T10:00:00Z",
            "--out", str(out),
        ],
    )  # fmt: skip
    # Anything but a clean exit is a traceback for the user.
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output, out


def test_the_good_files_plan_one_reminder_net_of_the_credits(tmp_path: Path) -> None:
    code, output, out = run_plan(tmp_path)
    assert code == 0, output
    [action] = [json.loads(line) for line in out.read_text().splitlines()]
    assert action["total_credit"] == "70.00"


POLICY_CASES = [
    ('fee: {EUR: "5.00"}', 'fee: {EUR: "-5"}',
     "policies.std.levels[1].fee.EUR (line 14): expected an amount of 0 or more, got '-5'"),
    ('fee: {EUR: "5.00"}', 'fee: {EUR: "five"}',
     "policies.std.levels[1].fee.EUR (line 14): expected an amount such as \"10.00\", got 'five'"),
    ('margin_percent: "8"', 'margin_percent: "-9"',
     "rate_tables.t (line 7): expected an interest rate of 0 or more: "
     "from 2026-01-01 the reference rate 2.15 + margin -9 gives -6.85 %"),
    ("days_overdue: 21", "days_overdue: 5",
     "policies.std.levels (line 12): expected days_overdue to grow from level to level: "
     "levels[1] has 5, levels[0] has 7"),
    ("default_time_zone: Europe/Berlin", "default_time_zone: Europe/Atlantis",
     "default_time_zone (line 2): expected an IANA time zone name such as 'Europe/Berlin' or "
     "'America/New_York', got 'Europe/Atlantis'"),
    ('minimum_amount: {EUR: "10.00"}', 'minimum_amount: {XYZ: "10.00"}',
     "policies.std.minimum_amount.XYZ (line 10): expected a currency code assigned in ISO 4217"),
    ("holidays: [2026-12-24]", "holidays: [24.12.2026]",
     "contact_window.holidays[0] (line 5): expected a date written YYYY-MM-DD, e.g. 2026-12-24"),
]  # fmt: skip


@pytest.mark.parametrize(("good", "bad", "message"), POLICY_CASES, ids=[c[1] for c in POLICY_CASES])
def test_a_bad_policy_value_exits_2_naming_its_key_path_and_line(
    tmp_path: Path, good: str, bad: str, message: str
) -> None:
    code, output, out = run_plan(tmp_path, policy__yaml=POLICY.replace(good, bad))
    assert code == 2
    assert "invalid dunning policy" in output and message in output
    assert not out.exists(), "nothing is written from a run that could not read its input"


FILE_CASES = [
    ("customers__csv", CUSTOMERS.replace("Europe/Berlin", "Mars/Olympus"),
     "customers.csv:2:4: time_zone: expected an IANA time zone such as Europe/Berlin or "
     "America/New_York, got 'Mars/Olympus'"),
    ("customers__csv", CUSTOMERS.replace(",EUR", ",XYZ"),
     "customers.csv:2:5: currency: expected a currency code assigned in ISO 4217 such as EUR, USD or "
     "GBP, got 'XYZ'"),
    ("invoices__csv", INVOICES.replace(",EUR,", ",XYZ,"),
     "invoices.csv:2:4: currency: expected a currency code assigned in ISO 4217"),
    ("invoices__csv", INVOICES.replace("2026-09-30", "30.09.2026"),
     "invoices.csv:2:6: due_date: expected a date written YYYY-MM-DD, e.g. 2026-11-23, got '30.09.2026'"),
    ("invoices__csv", INVOICES.replace("1000.00,1000.00", "1000.00,1.000,00"),
     "invoices.csv:2:9: 9 cells but the header names 8"),
    ("invoices__csv", INVOICES.replace("1000.00,1000.00", "1000.00,lots"),
     "invoices.csv:2:8: open_amount: expected a decimal amount with a '.', e.g. 120.50, got 'lots'"),
    ("credit_memos__csv", MEMOS.replace("20.00,20.00", "20.00,NaN"),
     "credit_memos.csv:2:6: open_amount: expected a decimal amount"),
    ("credit_memos__csv", MEMOS.replace("2026-11-01", "11/01/2026"),
     "credit_memos.csv:2:4: issue_date: expected a date written YYYY-MM-DD"),
    ("payments__csv", PAYMENTS.replace("50.00,50.00", "50.00,fifty"),
     "payments.csv:2:6: unapplied_amount: expected a decimal amount"),
    ("payments__csv", PAYMENTS.replace(",EUR,", ",EURO,"),
     "payments.csv:2:3: currency: expected a currency code assigned in ISO 4217"),
    ("history__jsonl", HISTORY.replace("2026-06-09", "09.06.2026"),
     "history.jsonl:1: paid_date: expected a date written YYYY-MM-DD, got '09.06.2026'"),
    ("history__jsonl", HISTORY[:-3], "history.jsonl:1:"),
    ("history__jsonl",
     '{"kind": "call", "customer_id": "C1", "at": "2026-11-20T10:00:00Z", "outcome": "maybe"}\n',
     "history.jsonl:1: outcome: expected one of reached, no_answer, promise, dispute, got 'maybe'"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "message"), FILE_CASES, ids=[c[2][:40] for c in FILE_CASES])
def test_a_bad_value_in_a_file_exits_2_naming_file_line_and_column(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    code, output, out = run_plan(tmp_path, **{name: text})
    assert code == 2, output
    assert message in output
    assert "Traceback" not in output
    assert not out.exists()


def test_render_reads_a_broken_actions_file_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "actions.jsonl").write_text('{"customer_id": "C1", "key": "k"}\n')
    result = CliRunner().invoke(
        dunning_group,
        [
            "render",
            "--customers", str(tmp_path / "customers.csv"),
            "--actions", str(tmp_path / "actions.jsonl"),
            "--out-dir", str(tmp_path / "out"),
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "actions.jsonl:1: not a planned action as 'dunning plan' writes it: key 'currency' is missing" in (
        result.output
    )
