"""A seeded deployment for the workspace's tests: CSV exports, one cycle, users of every role."""

from __future__ import annotations

import csv
import json
import socket
import textwrap
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from config import load_config
from engine.runner import deciders_for, open_store, sync_connection
from service.http import Health, OpsServer
from store import StateStore
from store.users import Users
from tests.engine.dunning_fixtures import customer_row, invoice_row, write_exports

AS_OF = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TODAY = AS_OF.date()
PASSWORD = "a long enough password"
ROLES = ("viewer", "collector", "clerk", "admin")


def _due(days_overdue: int) -> date:
    return TODAY - timedelta(days=days_overdue)


INVOICES = [
    invoice_row("1", "C1", _due(10), "500.00"),
    invoice_row("2", "C1", _due(40), "120.00"),
    invoice_row("3", "C2", _due(-5), "750.00"),
    invoice_row("4", "C2", _due(75), "310.55"),
    invoice_row("5", "C3", _due(100), "1190.00"),
    invoice_row("6", "C3", _due(200), "512.40", total="612.40"),
    invoice_row("7", "C3", _due(0), "99.99"),
    invoice_row("8", "C2", _due(30), "0.00", total="80.00"),
]
CUSTOMERS = [
    customer_row("C1", "Anker Logistik", "ap@anker.example"),
    customer_row("C2", "Busy Bakery", "busy@bakery.example"),
    customer_row(
        "C3", "Mueller Maschinenbau GmbH", "ap@mueller.example", bank_accounts="DE89370400440532013000"
    ),
]
# Known by name only, no reference: the amount fits one invoice, but not surely enough to apply it.
PAYMENT = {
    "id": "PMT-1",
    "customer_id": "",
    "status": "Unapplied",
    "date": (TODAY - timedelta(days=1)).isoformat(),
    "amount": "512.40",
    "currency": "EUR",
    "unapplied_amount": "512.40",
    "reference": "Zahlung",
    "payer_name": "MUELLER MASCHINENBAU",
    "payer_account": "DE44 5001 0517 5407 3249 31",
    "version": "1",
    "modified_at": "2026-11-22T12:00:00+00:00",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def expected_aging(rows: list[dict[str, str]] = INVOICES) -> dict[str, Decimal]:
    """Open amounts by bucket, worked out here from the rows alone."""
    out = {k: Decimal(0) for k in ("current", "1–30", "31–60", "61–90", "91–120", "121+")}
    for row in rows:
        amount = Decimal(row["open_amount"])
        if amount <= 0:
            continue
        days = (TODAY - date.fromisoformat(row["due_date"])).days
        if days <= 0:
            key = "current"
        elif days <= 30:
            key = "1–30"
        elif days <= 60:
            key = "31–60"
        elif days <= 90:
            key = "61–90"
        elif days <= 120:
            key = "91–120"
        else:
            key = "121+"
        out[key] += amount
    return out


@dataclass
class Seeded:
    path: Path
    exports: Path
    port: int

    def config(self) -> Any:
        return load_config(self.path)

    def store(self) -> StateStore:
        return open_store(self.config())

    def cycle(self, offset: timedelta = timedelta(0)) -> None:
        cfg = self.config()
        store = open_store(cfg)
        conn = cfg.connections[0]
        sync_connection(cfg, conn, store, deciders=deciders_for(cfg, conn), as_of=AS_OF + offset)
        store.close()

    def written(self, op_type: str) -> list[dict[str, Any]]:
        path = self.exports / "writeback.csv"
        if not path.exists():
            return []
        with path.open(newline="", encoding="utf-8") as fh:
            return [
                {**json.loads(r["payload"]), "target_id": r["target_id"]}
                for r in csv.DictReader(fh)
                if r["op_type"] == op_type
            ]

    def server(self, store: StateStore) -> OpsServer:
        return OpsServer(
            self.config(), store, health=Health(), on_webhook=lambda c, n: None, clock=lambda: AS_OF
        )


def seed(tmp_path: Path, store_url: str | None = None, sso: dict[str, Any] | None = None) -> Seeded:
    """The deployment, synced once, with a user of every role; ``sso``: its ``server.sso`` settings."""
    exports = write_exports(tmp_path / "exports", CUSTOMERS, INVOICES, [PAYMENT])
    port = free_port()
    path = tmp_path / "arbridge.yaml"
    server_sso = f", sso: {json.dumps(sso)}" if sso else ""
    path.write_text(
        textwrap.dedent(
            f"""
            version: 1
            store: {{url: "{store_url or f"sqlite:///{tmp_path / 'state.sqlite'}"}"}}
            server: {{bind: "127.0.0.1:{port}"{server_sso}}}
            connections:
              - name: shop
                connector: csv
                settings: {{folder: "{exports}"}}
                write_back: {{enabled: true}}
            rules:
              dunning: {{enabled: true}}
              cashapp: {{enabled: true}}
            """
        )
    )
    path.chmod(0o600)
    seeded = Seeded(path, exports, port)
    seeded.cycle()
    store = seeded.store()
    try:
        users = Users(store)
        for role in ROLES:
            users.add(role, PASSWORD, role, by="setup")
    finally:
        store.close()
    return seeded


def why_not_reminded(seeded: Seeded, store: StateStore, customer_id: str, at: datetime) -> dict[str, str]:
    """Per invoice of the customer, what the dunning planner's next plan says stops its reminder."""
    from engine.dunning_decider import load_dunning_policy, plan_from_store
    from rules.dunning import PlannedAction

    policy = load_dunning_policy(str(seeded.config().rules.dunning.policy))
    out: dict[str, str] = {}
    for item in plan_from_store(policy, store, "shop", at):
        if getattr(item, "customer_id", None) != customer_id:
            continue
        for invoice_id in item.invoice_ids:
            out[invoice_id] = "planned" if isinstance(item, PlannedAction) else str(item.skipped)
    return out
