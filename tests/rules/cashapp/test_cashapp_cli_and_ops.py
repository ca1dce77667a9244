"""``arbridge match`` file contract, write-back operations and learning from accepted matches."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from cli.match import match_command
from mapping.models import Customer, Invoice, Payment, PaymentApplication, TargetType
from rules.cashapp import (
    CustomerIndex,
    DocumentIndex,
    MatchRules,
    PaymentInput,
    learn_from_accepted,
    match_payment,
    payment_from_model,
    to_payment_application,
)

DATA = Path(__file__).parent / "data"
NOW = datetime(2024, 6, 28, 8, 0, tzinfo=UTC)

INVOICES = """\
invoice_id,customer_id,number,doc_type,currency,total,open_amount,issue_date,due_date,\
discount_percent,discount_days
D1,C1,INV-100101,invoice,EUR,1190.00,1190.00,2024-05-20,2024-06-19,,
D2,C1,INV-100102,invoice,EUR,2380.50,2380.50,2024-06-20,2024-07-20,2,10
D3,C2,INV-100231,invoice,EUR,1500.00,1500.00,2024-05-02,2024-06-01,,
D4,C2,CN-20011,credit_memo,EUR,200.00,200.00,2024-06-01,,,
D5,C3,2024-1001,invoice,EUR,1190.00,1190.00,2024-06-01,2024-07-01,,
D6,C1,INV-100190,invoice,EUR,99.00,0.00,2024-05-20,2024-06-19,,
"""
PAYMENTS = """payment_id,date,amount,currency,customer_id,payer_name,payer_account,reference
P1,2024-06-25,1190.00,EUR,C1,,,INV-100101
P2,2024-06-27,2332.89,EUR,,MUELLER MASCHINENBAU,,Rechnung 100102 abzgl. Skonto
P3,2024-06-27,1300.00,EUR,,,AT61 1904 3002 3457 3201,INV 100231
P4,2024-06-27,12.50,EUR,,DEUTSCHE BANK AG,,ZINSGUTSCHRIFT Q2
"""
CUSTOMERS = """customer_id,name,bank_accounts
C1,Mueller Maschinenbau GmbH,DE89 3704 0044 0532 0130 00
C2,Schmidt Logistik AG,AT611904300234573201;DE12500105170648489890
C3,Mueller Maschinenbau GmbH,
"""


def _files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "invoices": tmp_path / "invoices.csv",
        "payments": tmp_path / "payments.csv",
        "customers": tmp_path / "customers.csv",
    }
    for name, text in (("invoices", INVOICES), ("payments", PAYMENTS), ("customers", CUSTOMERS)):
        paths[name].write_text(text, encoding="utf-8")
    return paths


def _run(args: list[str]) -> list[dict[str, object]]:
    result = CliRunner().invoke(match_command, args)
    assert result.exit_code == 0, result.output
    out = Path(args[args.index("--out") + 1])
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_match_command_writes_one_json_line_per_payment_in_the_contract_shape(tmp_path: Path) -> None:
    f = _files(tmp_path)
    lines = _run(
        [
            "--invoices",
            str(f["invoices"]),
            "--payments",
            str(f["payments"]),
            "--customers",
            str(f["customers"]),
            "--as-of",
            "2024-06-28",
            "--out",
            str(tmp_path / "matches.jsonl"),
        ]
    )
    assert [line["payment_id"] for line in lines] == ["P1", "P2", "P3", "P4"]
    keys = {
        "payment_id",
        "status",
        "customer_id",
        "confidence",
        "rule",
        "applications",
        "unapplied",
        "explanation",
    }
    assert all(keys <= set(line) for line in lines)
    by_id = {line["payment_id"]: line for line in lines}
    assert by_id["P1"]["status"] == "auto"
    assert by_id["P1"]["applications"] == [
        {"invoice_id": "D1", "amount": "1190.00", "discount": "0", "writeoff": "0"}
    ]
    # 2% discount on 2380.50 is 47.61, taken on day 7 of 10.
    assert by_id["P2"]["applications"] == [
        {"invoice_id": "D2", "amount": "2332.89", "discount": "47.61", "writeoff": "0"}
    ]
    # 1500.00 less credit memo 200.00 = 1300.00, payer known by an account written with spaces.
    assert by_id["P3"]["customer_id"] == "C2"
    assert {a["invoice_id"]: a["amount"] for a in by_id["P3"]["applications"]} == {
        "D3": "1500.00",
        "D4": "-200.00",
    }
    assert (by_id["P4"]["status"], by_id["P4"]["applications"], by_id["P4"]["unapplied"]) == (
        "unmatched",
        [],
        "12.50",
    )


def test_match_command_reads_a_bank_statement_as_payments(tmp_path: Path) -> None:
    f = _files(tmp_path)
    lines = _run(
        [
            "--invoices",
            str(f["invoices"]),
            "--payments",
            str(DATA / "camt053_v02_sparkasse.xml"),
            "--customers",
            str(f["customers"]),
            "--as-of",
            "2024-06-28",
            "--out",
            str(tmp_path / "m.jsonl"),
        ]
    )
    by_id = {line["payment_id"]: line for line in lines}
    assert set(by_id) == {"2024062700001", "2024062700003-1", "2024062700003-2"}
    # The debtor IBAN is C1's, and the amount pays C1's invoice D1 to the cent.
    assert (by_id["2024062700001"]["status"], by_id["2024062700001"]["customer_id"]) == ("auto", "C1")
    assert by_id["2024062700003-1"]["applications"][0]["invoice_id"] == "D3"
    assert by_id["2024062700003-2"]["status"] == "unmatched"  # Weber is not a customer


def test_match_command_applies_rules_from_a_yaml_file(tmp_path: Path) -> None:
    f = _files(tmp_path)
    rules = tmp_path / "rules.yaml"
    rules.write_text("cashapp:\n  thresholds: {auto: 0.999, review: 0.3}\n", encoding="utf-8")
    lines = _run(
        [
            "--invoices",
            str(f["invoices"]),
            "--payments",
            str(f["payments"]),
            "--customers",
            str(f["customers"]),
            "--as-of",
            "2024-06-28",
            "--rules",
            str(rules),
            "--out",
            str(tmp_path / "m.jsonl"),
        ]
    )
    assert {line["payment_id"]: line["status"] for line in lines}["P3"] == "review"


def test_example_rules_file_is_valid() -> None:
    from rules.cashapp.settings import load_rules

    example = Path(__file__).resolve().parents[3] / "config" / "cashapp-rules.example.yaml"
    assert load_rules(example) == MatchRules()


def test_match_command_reports_a_bad_row_with_file_and_line(tmp_path: Path) -> None:
    f = _files(tmp_path)
    f["invoices"].write_text(INVOICES + "D9,C1,INV-9,invoice,EUR,abc,10.00,2024-05-20,,,\n", encoding="utf-8")
    result = CliRunner().invoke(
        match_command,
        [
            "--invoices",
            str(f["invoices"]),
            "--payments",
            str(f["payments"]),
            "--out",
            str(tmp_path / "m.jsonl"),
        ],
    )
    assert result.exit_code != 0
    assert "invoices.csv:8" in result.output


def _canonical() -> tuple[Invoice, Payment, Customer]:
    invoice = Invoice(
        remote_id="D1",
        remote_modified_at=NOW,
        customer_remote_id="C1",
        number="INV-100101",
        currency="EUR",
        issue_date=date(2024, 5, 20),
        total=Decimal("1190.00"),
        open_amount=Decimal("1190.00"),
    )
    payment = Payment(
        remote_id="PMT-7",
        remote_modified_at=NOW,
        version="3",
        date=date(2024, 6, 25),
        amount=Decimal("1190.00"),
        currency="EUR",
        unapplied_amount=Decimal("1190.00"),
        reference="INV-100101",
        payer_name="MM Maschinen Vertrieb",
        payer_account="DE44 5001 0517 5407 3249 31",
    )
    customer = Customer(
        remote_id="C1",
        remote_modified_at=NOW,
        name="Mueller Maschinenbau GmbH",
        bank_accounts=["DE89370400440532013000"],
    )
    return invoice, payment, customer


def test_auto_decision_on_an_erp_payment_becomes_a_payment_application_on_that_payment() -> None:
    invoice, payment, customer = _canonical()
    docs = DocumentIndex.from_models([invoice])
    result = match_payment(
        payment_from_model(payment),
        docs,
        CustomerIndex.from_models([customer]),
        MatchRules(),
        date(2024, 6, 28),
    )
    assert result.status == "auto"  # unknown account and name: the quoted invoice names the customer
    op = to_payment_application(result, payment)
    assert isinstance(op, PaymentApplication)
    assert (op.target_type, op.target_id, op.payment_id, op.base_version) == (
        TargetType.PAYMENT,
        "PMT-7",
        "PMT-7",
        "3",
    )
    assert [(a.target_id, a.amount) for a in op.allocations] == [("D1", Decimal("1190.00"))]
    assert op.reason is not None and result.rule in op.reason


def test_bank_line_becomes_a_new_payment_of_the_customer_with_discount_in_the_reason() -> None:
    line = PaymentInput(
        "BANK-1", date(2024, 6, 27), Decimal("2332.89"), "EUR", "C1", None, None, "INV-100102"
    )
    from rules.cashapp import OpenDocument

    doc = OpenDocument(
        "D2",
        "C1",
        "INV-100102",
        "invoice",
        "EUR",
        Decimal("2380.50"),
        Decimal("2380.50"),
        date(2024, 6, 20),
        None,
        Decimal("2"),
        10,
    )
    result = match_payment(line, DocumentIndex([doc]), CustomerIndex(), MatchRules(), date(2024, 6, 28))
    op = to_payment_application(result, line)
    assert (op.target_type, op.target_id, op.payment_id) == (TargetType.CUSTOMER, "C1", None)
    assert op.amount == Decimal("2332.89")
    assert op.reason is not None and "discount 47.61" in op.reason


def test_accepted_match_teaches_the_payers_account_and_name_as_aliases() -> None:
    _, payment, customer = _canonical()
    learned = learn_from_accepted(customer, payment)
    assert learned.bank_accounts == ["DE89370400440532013000", "DE44 5001 0517 5407 3249 31"]
    assert learned.aliases == ["MM Maschinen Vertrieb"]
    assert learn_from_accepted(learned, payment) == learned  # nothing is added twice
    index = CustomerIndex.from_models([learned])
    again = payment_from_model(payment.model_copy(update={"reference": "thanks"}))
    result = match_payment(again, DocumentIndex(), index, MatchRules(), date(2024, 6, 28))
    assert result.customer_id == "C1" and "bank account" in result.explanation


def test_quoted_fields_and_windows_line_ends_are_read_like_plain_ones(tmp_path: Path) -> None:
    from rules.cashapp.files import read_documents_csv

    plain = tmp_path / "plain.csv"
    plain.write_text(INVOICES, encoding="utf-8")
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(
        INVOICES.replace("INV-100101", '"INV-100101"').replace("\n", "\r\n"), encoding="utf-8"
    )
    as_rows = [(d.doc_id, d.number, d.open_amount, d.issue_date) for d in read_documents_csv(plain)]
    assert as_rows == [(d.doc_id, d.number, d.open_amount, d.issue_date) for d in read_documents_csv(quoted)]
    assert len(as_rows) == 5  # D6 is paid in full and skipped


def test_a_bad_row_after_a_quoted_line_break_is_reported_on_its_own_line(tmp_path: Path) -> None:
    from rules.cashapp.files import InputFileError, read_documents_csv

    path = tmp_path / "invoices.csv"
    path.write_text(
        INVOICES.replace("INV-100102", '"INV-100102\nsecond line"')
        + "D9,C1,INV-9,invoice,EUR,1,x,2024-05-20,,,\n",
        encoding="utf-8",
    )
    try:
        read_documents_csv(path)
    except InputFileError as exc:
        assert f"{path}:9:" in str(exc)  # line 3 holds a line break, so the 8th row starts on line 9
    else:
        raise AssertionError("the bad open_amount was not reported")


def test_each_matches_jsonl_line_is_the_json_of_its_decision(tmp_path: Path) -> None:
    f = _files(tmp_path)
    lines = _run(
        ["--invoices", str(f["invoices"]), "--payments", str(f["payments"]), "--customers",
         str(f["customers"]), "--as-of", "2024-06-28", "--out", str(tmp_path / "m.jsonl")]
    )
    text = (tmp_path / "m.jsonl").read_text(encoding="utf-8").splitlines()
    assert text == [json.dumps(line, ensure_ascii=False) for line in lines]
    assert any("≥" in line for line in text)  # written as UTF-8, not escaped
