"""A newcomer's first day with dunning: the built-in policy, check's warnings, statuses that hold,
calls recorded, and a worklist that says what stops the call."""

from __future__ import annotations

import csv
import json
import textwrap
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from config import load_config
from engine.runner import open_store, sync_connection
from store.dunning import DunningActions
from sync_daemon import cli
from tests.engine.dunning_fixtures import AS_OF, TODAY, customer_row, invoice_row, write_exports


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def exports(tmp_path: Path) -> Path:
    return write_exports(
        tmp_path / "exports",
        [
            customer_row("C1", "Anker Logistik", "ap@anker.example"),
            customer_row("C2", "Busy Bakery", "busy@bakery.example", currency="USD"),
        ],
        [
            invoice_row("1", "C1", TODAY - timedelta(days=10), "500.00"),
            invoice_row("2", "C1", TODAY - timedelta(days=40), "120.00"),
            invoice_row("3", "C2", TODAY - timedelta(days=15), "750.00", currency="USD"),
        ],
    )


def config(tmp_path: Path, dunning: str, *, write_back: bool = True) -> Path:
    path = tmp_path / "arbridge.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            version: 1
            store: {{url: "sqlite:///state/arbridge.sqlite"}}
            connections:
              - name: shop
                connector: csv
                settings: {{folder: "{exports(tmp_path)}"}}
                write_back: {{enabled: {str(write_back).lower()}}}
            rules:
              dunning: {dunning}
            """
        )
    )
    path.chmod(0o600)
    return path


def cycle(path: Path, offset: timedelta = timedelta(0)) -> None:
    cfg = load_config(path)
    store = open_store(cfg)
    sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF + offset)
    store.close()


def statuses(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "exports" / "writeback.csv"
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return [json.loads(r["payload"]) for r in csv.DictReader(fh) if r["op_type"] == "collection_status"]


def test_dunning_enabled_without_a_policy_uses_the_built_in_one(tmp_path: Path) -> None:
    path = config(tmp_path, "{enabled: true, channels: {letter: {dir: letters}}}")
    cycle(path)
    store = open_store(load_config(path))
    rows = DunningActions(store).with_status("shop", ["planned", "sent"])
    store.close()
    # The built-in policy's first reminder, at 7 days overdue, goes by e-mail first; there is no
    # e-mail channel here, so both wait for one (and nothing is written as reminded).
    assert {(r.customer_id, r.level, r.channel, r.status) for r in rows} == {
        ("C1", 1, "email", "planned"),
        ("C2", 1, "email", "planned"),
    }
    code, out, _ = invoke("check", "-c", str(path))
    assert code == 0
    assert "note: rules.dunning.policy: none configured: the built-in policy is used" in out


def test_nothing_is_written_as_reminded_until_the_reminder_went_out(tmp_path: Path) -> None:
    path = config(tmp_path, "{enabled: true}")
    cycle(path)
    assert statuses(tmp_path) == []  # two reminders planned, no channel: the ERP keeps what holds
    code, out, _ = invoke("dunning", "preview", "-c", str(path), "--as-of", AS_OF.isoformat())
    assert code == 0 and "waits: no email channel is configured" in out

    store = open_store(load_config(path))
    [row] = [r for r in DunningActions(store).with_status("shop", ["planned"]) if r.customer_id == "C1"]
    store.close()
    # A person confirms the reminder reached the customer another way: now its status is written.
    code, out, _ = invoke("dunning", "mark-sent", "-c", str(path), row.key, "--note", "sent by hand")
    assert code == 0
    cycle(path, timedelta(minutes=15))
    written = {(s["target_id"], s["collection_status"], s["dunning_level"]) for s in statuses(tmp_path)}
    assert written == {("1", "reminded", 1), ("2", "reminded", 1)}


def test_a_letter_that_went_out_is_written_back_as_reminded_in_the_same_cycle(tmp_path: Path) -> None:
    policy = tmp_path / "letters.yaml"
    policy.write_text(
        "version: 1\ndefault_policy: p\ncontact_window: {channels: []}\n"
        "policies: {p: {levels: [{days_overdue: 7, channels: [letter]}]}}\n"
    )
    path = config(tmp_path, f"{{enabled: true, policy: {policy}, channels: {{letter: {{dir: letters}}}}}}")
    cycle(path)
    letters = sorted(p.name for p in (tmp_path / "letters").glob("*.pdf"))
    assert len(letters) == 2
    written = {(s["target_id"], s["collection_status"]) for s in statuses(tmp_path)}
    assert written == {("1", "reminded"), ("2", "reminded"), ("3", "reminded")}


def test_check_warns_about_every_rule_that_is_enabled_but_cannot_act(tmp_path: Path) -> None:
    path = config(tmp_path, "{enabled: true}", write_back=False)
    text = path.read_text() + "  cashapp: {enabled: true, statements: {inbox: no-such-folder}}\n"
    path.write_text(text)
    code, out, _ = invoke("check", "-c", str(path))
    assert code == 0
    assert "warning: rules.dunning.channels: enabled, but no channel is configured" in out
    assert "warning: rules.dunning: no connection has write_back enabled" in out
    assert f"warning: rules.cashapp.statements.inbox: {tmp_path / 'no-such-folder'} does not exist" in out
    assert "warning: rules.cashapp: no connection has write_back enabled" in out


def test_check_warns_when_cash_application_has_no_payments_to_apply(tmp_path: Path) -> None:
    path = config(tmp_path, "{enabled: false}")
    text = path.read_text().replace(
        "settings: {folder:", "streams: [customers, invoices, credit_memos]\n    settings: {folder:"
    )
    path.write_text(text + "  cashapp: {enabled: true}\n")
    code, out, _ = invoke("check", "-c", str(path))
    assert code == 0
    assert (
        "warning: rules.cashapp: enabled, but no enabled connection reads payments and no statement inbox"
        in out
    )


def test_a_collectors_call_outcomes_reach_the_worklist_and_the_erp(tmp_path: Path) -> None:
    path = config(tmp_path, "{enabled: true}")
    cycle(path)
    code, out, _ = invoke(
        "dunning", "call", "-c", str(path), "C1", "--outcome", "promise", "--promise-date", "2026-11-30",
        "--as-of", AS_OF.isoformat(), "--by", "anna",
    )  # fmt: skip
    assert code == 0 and "C1 [shop]: promised to pay 1, 2 by 2026-11-30" in out
    code, out, _ = invoke(
        "dunning", "call", "-c", str(path), "C2", "--outcome", "no-answer", "--as-of", AS_OF.isoformat()
    )
    assert code == 0 and "not reached" in out

    code, out, _ = invoke("worklist", "-c", str(path), "--as-of", AS_OF.isoformat(), "--json")
    entries = {e["customer_id"]: e for e in json.loads(out)["connections"]["shop"]["entries"]}
    assert entries["C1"]["promised"] == {"EUR": "620.00"} and entries["C1"]["ranked_amount"] == "0"
    assert "INV-1 (500.00 EUR) is promised by 2026-11-30" in entries["C1"]["held"]
    code, out, _ = invoke("worklist", "-c", str(path), "--as-of", AS_OF.isoformat())
    [line] = [ln for ln in out.splitlines() if "stops the call:" in ln]
    assert "INV-2 (120.00 EUR) is promised by 2026-11-30" in line

    cycle(path, timedelta(hours=1))  # the next cycle writes the promise to the ERP
    promised = {(s["target_id"], s["collection_status"], s["next_action_date"]) for s in statuses(tmp_path)}
    assert promised == {("1", "promised", "2026-12-01"), ("2", "promised", "2026-12-01")}


def test_a_call_needs_what_its_outcome_is_about(tmp_path: Path) -> None:
    path = config(tmp_path, "{enabled: true}")
    cycle(path)
    result = CliRunner().invoke(cli, ["dunning", "call", "-c", str(path), "C1", "--outcome", "dispute"])
    assert result.exit_code == 2 and "a dispute needs the --invoice it is about" in result.output
    result = CliRunner().invoke(cli, ["dunning", "call", "-c", str(path), "C9", "--outcome", "reached"])
    assert result.exit_code == 1 and "no customer C9 in the store" in result.output


def test_the_worklist_ranks_currencies_at_the_rates_of_a_file_and_names_them(tmp_path: Path) -> None:
    path = config(tmp_path, "{enabled: true}")
    cycle(path)
    rates = tmp_path / "fx-rates.csv"
    rates.write_text("currency,rate,date\nUSD,0.92,2026-11-20\n")
    code, out, _ = invoke(
        "worklist", "-c", str(path), "--as-of", AS_OF.isoformat(), "--fx-rates", str(rates),
        "--reporting-currency", "EUR", "--json",
    )  # fmt: skip
    assert code == 0
    entries = {e["customer_id"]: e for e in json.loads(out)["connections"]["shop"]["entries"]}
    assert entries["C2"]["ranked_amount"] == "690.00" and entries["C2"]["reporting_currency"] == "EUR"
    assert "0.92 EUR per USD (fx-rates.csv, 2026-11-20)" in entries["C2"]["explanation"]
    rates.write_text("currency,rate\nUSD,zero\n")
    result = CliRunner().invoke(
        cli, ["worklist", "-c", str(path), "--fx-rates", str(rates), "--reporting-currency", "EUR"]
    )
    assert result.exit_code == 2 and "fx-rates.csv:2:2: rate: expected a positive decimal" in result.output
