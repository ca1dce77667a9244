"""Dunning and cash application run on the store after each pull, and write back through the outbox."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from config import default_config
from connectors.csv.sample import write_sample_exports
from engine.runner import deciders_for, open_store, sync_connection
from mapping.models import Payment, Stream

ROOT = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def deployment(tmp_path: Path):
    exports = write_sample_exports(tmp_path / "exports")
    return default_config(
        tmp_path,
        overrides={
            "connections": [
                {
                    "name": "shop",
                    "connector": "csv",
                    "settings": {"folder": str(exports)},
                    "write_back": {"enabled": True},
                }
            ],
            "rules": {
                "dunning": {"enabled": True, "policy": str(ROOT / "config" / "dunning-policy.example.yaml")},
                "cashapp": {"enabled": True},
            },
        },
    ), exports


def written(exports: Path) -> list[dict[str, str]]:
    with open(exports / "writeback.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_with_no_channel_only_the_pauses_that_hold_are_written_never_reminded(tmp_path: Path) -> None:
    cfg, exports = deployment(tmp_path)
    conn = cfg.connections[0]
    store = open_store(cfg)
    first = sync_connection(cfg, conn, store, deciders=deciders_for(cfg, conn), as_of=AS_OF)
    again = sync_connection(cfg, conn, store, deciders=deciders_for(cfg, conn), as_of=AS_OF)
    rows = written(exports)
    statuses = [json.loads(r["payload"]) for r in rows if r["op_type"] == "collection_status"]
    assert first.decided["dunning"] >= 1 and first.written["ok"] == len(rows)
    assert again.decided == {"dunning": 0, "cashapp": 0} and not again.written
    # Pauses hold as soon as they are decided (a dispute, a credit memo pending against an invoice).
    assert {s["collection_status"] for s in statuses} == {"disputed", "on_hold"}
    planned = store.dunning_actions("shop", status="planned")
    assert planned, "the reminders are planned and wait for a channel"
    reminded = {i for a in planned for i in json.loads(a["payload"])["invoice_ids"]}
    assert not reminded & {s["target_id"] for s in statuses}
    store.close()


def test_an_unapplied_payment_quoting_its_invoice_is_applied_in_the_erp(tmp_path: Path) -> None:
    cfg, exports = deployment(tmp_path)
    conn = cfg.connections[0]
    store = open_store(cfg)
    sync_connection(cfg, conn, store, deciders=deciders_for(cfg, conn), as_of=AS_OF)
    applications = [r for r in written(exports) if r["op_type"] == "payment_application"]
    verdicts = {m["payment_id"]: m["status"] for m in store.match_results("shop")}
    assert applications, "a sure match is written back as a payment application"
    assert all(verdicts[a["target_id"]] == "auto" for a in applications)
    store.close()


def test_each_verdict_a_clerk_reviews_shows_its_own_payment(tmp_path: Path) -> None:
    cfg, _ = deployment(tmp_path)
    conn = cfg.connections[0]
    store = open_store(cfg)
    sync_connection(cfg, conn, store, deciders=deciders_for(cfg, conn), as_of=AS_OF)
    payments = {p.remote_id: p for p in store.iter_records("shop", Stream.PAYMENTS) if isinstance(p, Payment)}
    verdicts = [m for m in store.match_results("shop") if m["payment_id"] in payments]
    assert len(verdicts) >= 2, "the sample has several unapplied payments to decide"
    for verdict in verdicts:
        shown = verdict["result"]["payment"]
        paid = payments[verdict["payment_id"]]
        # What `arbridge review` shows a clerk is the payment the verdict is about, not a neighbour's.
        assert (Decimal(shown["amount"]), shown["currency"]) == (paid.amount, paid.currency)
    store.close()
