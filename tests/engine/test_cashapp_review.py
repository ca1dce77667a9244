"""A clerk works the cash-application review queue with ``arbridge review``, from listing to the ERP."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from config import load_config
from connectors.csv.sample import write_csv
from engine.runner import deciders_for, open_store, sync_connection
from store.cashapp import CashAppState
from sync_daemon import cli

AS_OF = datetime(2024, 6, 28, 9, 0, tzinfo=UTC)
STAMP = "2024-06-20T10:00:00+00:00"

CUSTOMERS = [
    {"id": "C1", "name": "Mueller Maschinenbau GmbH", "bank_accounts": "DE89370400440532013000"},
    {"id": "C2", "name": "Schmidt Logistik AG", "bank_accounts": "AT611904300234573201"},
]
INVOICES = [
    {"id": "D1", "number": "INV-1001", "customer_id": "C1", "total": "1190.00", "open_amount": "1190.00"},
    {"id": "D2", "number": "INV-1002", "customer_id": "C1", "total": "512.40", "open_amount": "512.40"},
    {"id": "D3", "number": "INV-2001", "customer_id": "C2", "total": "980.00", "open_amount": "980.00"},
]
PAYMENTS = [
    # Known only by name, no reference: the amount fits one invoice, but not surely enough.
    {"id": "PMT-1", "amount": "512.40", "payer_name": "MUELLER MASCHINENBAU",
     "payer_account": "DE44 5001 0517 5407 3249 31", "reference": "Zahlung"},
    # Same account, a name nobody knows: unmatched until the account is learned.
    {"id": "PMT-2", "amount": "1190.00", "payer_name": "M.M. VERTRIEB",
     "payer_account": "de44-5001-0517-5407-3249-31", "reference": "Zahlung"},
    # Known by name, a partial payment quoting C2's invoice with a typo the amount cannot confirm.
    {"id": "PMT-3", "amount": "500.00", "payer_name": "SCHMIDT LOGISTIK", "reference": "Abschlag INV-2010"},
]  # fmt: skip


def _exports(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(
        folder / "customers.csv",
        ["id", "name", "bank_accounts", "version", "modified_at"],
        [{**c, "version": "1", "modified_at": STAMP} for c in CUSTOMERS],
    )
    write_csv(
        folder / "invoices.csv",
        [
            "id",
            "number",
            "customer_id",
            "currency",
            "issue_date",
            "due_date",
            "total",
            "open_amount",
            "version",
            "modified_at",
        ],
        [
            {
                **i,
                "currency": "EUR",
                "issue_date": "2024-05-20",
                "due_date": "2024-06-19",
                "version": "1",
                "modified_at": STAMP,
            }
            for i in INVOICES
        ],
    )
    write_csv(
        folder / "credit_memos.csv",
        ["id", "number", "customer_id", "currency", "issue_date", "total", "open_amount", "modified_at"],
        [],
    )
    write_csv(
        folder / "payments.csv",
        [
            "id",
            "customer_id",
            "date",
            "amount",
            "currency",
            "unapplied_amount",
            "reference",
            "payer_name",
            "payer_account",
            "version",
            "modified_at",
        ],
        [
            {
                **p,
                "date": "2024-06-27",
                "currency": "EUR",
                "unapplied_amount": p["amount"],
                "version": "1",
                "modified_at": STAMP,
            }
            for p in PAYMENTS
        ],
    )
    return folder


def _config(tmp_path: Path) -> Path:
    exports = _exports(tmp_path / "exports")
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
  cashapp: {{enabled: true}}
""",
        encoding="utf-8",
    )
    return path


def _cycle(cfg_path: Path) -> None:
    cfg = load_config(cfg_path)
    store = open_store(cfg)
    conn = cfg.connections[0]
    sync_connection(cfg, conn, store, deciders=deciders_for(cfg, conn), as_of=AS_OF)
    store.close()


