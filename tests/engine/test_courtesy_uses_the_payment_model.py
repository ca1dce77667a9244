"""The courtesy notice kept for late payers asks the connection's payment model, when it has one.

The book: across forty customers, small invoices are paid five days early and large ones
twenty-five days late. Steady Ltd has paid all its small invoices early and now has a large one
falling due: its own record says it pays on time, the model expects this invoice late. Fresh Ltd
paid two large invoices late and a small one early and now has a small one falling due: its own
record (two late payments of three) says it pays late, the model expects it on time, as the book
pays its small invoices.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from config import load_config
from config.model import PredictionConfig
from engine.payment_model import refit
from engine.rules import load_dunning_policy, plan_from_store
from engine.runner import open_store, sync_connection
from rules.dunning import PlannedAction, Skip, SkipCode
from tests.engine.dunning_fixtures import (
    AS_OF,
    POLICY,
    TODAY,
    customer_row,
    invoice_row,
    payment_row,
    write_exports,
)

SMALL, LARGE = "400.00", "20000.00"
COURTESY = "    courtesy: {days_before_due: 5, channels: [email], only_likely_late: 0.5}\n"


def _paid(
    rows: tuple[list[dict[str, str]], list[dict[str, str]]],
    iid: str,
    cid: str,
    due: date,
    total: str,
    late: int,
) -> None:
    invoices, payments = rows
    invoices.append(invoice_row(iid, cid, due, "0.00", total=total, status="paid"))
    payments.append(payment_row(f"P-{iid}", cid, iid, due + timedelta(days=late), amount=total))


@pytest.fixture
def shop(tmp_path: Path) -> Any:
    """The synced store of the book above, and the dunning policy with the courtesy notice for late payers."""
    rows: tuple[list[dict[str, str]], list[dict[str, str]]] = ([], [])
    customers = [customer_row(f"C{c}", f"Customer {c}", f"ap{c}@x.example") for c in range(40)]
    for c in range(40):
        for i in range(10):
            due = date(2025, 6, 2) + timedelta(days=11 * i + c)
            large = i % 5 == 4
            spread = (3 * i + c) % 5 - 2  # a day or two either way, as real payers do
            _paid(rows, f"C{c}-{i}", f"C{c}", due, LARGE if large else SMALL, (25 if large else -5) + spread)
    customers += [
        customer_row("STEADY", "Steady Ltd", "ap@steady.example"),
        customer_row("FRESH", "Fresh Ltd", "ap@fresh.example"),
    ]
    for i in range(8):
        _paid(rows, f"S-{i}", "STEADY", date(2026, 3, 2) + timedelta(days=21 * i), SMALL, -5)
    _paid(rows, "F-0", "FRESH", date(2026, 9, 1), SMALL, -5)
    _paid(rows, "F-1", "FRESH", date(2026, 9, 21), LARGE, 25)
    _paid(rows, "F-2", "FRESH", date(2026, 10, 12), LARGE, 25)
    invoices, payments = rows
    falling_due = TODAY + timedelta(days=3)
    invoices += [
        invoice_row("S-open", "STEADY", falling_due, LARGE),
        invoice_row("F-open", "FRESH", falling_due, SMALL),
    ]
    exports = write_exports(tmp_path / "exports", customers, invoices, payments)
    policy = tmp_path / "dunning-policy.yaml"
    policy.write_text(POLICY.replace("  std:\n", "  std:\n" + COURTESY))
    config = tmp_path / "arbridge.yaml"
    config.write_text(
        f'version: 1\nstore: {{url: "sqlite:///{tmp_path}/state.sqlite"}}\n'
        f'connections:\n  - {{name: shop, connector: csv, settings: {{folder: "{exports}"}}}}\n'
    )
    config.chmod(0o600)
    cfg = load_config(config)
    store = open_store(cfg)
    sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF, deciders=[], deliverers=[])  # type: ignore[arg-type]
    yield store, load_dunning_policy(str(policy))
    store.close()


def _courtesy(items: list[Any]) -> tuple[dict[str, PlannedAction], dict[str, Skip]]:
    notices = {i.customer_id: i for i in items if isinstance(i, PlannedAction) and i.level == 0}
    skipped = {
        i.customer_id: i for i in items if isinstance(i, Skip) and i.skipped == SkipCode.NOT_LIKELY_LATE
    }
    return notices, skipped


def test_with_a_stored_model_the_invoice_the_model_expects_late_gets_the_notice(shop: Any) -> None:
    store, policy = shop
    refit(store, "shop", PredictionConfig(min_history=100))

    notices, skipped = _courtesy(list(plan_from_store(policy, store, "shop", AS_OF)))

    assert set(notices) == {"STEADY"}, "its own record says on time; the model expects the large invoice late"
    assert "the payment model's chance of payment after the due date: INV-S-open" in notices["STEADY"].reason
    assert set(skipped) == {"FRESH"}, "its one late payment says late; the model expects it on time"
    assert skipped["FRESH"].invoice_ids == ("F-open",)
    assert skipped["FRESH"].reason.startswith(
        "courtesy notice only for invoices at least 50% likely to be paid late: "
        "the payment model's chance of payment after the due date: INV-F-open "
    )


def test_without_a_stored_model_each_customer_is_judged_by_its_own_payments(shop: Any) -> None:
    store, policy = shop

    notices, skipped = _courtesy(list(plan_from_store(policy, store, "shop", AS_OF)))

    assert set(notices) == {"FRESH"}
    assert "2 of 3 payments after the due date (60% likely to pay late)" in notices["FRESH"].reason
    assert "STEADY" in skipped and "0 of 8 payments after the due date" in skipped["STEADY"].reason
