"""Bank statements dropped in the inbox folder are matched like payments, each file once."""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from config import load_config
from connectors.csv.sample import write_csv
from engine.runner import deciders_for, open_store, sync_connection
from store.cashapp import CashAppState
from sync_daemon import cli

DATA = Path(__file__).resolve().parents[1] / "rules" / "cashapp" / "data"
AS_OF = datetime(2024, 6, 28, 18, 0, tzinfo=UTC)
STAMP = "2024-06-20T10:00:00+00:00"

CUSTOMERS = [
    {"id": "C1", "name": "Mueller Maschinenbau GmbH", "bank_accounts": "DE89370400440532013000"},
    {"id": "C2", "name": "Schmidt Logistik AG", "bank_accounts": "AT611904300234573201"},
    {"id": "C3", "name": "Weber Elektrotechnik e.K.", "bank_accounts": ""},
]
INVOICES = [
    {"id": "D1", "number": "2024-1001", "customer_id": "C1", "total": "1190.00"},
    {"id": "D2", "number": "INV-100231", "customer_id": "C2", "total": "1500.00"},
    {"id": "D3", "number": "INV-100244", "customer_id": "C3", "total": "700.00"},
    {"id": "D4", "number": "INV-100245", "customer_id": "C3", "total": "537.32"},
]
# A camt.053 entry without a booking or value date cannot be placed in time.
BROKEN_CAMT = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt><Id>S1</Id>
<Ntry><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts></Ntry>
</Stmt></BkToCstmrStmt></Document>
"""
# Cut off by a transfer that died: the file as a whole cannot be read.
TRUNCATED_CAMT = BROKEN_CAMT[: BROKEN_CAMT.index(b"</Stmt>")]


def _config(tmp_path: Path, auto_threshold: float = 0.9) -> Path:
    exports = tmp_path / "exports"
    exports.mkdir()
    write_csv(
        exports / "customers.csv",
        ["id", "name", "bank_accounts", "version", "modified_at"],
        [{**c, "version": "1", "modified_at": STAMP} for c in CUSTOMERS],
    )
    write_csv(
        exports / "invoices.csv",
        [
            "id",
            "number",
            "customer_id",
            "currency",
            "issue_date",
            "total",
            "open_amount",
            "version",
            "modified_at",
        ],
        [
            {
                **i,
                "open_amount": i["total"],
                "currency": "EUR",
                "issue_date": "2024-06-01",
                "version": "1",
                "modified_at": STAMP,
            }
            for i in INVOICES
        ],
    )
    write_csv(
        exports / "credit_memos.csv",
        ["id", "customer_id", "currency", "issue_date", "total", "open_amount", "modified_at"],
        [],
    )
    write_csv(
        exports / "payments.csv", ["id", "date", "amount", "currency", "unapplied_amount", "modified_at"], []
    )
    (tmp_path / "inbox").mkdir()
    path = tmp_path / "arbridge.yaml"
    path.write_text(
        f"""version: 1
store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
connections:
  - name: shop
    connector: csv
    settings: {{folder: "{exports}"}}
    write_back: {{enabled: true}}
rules:
  cashapp:
    enabled: true
    auto_threshold: {auto_threshold}
    statements: {{inbox: inbox}}