def _review(cfg_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["review", "-c", str(cfg_path), *args], catch_exceptions=False)
    return result.exit_code, result.output


def _applications(tmp_path: Path) -> list[dict[str, str]]:
    path = tmp_path / "exports" / "writeback.csv"
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["op_type"] == "payment_application"]


def _verdicts(cfg_path: Path) -> dict[str, str]:
    store = open_store(load_config(cfg_path))
    try:
        return {r["payment_id"]: r["status"] for r in store.match_results("shop")}
    finally:
        store.close()


def test_a_clerk_accepts_a_match_it_reaches_the_erp_once_and_the_payers_account_is_learned(
    tmp_path: Path,
) -> None:
    cfg = _config(tmp_path)
    _cycle(cfg)
    assert _verdicts(cfg) == {"PMT-1": "review", "PMT-2": "unmatched", "PMT-3": "review"}
    assert _applications(tmp_path) == []

    code, listing = _review(cfg)
    assert code == 0
    assert "PMT-1" in listing and "D2: 512.40" in listing and "confidence 0.89" in listing
    assert "2 item(s) waiting for review" in listing

    code, out = _review(cfg, "accept", "PMT-1", "--by", "anna")
    assert code == 0, out
    assert "payment application queued" in out
    assert "learned bank_account DE44 5001 0517 5407 3249 31" in out
    code, out = _review(cfg, "accept", "PMT-1", "--by", "ben")
    assert code == 1 and "not waiting for review (it is accepted)" in out

    _cycle(cfg)  # writes the accepted application; PMT-2's account is now C1's
    _cycle(cfg)  # nothing is written twice
    applied = {
        (a["target_id"], a["payload"].count("D1"), a["payload"].count("D2")) for a in _applications(tmp_path)
    }
    assert len(_applications(tmp_path)) == 2
    assert applied == {("PMT-1", 0, 1), ("PMT-2", 1, 0)}
    assert _verdicts(cfg)["PMT-2"] == "auto"

    store = open_store(load_config(cfg))
    events = [e["event"] for e in store.audit_entries("shop", limit=500)]
    assert "review_accepted" in events
    assert store.verify_audit() == []
    assert CashAppState(store).learned("shop") == {
        "C1": {"bank_account": ["DE44 5001 0517 5407 3249 31"], "name": []}
    }
    store.close()


