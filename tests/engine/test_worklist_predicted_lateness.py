"""The collectors' worklist scored by the predicted chance of paying late, read from the store."""

from __future__ import annotations

import json
import textwrap
from datetime import date, timedelta
from pathlib import Path

from click.testing import CliRunner

from config import load_config
from engine.dunning_worklist import worklist_from_store
from engine.runner import open_store, sync_connection
from sync_daemon import cli
from tests.engine.dunning_fixtures import AS_OF, TODAY, customer_row, invoice_row, payment_row, write_exports


def _history(customer: str, days_late: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    invoices, payments = [], []
    for i in range(20):
        due = date(2025, 6, 2) + timedelta(days=14 * i)
        invoices.append(
            invoice_row(f"{customer}-paid-{i}", customer, due, "0.00", total="300.00", status="paid")
        )
        payments.append(
            payment_row(f"{customer}-P{i}", customer, f"{customer}-paid-{i}", due + timedelta(days=days_late))
        )
    return invoices, payments


def _deployment(tmp_path: Path) -> Path:
    slow_invoices, slow_payments = _history("SLOW", 75)
    prompt_invoices, prompt_payments = _history("PROMPT", 0)
    exports = write_exports(
        tmp_path / "exports",
        [
            customer_row("SLOW", "Slow Trading", "ap@slow.example"),
            customer_row("PROMPT", "Prompt Ltd", "ap@p.example"),
        ],
        [
            *slow_invoices,
            *prompt_invoices,
            # The same amount, the same days overdue: only how they pay sets them apart.
            invoice_row("slow-open", "SLOW", TODAY - timedelta(days=10), "900.00"),
            invoice_row("prompt-open", "PROMPT", TODAY - timedelta(days=10), "900.00"),
        ],
        payments=[*slow_payments, *prompt_payments],
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


def test_a_customer_predicted_to_pay_very_late_is_called_first_and_the_line_says_why(tmp_path: Path) -> None:
    cfg = load_config(_deployment(tmp_path))
    store = open_store(cfg)
    try:
        ranking = worklist_from_store(store, "shop", AS_OF, predict_late=True)
    finally:
        store.close()

    first, second = ranking.entries
    assert (first.customer_id, second.customer_id) == ("SLOW", "PROMPT")
    assert first.components["behaviour"] > 25 and second.components["behaviour"] < 3
    # Twenty invoices are pulled a little toward the book (shrinkage): 68 days, not 75.
    assert "likely to be paid more than 60 days late (predicted 68 days late" in first.explanation
    assert "usually pays 75 days late (20 invoices paid)" in first.explanation
    assert "pays 75.00 days late on average" not in first.explanation


def test_without_the_prediction_the_worklist_scores_the_average_days_late_as_before(tmp_path: Path) -> None:
    path = _deployment(tmp_path)

    result = CliRunner().invoke(cli, ["worklist", "-c", str(path), "--as-of", AS_OF.isoformat(), "--json"])
    predicted = CliRunner().invoke(
        cli, ["worklist", "-c", str(path), "--as-of", AS_OF.isoformat(), "--predict-late", "--json"]
    )

    assert result.exit_code == 0 and predicted.exit_code == 0, result.output + predicted.output
    plain = json.loads(result.output)["connections"]["shop"]["entries"]
    assert "pays 75.00 days late on average (+25.00)" in plain[0]["explanation"]
    with_prediction = json.loads(predicted.output)["connections"]["shop"]["entries"]
    assert "likely to be paid more than 60 days late" in with_prediction[0]["explanation"]