""",
        encoding="utf-8",
    )
    return path


def _cycle(cfg_path: Path) -> str:
    cfg = load_config(cfg_path)
    store = open_store(cfg)
    conn = cfg.connections[0]
    report = sync_connection(cfg, conn, store, deciders=deciders_for(cfg, conn), as_of=AS_OF)
    store.close()
    return report.status


def _applications(tmp_path: Path) -> list[dict[str, str]]:
    path = tmp_path / "exports" / "writeback.csv"
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["op_type"] == "payment_application"]


def test_statement_lines_are_applied_in_the_erp_once_however_often_the_file_is_dropped(
    tmp_path: Path,
) -> None:
    cfg = _config(tmp_path)
    shutil.copy(DATA / "camt053_v02_sparkasse.xml", tmp_path / "inbox" / "2024-06-27.xml")
    assert _cycle(cfg) == "ok"
    first = _applications(tmp_path)
    # Each credit line becomes a new payment of its customer, applied to the invoices it pays.
    assert sorted((a["target_type"], a["target_id"]) for a in first) == [
        ("customer", "C1"),
        ("customer", "C2"),
        ("customer", "C3"),
    ]
    assert "2024062700001" in next(a["payload"] for a in first if a["target_id"] == "C1")

    shutil.copy(DATA / "camt053_v02_sparkasse.xml", tmp_path / "inbox" / "copy-of-2024-06-27.xml")
    assert _cycle(cfg) == "ok"
    assert _cycle(cfg) == "ok"
    assert len(_applications(tmp_path)) == 3

    store = open_store(load_config(cfg))
    state = CashAppState(store)
    assert [(s["file_name"], s["status"], s["lines"]) for s in state.statements("shop")] == [
        ("2024-06-27.xml", "imported", 3)
    ]
    assert {r["payment_id"]: r["status"] for r in store.match_results("shop")} == {
        "2024062700001": "auto",
        "2024062700003-1": "auto",
        "2024062700003-2": "auto",
    }
    store.close()


def test_a_statement_line_or_file_that_cannot_be_read_is_quarantined_with_its_reason_and_the_cycle_goes_on(
    tmp_path: Path,
) -> None:
    cfg = _config(tmp_path)
    (tmp_path / "inbox" / "broken.xml").write_bytes(BROKEN_CAMT)
    (tmp_path / "inbox" / "readme.txt").write_text("statements go here\n", encoding="utf-8")
    shutil.copy(DATA / "mt940_swift_keys.sta", tmp_path / "inbox" / "abn.sta")
    assert _cycle(cfg) == "ok"
    assert [a["target_id"] for a in _applications(tmp_path)] == ["C3"]  # the MT940 line was applied

    store = open_store(load_config(cfg))
    reasons = {q["remote_id"]: q["reason"] for q in store.quarantined("shop")}
    # The entry without a date is set aside, not the file: it names the file and the entry.
    [line] = [where for where in reasons if where.startswith("broken.xml: camt.053")]
    assert "entry" in line and reasons[line] == "no booking or value date"
    assert reasons["readme.txt"] == "not a camt.053, BAI2 or MT940 statement"
    store.close()
    assert _cycle(cfg) == "ok"  # a quarantined file is not read again
    status = CliRunner().invoke(cli, ["status", "-c", str(cfg)]).output
    assert "quarantine: 2 record(s)" in status


def test_a_statement_line_the_matcher_is_unsure_of_waits_for_a_clerk(tmp_path: Path) -> None:
    cfg = _config(tmp_path, auto_threshold=0.99)
    shutil.copy(DATA / "mt940_swift_keys.sta", tmp_path / "inbox" / "abn.sta")
    _cycle(cfg)
    assert _applications(tmp_path) == []
    listing = CliRunner().invoke(cli, ["review", "-c", str(cfg)]).output
    assert "B4F27PGHJ8XX" in listing and "WEBER ELEKTROTECHNIK" in listing

    accepted = CliRunner().invoke(cli, ["review", "-c", str(cfg), "accept", "B4F27PGHJ8XX", "--by", "anna"])
    assert accepted.exit_code == 0, accepted.output
    _cycle(cfg)
    _cycle(cfg)
    (only,) = _applications(tmp_path)
    assert (only["target_type"], only["target_id"]) == ("customer", "C3")


def _inbox_files(tmp_path: Path) -> dict[str, bytes]:
    inbox = tmp_path / "inbox"
    return {str(p.relative_to(inbox)): p.read_bytes() for p in sorted(inbox.rglob("*")) if p.is_file()}


def test_an_imported_statement_leaves_the_inbox_for_imported_and_a_name_clash_overwrites_nothing(
    tmp_path: Path,
) -> None:
    cfg = _config(tmp_path)
    camt = (DATA / "camt053_v02_sparkasse.xml").read_bytes()
    (tmp_path / "inbox" / "2024-06-27.xml").write_bytes(camt)
    assert _cycle(cfg) == "ok"
    assert _inbox_files(tmp_path) == {"imported/2024-06-27.xml": camt}

    # The bank delivers the same statement again under the same name: moved aside, not imported.
    (tmp_path / "inbox" / "2024-06-27.xml").write_bytes(camt)
    assert _cycle(cfg) == "ok"
    assert _inbox_files(tmp_path) == {"imported/2024-06-27.xml": camt, "imported/2024-06-27-1.xml": camt}
    assert len(_applications(tmp_path)) == 3

    # Another statement under a name already taken in imported/: both kept.
    mt940 = (DATA / "mt940_swift_keys.sta").read_bytes()
    (tmp_path / "inbox" / "2024-06-27.xml").write_bytes(mt940)
    assert _cycle(cfg) == "ok"
    assert _inbox_files(tmp_path) == {
        "imported/2024-06-27.xml": camt,
        "imported/2024-06-27-1.xml": camt,
        "imported/2024-06-27-2.xml": mt940,
    }
    store = open_store(load_config(cfg))
    assert sorted(s["file_name"] for s in CashAppState(store).statements("shop")) == [
        "2024-06-27.xml",
        "2024-06-27.xml",
    ]
    store.close()


def test_a_statement_that_cannot_be_read_goes_to_rejected_with_the_parse_error_beside_it(
    tmp_path: Path,
) -> None:
    cfg = _config(tmp_path)
    (tmp_path / "inbox" / "broken.xml").write_bytes(TRUNCATED_CAMT)
    (tmp_path / "inbox" / "readme.txt").write_text("statements go here\n", encoding="utf-8")
    shutil.copy(DATA / "mt940_swift_keys.sta", tmp_path / "inbox" / "abn.sta")
    assert _cycle(cfg) == "ok"

    files = _inbox_files(tmp_path)
    assert sorted(files) == [
        "imported/abn.sta",
        "rejected/broken.xml",
        "rejected/broken.xml.reason.txt",
        "rejected/readme.txt",
        "rejected/readme.txt.reason.txt",
    ]
    assert files["rejected/broken.xml"] == TRUNCATED_CAMT
    assert b"not well-formed" in files["rejected/broken.xml.reason.txt"]
    assert files["rejected/readme.txt.reason.txt"] == b"not a camt.053, BAI2 or MT940 statement\n"

    # Dropped again: rejected again beside the first, with its own reason, and quarantined once.
    (tmp_path / "inbox" / "broken.xml").write_bytes(TRUNCATED_CAMT)
    assert _cycle(cfg) == "ok"
    assert b"not well-formed" in _inbox_files(tmp_path)["rejected/broken-1.xml.reason.txt"]
    store = open_store(load_config(cfg))
    assert sorted(q["remote_id"] for q in store.quarantined("shop")) == ["broken.xml", "readme.txt"]
    store.close()
