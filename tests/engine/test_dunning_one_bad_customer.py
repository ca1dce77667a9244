"""One customer whose records the dunning planner cannot reason with stops nobody else's reminders.

The customer is set aside in quarantine with the error, named, and counted by ``arbridge status``;
every other customer is planned and sent in the same cycle. Once its record is corrected, the next
cycle plans it and it leaves quarantine.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from engine.dunning_decider import QUARANTINE_STREAM
from engine.runner import open_store, sync_connection
from store.dunning import DunningActions
from tests.engine.dunning_fixtures import AS_OF, TODAY, customer_row, deployment, invoice_row, write_exports


def exports_with(tmp_path: Path, bad_issue_date: str) -> Path:
    """Three overdue customers; Kaufhaus Weber's second invoice has the issue date ``bad_issue_date``
    and no due date (the planner then works the due date out from the policy's terms)."""
    return write_exports(
        tmp_path / "exports",
        [
            customer_row("C1", "Brauhaus Meier GmbH"),
            customer_row("C2", "Kaufhaus Weber KG"),
            customer_row("C3", "Zimmerei Roth"),
        ],
        [
            invoice_row("1001", "C1", TODAY - timedelta(days=20), "1190.00"),
            invoice_row("2001", "C2", TODAY - timedelta(days=20), "500.00"),
            # A typing slip in the ERP: year 9999, thirty days of terms run past the calendar.
            invoice_row(
                "2002", "C2", TODAY - timedelta(days=20), "80.00", issue_date=bad_issue_date, due_date=""
            ),
            invoice_row("3001", "C3", TODAY - timedelta(days=15), "240.00"),
        ],
    )


def test_a_customer_the_planner_cannot_plan_is_set_aside_by_name_and_everyone_else_is_reminded(
    tmp_path: Path,
) -> None:
    exports = exports_with(tmp_path, "9999-12-20")
    cfg = deployment(tmp_path, exports, None)
    store = open_store(cfg)

    report = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF)

    assert report.status == "ok", report
    reminded = {a.customer_id for a in DunningActions(store).with_status("shop", ["sent"])}
    assert reminded == {"C1", "C3"}
    [aside] = [q for q in store.quarantined("shop") if q["stream"] == QUARANTINE_STREAM]
    assert aside["remote_id"] == "C2"
    assert "customer C2 (Kaufhaus Weber KG) could not be planned" in aside["reason"]
    assert "date value out of range" in aside["reason"]
    assert store.quarantine_count("shop") == 1  # what ``arbridge status`` shows under quarantine
    store.close()


def test_the_customer_leaves_quarantine_and_is_reminded_once_its_record_is_corrected(tmp_path: Path) -> None:
    exports = exports_with(tmp_path, "9999-12-20")
    cfg = deployment(tmp_path, exports, None)
    store = open_store(cfg)
    sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF)

    exports_with(tmp_path, (TODAY - timedelta(days=50)).isoformat())  # the slip corrected in the ERP
    invoices = exports / "invoices.csv"
    invoices.write_text(invoices.read_text().replace("2026-10-02T08:00:00", "2026-11-23T09:00:00"))
    sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF + timedelta(hours=1))

    assert [q for q in store.quarantined("shop") if q["stream"] == QUARANTINE_STREAM] == []
    reminded = {a.customer_id for a in DunningActions(store).with_status("shop", ["sent"])}
    assert reminded == {"C1", "C2", "C3"}
    store.close()
