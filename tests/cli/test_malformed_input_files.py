"""Every file the command line reads, fed malformed values: each exits 2, says where, and shows no traceback.

The files: the deployment YAML, a dunning policy, the CSV and JSON inputs of ``arbridge match`` and
``arbridge dunning plan``/``render``, and the audit checkpoint files. A person who typed one value
wrong must be told which file, which line or key, and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from sync_daemon import cli

ROOT = Path(__file__).resolve().parents[2]
POLICY = (ROOT / "config" / "dunning-policy.example.yaml").read_text(encoding="utf-8")

DEPLOYMENT = """\
version: 1
store: {url: "sqlite:///state.sqlite"}
connections:
  - name: shop
    connector: csv
    schedule: {interval: 15m}
    settings: {folder: exports}
"""
MATCH_INVOICES = """\
invoice_id,customer_id,number,doc_type,currency,total,open_amount,issue_date,due_date,discount_percent,discount_days
D1,C1,INV-100101,invoice,EUR,1190.00,1190.00,2024-05-20,2024-06-19,,
D2,C2,INV-100231,invoice,EUR,1500.00,1500.00,2024-05-02,2024-06-01,,
"""
MATCH_PAYMENTS = """\
payment_id,date,amount,currency,customer_id,payer_name,payer_account,reference
P1,2024-06-25,1190.00,EUR,C1,,,INV-100101
P2,2024-06-27,1500.00,EUR,,SCHMIDT LOGISTIK,,INV 100231
"""
MATCH_CUSTOMERS = """\
customer_id,name,bank_accounts
C1,Mueller Maschinenbau GmbH,DE89 3704 0044 0532 0130 00
C2,Schmidt Logistik AG,AT611904300234573201
"""
REMITTANCE = """\
payment_id,invoice_number,amount
P2,INV-100231,1500.00
"""
CUSTOMERS = """\
id,name,email,time_zone,language,country,terms
C1,Acme GmbH,ap@acme.example,Europe/Berlin,de,DE,Net 30
C2,Beta LLC,ar@beta.example,America/New_York,en-US,US,Net 30
"""
INVOICES = """\
id,customer_id,number,currency,issue_date,due_date,total,open_amount,status
I1,C1,INV-1001,EUR,2026-09-01,2026-09-30,1000.00,1000.00,open
I2,C2,INV-2001,USD,2026-09-15,2026-10-15,900.00,900.00,open
"""
MEMOS = """\
id,customer_id,number,currency,issue_date,total,open_amount,applies_to_invoice_id,status
M1,C1,CM-77,EUR,2026-11-02,80.00,80.00,I1,open
"""
HISTORY = (
    '{"kind": "action", "customer_id": "C1", "at": "2026-10-08T09:00:00Z", "currency": "EUR", "level": 1}\n'
)
ACTIONS: list[str] = []  # what `dunning plan` writes for the files above (filled on first use)


@dataclass(frozen=True)
class Case:
    """One malformed file: what to write where, the command that reads it, and where it must point."""

    name: str
    file: str
    text: str | bytes | Callable[[str], str]  # the file, or how to spoil its valid content
    command: Callable[[Path], list[str]]
    where: str  # a regular expression the message must contain: the file with a line, or a key path

    def __str__(self) -> str:
        return self.name


def _write_all(tmp: Path) -> None:
    (tmp / "exports").mkdir(exist_ok=True)
    files = {
        "arbridge.yaml": DEPLOYMENT,
        "policy.yaml": POLICY,
        "invoices-match.csv": MATCH_INVOICES,
        "payments.csv": MATCH_PAYMENTS,
        "customers-match.csv": MATCH_CUSTOMERS,
        "remittance.csv": REMITTANCE,
        "rules.yaml": "thresholds: {auto: 0.9, review: 0.5}\n",
        "customers.csv": CUSTOMERS,
        "invoices.csv": INVOICES,
        "credit_memos.csv": MEMOS,
        "history.jsonl": HISTORY,
        "checkpoints.log": "",
    }
    for name, text in files.items():
        (tmp / name).write_text(text, encoding="utf-8")
    (tmp / "actions.jsonl").write_text(_planned_actions(tmp), encoding="utf-8")


def _planned_actions(tmp: Path) -> str:
    """The actions.jsonl that `arbridge dunning plan` writes for the valid files."""
    if not ACTIONS:
        result = CliRunner().invoke(cli, plan(tmp))
        assert result.exit_code == 0, result.output
        ACTIONS.append((tmp / "actions-out.jsonl").read_text(encoding="utf-8"))
    return ACTIONS[0]


def check(tmp: Path) -> list[str]:
    return ["check", "-c", str(tmp / "arbridge.yaml")]


def match(tmp: Path, *extra: str) -> list[str]:
    return [
        "match",
        "--invoices",
        str(tmp / "invoices-match.csv"),
        "--payments",
        str(tmp / "payments.csv"),
        "--customers",
        str(tmp / "customers-match.csv"),
        "--as-of",
        "2024-06-28",
        "--out",
        str(tmp / "matches.jsonl"),
        *extra,
    ]


def plan(tmp: Path, *extra: str) -> list[str]:
    return [
        "dunning",
        "plan",
        "--policy",
        str(tmp / "policy.yaml"),
        "--customers",
        str(tmp / "customers.csv"),
        "--invoices",
        str(tmp / "invoices.csv"),
        "--credit-memos",
        str(tmp / "credit_memos.csv"),
        "--history",
        str(tmp / "history.jsonl"),
        "--as-of",
        "2026-11-23T10:00:00Z",
        "--out",
        str(tmp / "actions-out.jsonl"),
        *extra,
    ]


def render(tmp: Path) -> list[str]:
    return [
        "dunning",
        "render",
        "--policy",
        str(tmp / "policy.yaml"),
        "--customers",
        str(tmp / "customers.csv"),
        "--actions",
        str(tmp / "actions.jsonl"),
        "--out-dir",
        str(tmp / "rendered"),
    ]


def verify(tmp: Path) -> list[str]:
    return [
        "audit",
        "verify",
        "-c",
        str(tmp / "arbridge.yaml"),
        "--checkpoint-file",
        str(tmp / "checkpoints.log"),
    ]


def _policy_with(old: str, new: str) -> str:
    assert old in POLICY, old
    return POLICY.replace(old, new, 1)


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


CASES = [
    # -- the deployment file -------------------------------------------------------------------------
    Case("deployment: not YAML", "arbridge.yaml", DEPLOYMENT + "  - name: [unclosed\n", check, r"line 8"),
    Case(
        "deployment: a duration in words",
        "arbridge.yaml",
        DEPLOYMENT.replace("interval: 15m", "interval: soon"),
        check,
        r"connections\[0\]\.schedule\.interval \(line 6\)",
    ),
    Case(
        "deployment: a number where a URL goes",
        "arbridge.yaml",
        DEPLOYMENT.replace('url: "sqlite:///state.sqlite"', "url: 12"),
        check,
        r"store\.url \(line 2\)",
    ),
    Case("deployment: a list, not a mapping", "arbridge.yaml", "- version\n- 1\n", check, r"arbridge\.yaml"),
    Case(
        "deployment: not UTF-8",
        "arbridge.yaml",
        b"version: 1\nstore: {url: \xff\xfe}\n",
        check,
        r"arbridge\.yaml",
    ),
    # -- a dunning policy ----------------------------------------------------------------------------
    Case(
        "policy: not YAML",
        "policy.yaml",
        POLICY + "levels: [unclosed\n",
        plan,
        r"policy\.yaml(:\d+|[\s\S]*line \d+)",
    ),
    Case(
        "policy: a negative fee",
        "policy.yaml",
        _policy_with('fee: {EUR: "5.00", USD: "5.00", GBP: "5.00"}', 'fee: {EUR: "-5.00"}'),
        plan,
        r"policies\.standard\.levels\[1\]\.fee",
    ),
    Case(
        "policy: a fee in words",
        "policy.yaml",
        _policy_with('fee: {EUR: "5.00", USD: "5.00", GBP: "5.00"}', 'fee: {EUR: "five"}'),
        plan,
        r"policies\.standard\.levels\[1\]\.fee",
    ),
    Case(
        "policy: levels whose days go down",
        "policy.yaml",
        _policy_with(
            "days_overdue: 21\n        min_gap_days: 10",
            "days_overdue: 5\n        min_gap_days: 10",
        ),
        plan,
        r"policies\.standard\.levels",
    ),
    Case(
        "policy: an unknown time zone",
        "policy.yaml",
        _policy_with("default_time_zone: Europe/Berlin", "default_time_zone: Europe/Atlantis"),
        plan,
        r"default_time_zone",
    ),
    Case(
        "policy: a currency ISO 4217 does not assign",
        "policy.yaml",
        _policy_with('minimum_amount: {EUR: "10.00"', 'minimum_amount: {XYZ: "10.00"'),
        plan,
        r"policies\.standard\.minimum_amount",
    ),
    Case("policy: empty", "policy.yaml", "", plan, r"policy\.yaml"),
    # -- arbridge match ------------------------------------------------------------------------------
    Case(
        "match: an amount in words",
        "invoices-match.csv",
        MATCH_INVOICES.replace("1500.00,1500.00", "fifteen hundred,1500.00"),
        match,
        r"invoices-match\.csv:3: column total: expected a decimal number",
    ),
    Case(
        "match: a date in another format",
        "payments.csv",
        MATCH_PAYMENTS.replace("2024-06-27", "27.06.2024"),
        match,
        r"payments\.csv:3: column date: expected a date written YYYY-MM-DD",
    ),
    Case(
        "match: a missing column",
        "customers-match.csv",
        MATCH_CUSTOMERS.replace("customer_id,name", "id,name"),
        match,
        r"customers-match\.csv",
    ),
    Case(
        "match: a statement cut short",
        "payments.csv",
        '<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
        "<BkToCstmrStmt>",
        match,
        r"payments\.csv",
    ),
    Case(
        "match: an MT940 amount in words",
        "payments.csv",
        (ROOT / "tests/rules/cashapp/data/mt940_german_structured.sta")
        .read_text(encoding="latin-1")
        .replace("CR1190,00", "CRabc"),
        match,
        r"payments\.csv(:\d+|: MT940 line \d+)",
    ),
    Case(
        "match: a remittance amount in words",
        "remittance.csv",
        REMITTANCE.replace("1500.00", "lots"),
        lambda tmp: match(tmp, "--remittance", str(tmp / "remittance.csv")),
        r"remittance\.csv:2",
    ),
    Case(
        "match: remittance JSON cut short",
        "remittance.csv",
        '[{"payment_id": "P2", "invoice_number": "INV-100231", ',
        lambda tmp: match(tmp, "--remittance", str(tmp / "remittance.csv")),
        r"remittance\.csv",
    ),
    Case(
        "match: rules with a threshold in words",
        "rules.yaml",
        "thresholds: {auto: high}\n",
        lambda tmp: match(tmp, "--rules", str(tmp / "rules.yaml")),
        r"rules\.yaml.*thresholds\.auto|thresholds\.auto.*rules\.yaml",
    ),
    Case(
        "match: rules that are not YAML",
        "rules.yaml",
        "thresholds: {auto: [\n",
        lambda tmp: match(tmp, "--rules", str(tmp / "rules.yaml")),
        r"rules\.yaml",
    ),
    # -- arbridge dunning plan and render -------------------------------------------------------------
    Case(
        "plan: an open amount in words",
        "invoices.csv",
        INVOICES.replace("900.00,900.00", "900.00,nine hundred"),
        plan,
        r"invoices\.csv:3",
    ),
    Case(
        "plan: a date in another format",
        "invoices.csv",
        INVOICES.replace("2026-09-15", "15/09/2026"),
        plan,
        r"invoices\.csv:3",
    ),
    Case(
        "plan: a customer's unknown time zone",
        "customers.csv",
        CUSTOMERS.replace("America/New_York", "America/Gotham"),
        plan,
        r"customers\.csv:3",
    ),
    Case(
        "plan: a credit memo total in words",
        "credit_memos.csv",
        MEMOS.replace("80.00,80.00", "eighty,80.00"),
        plan,
        r"credit_memos\.csv:2",
    ),
    Case(
        "plan: history that is not JSON", "history.jsonl", HISTORY + "{not json\n", plan, r"history\.jsonl:2"
    ),
    Case(
        "plan: a history time without its zone",
        "history.jsonl",
        HISTORY.replace("2026-10-08T09:00:00Z", "2026-10-08 09:00"),
        plan,
        r"history\.jsonl:1",
    ),
    Case(
        "render: actions that are not JSON",
        "actions.jsonl",
        lambda t: t + "{oops\n",
        render,
        r"actions\.jsonl:3",
    ),
    Case(
        "render: an action without its key",
        "actions.jsonl",
        lambda t: re.sub(r'"key": "[^"]+", ', "", t),
        render,
        r"actions\.jsonl:2",
    ),
    # -- audit checkpoints ---------------------------------------------------------------------------
    Case(
        "checkpoints: none in the file",
        "checkpoints.log",
        "nothing to see here\n",
        verify,
        r"checkpoints\.log",
    ),
    Case("checkpoints: not text", "checkpoints.log", b"\x00\xff\x00\xfe" * 64, verify, r"checkpoints\.log"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_malformed_file_exits_2_naming_where_without_a_traceback(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write_all(tmp_path)
    target = tmp_path / case.file
    if isinstance(case.text, bytes):
        target.write_bytes(case.text)
    else:
        text = case.text(target.read_text(encoding="utf-8")) if callable(case.text) else case.text
        target.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, case.command(tmp_path))
    said = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{case}: {type(result.exception).__name__}: {result.exception}"
    )
    assert "Traceback" not in said
    assert result.exit_code == 2, f"{case}: exit {result.exit_code}\n{said}"
    assert re.search(case.where, said), f"{case}: does not say where ({case.where}):\n{said}"


def test_the_valid_files_pass_so_each_case_fails_for_its_own_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write_all(tmp_path)
    (tmp_path / "checkpoints.log").write_text("audit_head=0:" + "0" * 64 + "\n")
    for command in (
        match(
            tmp_path,
            "--remittance",
            str(tmp_path / "remittance.csv"),
            "--rules",
            str(tmp_path / "rules.yaml"),
        ),
        plan(tmp_path),
        render(tmp_path),
    ):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0, f"{command[:2]}: {result.output}"
    assert CliRunner().invoke(cli, check(tmp_path)).exit_code in (0, 1)  # the exports folder is empty
