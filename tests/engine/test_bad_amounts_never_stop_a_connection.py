"""An amount no ERP could hold is set aside line by line; the connection goes on writing back.

``NaN``, ``Infinity``, ``1E+30``, more decimals than the currency has, a negative or zero credit,
and MT940's damaged ``1O0,0X`` are fed through every reader: camt.053, BAI2, MT940, the CSV files
of ``arbridge match``, the CSV connector, and the QuickBooks and NetSuite mappings. Each reader
rejects the line (or record) with the reason and keeps the others; a daemon cycle then still
writes the other applications and statuses back to the ERP.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from config import load_config
from connectors.base import ConnectorContext
from connectors.csv import CsvConnector
from connectors.csv.sample import INVOICE_COLUMNS, write_csv, write_sample_exports
from connectors.netsuite.connector import MAPPING as NETSUITE_MAPPING
from connectors.quickbooks.connector import MAPPING_FILE as QUICKBOOKS_MAPPING
from engine.runner import open_store
from mapping import FieldMap, MappingError, Stream
from rules.cashapp.bank import read_bai2, read_camt053, read_mt940
from rules.cashapp.files import read_documents_csv, read_payments_csv
from store.cashapp import CashAppState
from tests.engine.test_statement_inbox import DATA, _applications, _config, _cycle

# Each bad amount as it is written in a decimal-point file, and the reason the reader gives.
BAD = {
    "NaN": "not a finite number",
    "Infinity": "not a finite number",
    "1E+30": "beyond any real amount",
    "10.005": "more decimals than EUR has (2)",
    "-12.00": "not money received",
}


def camt_entry(ref: str, amount: str) -> bytes:
    return (
        f'<Ntry><NtryRef>{ref}</NtryRef><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
        f"<Sts>BOOK</Sts><BookgDt><Dt>2024-06-27</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef></Ntry>\n"
    ).encode()


def camt_with_bad_lines() -> bytes:
    """The Sparkasse statement (three good credit lines) with one more line per bad amount."""
    raw = (DATA / "camt053_v02_sparkasse.xml").read_bytes()
    bad = b"".join(camt_entry(f"BAD-{n}", amount) for n, amount in enumerate(BAD))
    return raw.replace(b"</Stmt>", bad + b"</Stmt>")


@pytest.mark.parametrize("amount", list(BAD))
def test_camt053_sets_a_line_with_a_bad_amount_aside_and_reads_the_others(amount: str) -> None:
    raw = (DATA / "camt053_v02_sparkasse.xml").read_bytes()
    lines = read_camt053(raw.replace(b"</Stmt>", camt_entry("BAD-1", amount) + b"</Stmt>"))
    assert [str(p.amount) for p in lines] == [str(p.amount) for p in read_camt053(raw)]
    [rejected] = lines.rejected
    assert rejected.where.startswith("camt.053 ") and " entry " in rejected.where
    assert BAD[amount] in rejected.reason


MT940_BAD = {
    "1O0,0X": "not digits with a decimal comma",
    "NaN": "not digits with a decimal comma",
    "1E+30": "not digits with a decimal comma",
    "12,345": "more decimals than EUR has (2)",
    "0,00": "not money received",
    "1000000000000000,00": "not digits with a decimal comma",  # 16 digits: more than SWIFT's 15
}


@pytest.mark.parametrize("amount", list(MT940_BAD))
def test_mt940_sets_a_damaged_amount_aside_instead_of_reading_it_as_another_number(amount: str) -> None:
    raw = (DATA / "mt940_swift_keys.sta").read_bytes()
    good = read_mt940(raw)
    bad_line = (
        b":61:240627C" + amount.encode() + b"NTRFNONREF//B4F27PGHJ8ZZ\r\n:86:/NAME/SOMEONE/REMI/USTD//X\r\n"
    )
    damaged = raw.replace(b":62F:", bad_line + b":62F:", 1)
    lines = read_mt940(damaged)
    assert [(p.payment_id, p.amount) for p in lines] == [(p.payment_id, p.amount) for p in good]
    [rejected] = lines.rejected
    assert rejected.where.startswith("MT940 line ") and MT940_BAD[amount] in rejected.reason


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ("NaN", "not a whole number"),
        ("Infinity", "not a whole number"),
        ("1E+30", "not a whole number"),
        ("-1200", "not a whole number"),
        ("1" + "0" * 32, "beyond any real amount"),  # 10^30 dollars, written in cents
    ],
)
def test_bai2_sets_a_detail_with_a_bad_amount_aside_and_reads_the_others(amount: str, reason: str) -> None:
    raw = (DATA / "bai2_lockbox_ach.bai").read_text(encoding="latin-1")
    good = read_bai2(raw.encode("latin-1"))
    damaged = raw.replace("16,195,455000,0,FED0627001", f"16,195,{amount},0,FED0627001")
    if amount.isdigit():  # a bank's file adds its absurd amount up in the control totals too
        damaged = damaged.replace(",11351324,", f",{11351324 - 455000 + int(amount)},")
    lines = read_bai2(damaged.encode("latin-1"))
    assert [p.payment_id for p in lines] == [p.payment_id for p in good if p.payment_id != "FED0627001"]
    [rejected] = lines.rejected
    assert reason in rejected.reason


@pytest.mark.parametrize("amount", list(BAD))
def test_match_files_skip_a_payment_row_with_a_bad_amount_and_name_its_line(
    tmp_path: Path, amount: str
) -> None:
    path = tmp_path / "payments.csv"
    path.write_text(
        "payment_id,date,amount,currency\nP1,2024-06-27,100.00,EUR\n"
        f"P2,2024-06-27,{amount},EUR\nP3,2024-06-27,50.00,EUR\n",
        encoding="utf-8",
    )
    skipped: list[str] = []
    assert [p.payment_id for p in read_payments_csv(path, skipped)] == ["P1", "P3"]
    [line] = skipped
    assert line.startswith(f"{path}:3: ") and BAD[amount] in line


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "1E+30", "10.005"])
def test_match_files_skip_an_invoice_row_with_a_bad_amount_and_name_its_line(
    tmp_path: Path, amount: str
) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text(
        "invoice_id,customer_id,number,doc_type,currency,total,open_amount,issue_date\n"
        "D1,C1,INV-1,invoice,EUR,10.00,10.00,2024-05-01\n"
        f"D2,C1,INV-2,invoice,EUR,{amount},{amount},2024-05-01\n",
        encoding="utf-8",
    )
    skipped: list[str] = []
    assert [d.doc_id for d in read_documents_csv(path, skipped)] == ["D1"]
    [line] = skipped
    assert line.startswith(f"{path}:3: ") and BAD[amount] in line


CONNECTOR_REASONS = {
    "NaN": "finite number",
    "Infinity": "finite number",
    "1E+30": "beyond any real amount",
    "10.005": "more decimals than EUR has (2)",
}


@pytest.mark.parametrize("amount", list(CONNECTOR_REASONS))
def test_the_csv_connector_quarantines_an_invoice_with_a_bad_amount_and_reads_the_others(
    tmp_path: Path, amount: str
) -> None:
    folder = write_sample_exports(tmp_path / "erp")
    rows = [
        {"id": f"X{n}", "number": f"X-{n}", "customer_id": "101", "status": "Open", "currency": "EUR",
         "issue_date": "2024-03-01", "due_date": "2024-03-31", "total": total, "open_amount": total,
         "version": "1", "modified_at": "2024-03-01T00:00:00+00:00"}
        for n, total in enumerate(["100.00", amount])
    ]  # fmt: skip
    write_csv(folder / "invoices.csv", INVOICE_COLUMNS, rows)
    connector = CsvConnector.create({"folder": str(folder)}, ConnectorContext("shop"))
    pages = list(connector.read(Stream.INVOICES, None))
    assert [r.remote_id for p in pages for r in p.records] == ["X0"]
    [reject] = [r for p in pages for r in p.rejects]
    assert reject.remote_id == "X1" and reject.field_path == "total"
    assert CONNECTOR_REASONS[amount] in reject.reason and "invoices.csv line 3" in reject.reason


def quickbooks_payment(amount: object) -> dict[str, object]:
    return {
        "Id": "77", "SyncToken": "0", "MetaData": {"LastUpdatedTime": "2024-06-27T10:00:00-07:00"},
        "CustomerRef": {"value": "1", "name": "Amy's Bird Sanctuary"}, "TxnDate": "2024-06-27",
        "TotalAmt": amount, "CurrencyRef": {"value": "USD"}, "UnappliedAmt": 0,
    }  # fmt: skip


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "1E+30", "10.005", 1e30, float("nan")])
def test_the_quickbooks_mapping_refuses_a_payment_with_a_bad_amount(amount: object) -> None:
    fieldmap = FieldMap.load(QUICKBOOKS_MAPPING)
    assert fieldmap.to_record(Stream.PAYMENTS, quickbooks_payment("125.50")).amount == Decimal("125.50")
    with pytest.raises(MappingError) as refused:
        fieldmap.to_record(Stream.PAYMENTS, quickbooks_payment(amount))
    assert refused.value.remote_id == "77" and "amount" in str(refused.value)


def netsuite_payment(total: str) -> dict[str, object]:
    return {
        "internalId": "501", "lastModifiedDate": "2024-06-27T10:00:00.000-07:00",
        "customer": {"internalId": "12"}, "tranDate": "2024-06-27T00:00:00.000-07:00",
        "total": total, "currencyName": "USD",
    }  # fmt: skip


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "1E+30", "10.005"])
def test_the_netsuite_mapping_refuses_a_payment_with_a_bad_amount(amount: str) -> None:
    fieldmap = FieldMap.load(NETSUITE_MAPPING)
    good = fieldmap.to_record(Stream.PAYMENTS, netsuite_payment("125.50"), unapplied_amount=Decimal(0))
    assert good.amount == Decimal("125.50")
    with pytest.raises(MappingError) as refused:
        fieldmap.to_record(Stream.PAYMENTS, netsuite_payment(amount), unapplied_amount=Decimal(0))
    assert refused.value.remote_id == "501" and "amount" in str(refused.value)


def test_bad_statement_lines_and_records_are_set_aside_and_the_cycle_writes_the_others_back(
    tmp_path: Path,
) -> None:
    cfg = _config(tmp_path)
    (tmp_path / "inbox" / "2024-06-27.xml").write_bytes(camt_with_bad_lines())
    shutil.copy(DATA / "mt940_swift_keys.sta", tmp_path / "inbox" / "abn.sta")
    mt940 = (tmp_path / "inbox" / "abn.sta").read_bytes()
    (tmp_path / "inbox" / "abn.sta").write_bytes(
        mt940.replace(b":62F:", b":61:240627C1O0,0XNTRFNONREF//B4F27PGHJ8ZZ\r\n:62F:", 1)
    )
    assert _cycle(cfg) == "ok"
    # Every good line became an application in the ERP (the MT940 credit pays what the camt.053's
    # third line paid already, so it waits for a clerk).
    assert sorted(a["target_id"] for a in _applications(tmp_path)) == ["C1", "C2", "C3"]

    store = open_store(load_config(cfg))
    reasons = [q["reason"] for q in store.quarantined("shop") if q["stream"] == "bank_statements"]
    assert len(reasons) == len(BAD) + 1
    assert all(any(why in r for r in reasons) for why in BAD.values())
    assert any("not digits with a decimal comma" in r for r in reasons)
    files = {s["file_name"]: (s["status"], s["lines"]) for s in CashAppState(store).statements("shop")}
    assert files == {"2024-06-27.xml": ("imported", 3), "abn.sta": ("imported", 1)}
    assert "B4F27PGHJ8XX" in {m["payment_id"] for m in store.match_results("shop")}
    store.close()


def test_a_bad_amount_stored_by_an_older_release_stops_only_its_own_line(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    shutil.copy(DATA / "camt053_v02_sparkasse.xml", tmp_path / "inbox" / "2024-06-27.xml")
    store = open_store(load_config(cfg))
    # What an older release imported from a statement with "NaN" in it, before lines were checked.
    with store.transaction() as conn:
        from store import schema as t

        conn.execute(
            t.bank_lines.insert().values(
                connection="shop",
                line_id="OLD-NAN",
                content_hash="0" * 64,
                data=json.dumps(
                    {
                        "payment_id": "OLD-NAN",
                        "date": "2024-06-26",
                        "amount": "NaN",
                        "currency": "EUR",
                        "customer_id": None,
                        "payer_name": "Mueller Maschinenbau",
                        "payer_account": None,
                        "reference": "2024-1001",
                    }
                ),
                imported_at="2024-06-26T00:00:00+00:00",
            )
        )
    store.close()

    assert _cycle(cfg) == "ok"
    assert sorted(a["target_id"] for a in _applications(tmp_path)) == ["C1", "C2", "C3"]
    store = open_store(load_config(cfg))
    [aside] = [q for q in store.quarantined("shop") if q["remote_id"] == "OLD-NAN"]
    assert "the matcher cannot decide this payment" in aside["reason"]
    store.close()
    assert _cycle(cfg) == "ok"  # and every later cycle too


def test_a_payment_the_matcher_fails_on_is_set_aside_and_the_others_are_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rules.cashapp.matcher as matcher

    decide = matcher.match_payment

    def fails_on_one(payment, *args, **kwargs):
        if payment.payment_id == "2024062700001":
            raise ArithmeticError("a bug met by this payment alone")
        return decide(payment, *args, **kwargs)

    monkeypatch.setattr(matcher, "match_payment", fails_on_one)
    cfg = _config(tmp_path)
    shutil.copy(DATA / "camt053_v02_sparkasse.xml", tmp_path / "inbox" / "2024-06-27.xml")
    assert _cycle(cfg) == "ok"
    assert sorted(a["target_id"] for a in _applications(tmp_path)) == ["C2", "C3"]
    store = open_store(load_config(cfg))
    [aside] = [q for q in store.quarantined("shop") if q["remote_id"] == "2024062700001"]
    assert "a bug met by this payment alone" in aside["reason"]
    store.close()
