"""``arbridge forecast``: the weeks ahead from a deployment's store, or from exported files."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from datetime import date, timedelta
from pathlib import Path

from click.testing import CliRunner

from config import load_config
from engine.runner import open_store, sync_connection
from sync_daemon import cli
from tests.engine.dunning_fixtures import AS_OF, TODAY, customer_row, invoice_row, payment_row, write_exports


def _deployment(tmp_path: Path) -> Path:
    paid = []
    payments = []
    for i in range(24):
        due = date(2026, 1, 5) + timedelta(days=14 * i)
        paid.append(invoice_row(f"paid-{i}", "C1", due, "0.00", total="300.00", status="paid"))
        payments.append(payment_row(f"P{i}", "C1", f"paid-{i}", due + timedelta(days=10)))
    exports = write_exports(
        tmp_path / "exports",
        [
            customer_row("C1", "Anker Logistik", "ap@anker.example"),
            customer_row("C2", "New Co", "ap@new.example"),
        ],
        [
            *paid,
            invoice_row("open-1", "C1", TODAY + timedelta(days=4), "1000.00"),  # paid in about two weeks
            invoice_row("open-2", "C2", TODAY - timedelta(days=3), "500.00"),  # a customer without history
        ],
        payments=payments,
    )
    path = tmp_path / "arbridge.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            version: 1
            store: {{url: "sqlite:///state/arbridge.sqlite"}}
            connections:
              - {{name: shop, connector: csv, settings: {{folder: "{exports}"}}}}
            """
        )
    )
    path.chmod(0o600)
    cfg = load_config(path)
    store = open_store(cfg)
    sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF, deciders=[], deliverers=[])  # type: ignore[arg-type]
    store.close()
    return path


def test_forecast_from_the_store_spreads_what_is_open_over_the_weeks(tmp_path: Path) -> None:
    path = _deployment(tmp_path)

    result = CliRunner().invoke(cli, ["forecast", "-c", str(path), "--as-of", TODAY.isoformat(), "--json"])

    assert result.exit_code == 0, result.output
    shop = json.loads(result.output)["shop"]
    [eur] = shop["currencies"]
    assert eur["open_amount"] == 1500.0 and eur["invoices"] == 2
    weeks = eur["weeks"]
    assert len(weeks) == 13 and weeks[0]["week_start"] == TODAY.isoformat()
    assert abs(sum(w["expected"] for w in weeks) + eur["later"] - 1500.0) < 0.05
    # Anker pays 10 days late: its 1,000.00 due in 4 days comes in the third week (days 14 to 20);
    # New Co has no history: the book's usual 10 days late puts its 500.00 in the second week.
    assert weeks[2]["expected"] >= 900
    assert weeks[1]["expected"] >= 450


def test_forecast_text_names_the_history_it_learned_from(tmp_path: Path) -> None:
    path = _deployment(tmp_path)

    result = CliRunner().invoke(cli, ["forecast", "-c", str(path), "--as-of", TODAY.isoformat()])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(
        f"shop: expected collections from {TODAY.isoformat()}, learned from 24 paid invoices"
    )
    assert lines[1] == "  EUR: 1,500.00 open in 2 invoice(s)"
    assert lines[-1].split()[0] == "later"


def test_forecast_in_a_reporting_currency_from_files_as_csv(tmp_path: Path) -> None:
    paid = tmp_path / "paid.csv"
    paid.write_text(
        "invoice_id,customer_id,currency,amount,issue_date,due_date,paid_date,disputed\n"
        + "".join(
            f"I{i},C1,{'USD' if i % 2 else 'EUR'},100.00,2025-01-{i + 1:02d},2025-01-{i + 1:02d},"
            f"2025-01-{i + 6:02d},no\n"
            for i in range(20)
        )
    )
    opened = tmp_path / "open.csv"
    opened.write_text(
        "invoice_id,customer_id,currency,amount,issue_date,due_date,disputed\n"
        "O1,C1,EUR,1000.00,2025-03-01,2025-03-10,\n"
        "O2,C1,USD,1000.00,2025-03-01,2025-03-10,\n"
        "O3,C1,JPY,5000,2025-03-01,2025-03-10,\n"
    )
    rates = tmp_path / "rates.csv"
    rates.write_text("currency,rate,date\nUSD,0.90,2025-03-01\n")

    result = CliRunner().invoke(
        cli,
        ["forecast", "--history", str(paid), "--open", str(opened), "--as-of", "2025-03-03",
         "--fx-rates", str(rates), "--reporting-currency", "EUR", "--csv"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    reporting = [r for r in rows if r["kind"] == "reporting"]
    assert {r["currency"] for r in reporting} == {"EUR"}
    total = sum(float(r["expected"]) for r in reporting)
    assert abs(total - 1900.0) < 0.05, "EUR at par, USD at 0.90, JPY without a rate left out"
    assert {r["currency"] for r in rows if r["kind"] == "currency"} == {"EUR", "USD", "JPY"}


def test_forecast_from_files_names_a_bad_cell(tmp_path: Path) -> None:
    paid = tmp_path / "paid.csv"
    paid.write_text(
        "invoice_id,customer_id,currency,amount,issue_date,due_date,paid_date,disputed\n"
        "I1,C1,EUR,100.00,2025-01-01,2025-01-31,2025-02-05,maybe\n"
    )
    result = CliRunner().invoke(cli, ["forecast", "--history", str(paid), "--open", str(paid)])

    assert result.exit_code == 2
    assert f"{paid}:2: column disputed: expected yes, no or nothing, got 'maybe'" in result.output