def test_a_clerk_changes_a_proposal_within_what_is_open(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    _cycle(cfg)
    code, out = _review(cfg, "change", "PMT-3", "--apply", "D3=600.00", "--by", "anna")
    assert code == 1 and "more than the 500.00 unapplied" in out
    code, out = _review(cfg, "change", "PMT-3", "--apply", "D9=100")
    assert code == 1 and "no open invoice or credit memo 'D9'" in out
    code, out = _review(cfg, "change", "PMT-3", "--apply", "D3=ten")
    assert code == 2 and "INVOICE=AMOUNT" in out
    code, out = _review(cfg, "change", "PMT-3", "--apply", "D3=500.00", "--by", "anna")
    assert code == 0, out

    _cycle(cfg)
    (only,) = [a for a in _applications(tmp_path) if a["target_id"] == "PMT-3"]
    assert '"target_id":"D3"' in only["payload"].replace(" ", "") and '"500.00"' in only["payload"]
    assert _verdicts(cfg)["PMT-3"] == "accepted"


def test_a_rejected_match_is_not_applied_nor_proposed_again(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    _cycle(cfg)
    code, out = _review(cfg, "reject", "PMT-3", "--reason", "customer asked for a refund", "--by", "anna")
    assert code == 0 and "rejected" in out
    _cycle(cfg)
    assert _verdicts(cfg)["PMT-3"] == "rejected"
    assert [a for a in _applications(tmp_path) if a["target_id"] == "PMT-3"] == []
    code, listing = _review(cfg)
    assert "PMT-3" not in listing
    store = open_store(load_config(cfg))
    (entry,) = [e for e in store.audit_entries("shop", limit=500) if e["event"] == "review_rejected"]
    assert "refund" in entry["detail"] and "anna" in entry["detail"]
    store.close()


def test_an_unknown_payment_id_is_refused(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    _cycle(cfg)
    result = CliRunner().invoke(cli, ["review", "-c", str(cfg), "accept", "NOPE"])
    assert result.exit_code == 1 and "no match result for payment 'NOPE'" in result.output


def _payload(tmp_path: Path, payment_id: str) -> dict[str, Any]:
    (only,) = [a for a in _applications(tmp_path) if a["target_id"] == payment_id]
    return dict(json.loads(only["payload"]))


def test_clerk_changes_a_match_with_a_discount_taken_and_a_fee_written_off(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    _cycle(cfg)
    code, out = _review(
        cfg, "change", "PMT-3", "--apply", "D3=500.00", "--discount", "D3=19.60", "--writeoff", "D3=0.40",
        "--by", "anna",
    )  # fmt: skip
    assert code == 0, out

    _cycle(cfg)
    (allocation,) = _payload(tmp_path, "PMT-3")["allocations"]
    assert (allocation["target_id"], allocation["amount"]) == ("D3", "500.00")
    assert (allocation["discount"], allocation["writeoff"]) == ("19.60", "0.40")
    assert "INV-2001: discount 19.60; INV-2001: write-off 0.40" in _payload(tmp_path, "PMT-3")["reason"]

    store = open_store(load_config(cfg))
    (entry,) = [e for e in store.audit_entries("shop", limit=500) if e["event"] == "review_changed"]
    (applied,) = json.loads(entry["detail"])["applications"]
    assert applied == {"invoice_id": "D3", "amount": "500.00", "discount": "19.60", "writeoff": "0.40"}
    store.close()


def test_a_discount_or_write_off_the_clerk_cannot_grant_is_refused_with_the_reason(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    _cycle(cfg)
    code, out = _review(cfg, "change", "PMT-3", "--apply", "D3=500.00", "--discount", "D1=10.00")
    assert code == 1 and "--discount D1: the document is not among the --apply ones" in out
    code, out = _review(cfg, "change", "PMT-3", "--apply", "D3=500.00", "--writeoff", "D3=-1")
    assert code == 2 and "an amount of 0 or more" in out
    code, out = _review(
        cfg, "change", "PMT-3", "--apply", "D3=500.00", "--discount", "D3=1", "--discount", "D3=2"
    )
    assert code == 2 and "--discount given twice for D3" in out
    code, out = _review(
        cfg, "change", "PMT-3", "--apply", "D3=500.00", "--discount", "D3=470.00", "--writeoff", "D3=20.00"
    )
    assert code == 1
    assert "D3: cash 500.00 + discount 470.00 + write-off 20.00 = 990.00 is more than its open amount" in out
    assert _verdicts(cfg)["PMT-3"] == "review"
    assert _applications(tmp_path) == []


def test_a_clerk_forgets_a_wrongly_learned_account_and_its_payments_are_no_longer_auto_applied(
    tmp_path: Path,
) -> None:
    cfg = _config(tmp_path)
    _cycle(cfg)
    code, out = _review(cfg, "accept", "PMT-1", "--by", "anna")
    assert code == 0, out

    code, listing = _review(cfg, "aliases")
    assert code == 0
    assert "C1  [shop]  Mueller Maschinenbau GmbH" in listing
    assert "bank account  DE44 5001 0517 5407 3249 31  (from payment PMT-1 by anna, " in listing
    assert "1 learned alias(es)" in listing

    # Typed as on the bank's letter, without spaces: still the learned account.
    code, out = _review(
        cfg, "forget", "--customer", "C1", "--account", "de44500105175407324931", "--by", "ben"
    )
    assert code == 0, out
    assert "C1: forgot bank account DE44 5001 0517 5407 3249 31" in out
    code, out = _review(cfg, "forget", "--customer", "C1", "--account", "DE44500105175407324931")
    assert code == 1 and "customer C1 has no learned bank account 'DE44500105175407324931'" in out

    _cycle(cfg)  # PMT-1's application is written; PMT-2, from the forgotten account, is not
    assert [a["target_id"] for a in _applications(tmp_path)] == ["PMT-1"]
    assert _verdicts(cfg)["PMT-2"] == "unmatched"
    assert _review(cfg, "aliases")[1].strip() == "nothing learned"

    store = open_store(load_config(cfg))
    assert CashAppState(store).learned("shop") == {}
    (entry,) = [e for e in store.audit_entries("shop", limit=500) if e["event"] == "alias_forgotten"]
    detail = json.loads(entry["detail"])
    assert (detail["by"], detail["values"]) == ("ben", ["DE44 5001 0517 5407 3249 31"])
    assert detail["taught"][0]["by"] == "anna" and detail["taught"][0]["payment_id"] == "PMT-1"
    assert store.verify_audit() == []
    store.close()


def test_forget_wants_exactly_one_of_account_or_name(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    _cycle(cfg)
    code, out = _review(cfg, "forget", "--customer", "C1")
    assert code == 2 and "give one of --account or --name" in out
    code, out = _review(cfg, "forget", "--customer", "C1", "--account", "X", "--name", "Y")
    assert code == 2 and "give one of --account or --name" in out
    code, out = _review(cfg, "forget", "--customer", "C1", "--name", "MUELLER MASCHINENBAU")
    assert code == 1 and "customer C1 has no learned name 'MUELLER MASCHINENBAU'" in out


def test_an_application_the_erp_refused_and_an_admin_dropped_comes_back_to_the_clerk(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    exports = tmp_path / "exports"
    with open(exports / "payments.csv", newline="", encoding="utf-8") as fh:
        payments = list(csv.DictReader(fh))
    payments.append({**payments[0], "id": "PMT-4", "amount": "1190.00", "unapplied_amount": "1190.00",
                     "payer_account": "DE89370400440532013000", "reference": "INV-1001"})  # fmt: skip
    write_csv(exports / "payments.csv", list(payments[0]), payments)
    # The first cycle decides but cannot write: the ERP is refusing applications (period closed).
    cfg.write_text(cfg.read_text().replace("{enabled: true}", "{enabled: false}", 1), encoding="utf-8")
    _cycle(cfg)
    assert _verdicts(cfg)["PMT-4"] == "auto"
    store = open_store(load_config(cfg))
    [queued] = store.outbox_rows("shop", status="pending")
    store.mark_parked(queued.key, error="Accounting period 2024-06 is closed", kind="bad_record")
    store.close()
    dropped = CliRunner().invoke(
        cli, ["outbox", "drop", "-c", str(cfg), queued.key[:12], "--note", "book it in July instead"]
    )
    assert dropped.exit_code == 0, dropped.output

    cfg.write_text(cfg.read_text().replace("{enabled: false}", "{enabled: true}", 1), encoding="utf-8")
    _cycle(cfg)

    assert _verdicts(cfg)["PMT-4"] == "review" and _applications(tmp_path) == []
    code, listing = _review(cfg)
    assert "PMT-4" in listing and "The ERP refused this application and an admin dropped it" in listing
    code, out = _review(cfg, "accept", "PMT-4", "--by", "anna")
    assert code == 1 and "refused by the ERP and dropped by an admin" in out
    assert _verdicts(cfg)["PMT-4"] == "review"  # still the clerk's to decide
    code, out = _review(cfg, "reject", "PMT-4", "--by", "anna", "--reason", "applied by hand in July")
    assert code == 0, out
    _cycle(cfg)
    assert _verdicts(cfg)["PMT-4"] == "rejected" and _applications(tmp_path) == []
