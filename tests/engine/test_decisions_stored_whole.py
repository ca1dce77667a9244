"""One decision that becomes several rows is stored whole or not at all.

A dunning action and the status of each of its invoices, a match verdict and its payment
application: a process that dies while they are being stored must not leave the first without the
others, or later cycles would take the decision as made while part of it never reaches the ERP.
The death is simulated by a database error at a chosen statement: after a decision's outbox rows
were written, before the rule's own record of it is.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from config import default_config
from connectors.csv.sample import write_sample_exports
from engine.runner import deciders_for, open_store, sync_connection
from store import StateStore

ROOT = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def deployment(tmp_path: Path, store_url: str, rules: dict[str, object]):
    exports = write_sample_exports(tmp_path / "exports")
    return default_config(
        tmp_path,
        overrides={
            "store": {"url": store_url},
            "connections": [
                {
                    "name": "shop",
                    "connector": "csv",
                    "settings": {"folder": str(exports)},
                    "write_back": {"enabled": True},
                }
            ],
            "rules": rules,
        },
    ), exports


DUNNING = {"dunning": {"enabled": True, "policy": str(ROOT / "config" / "dunning-policy.example.yaml")}}
CASHAPP = {"cashapp": {"enabled": True}}


class Died(RuntimeError):
    pass


@contextmanager
def dies_at(store: StateStore, table: str, n: int = 1) -> Iterator[list[int]]:
    """The database fails on the n-th insert into ``table`` while the block runs."""
    seen = [0]

    def before(_conn, _cursor, statement: str, *_args) -> None:
        if statement.lstrip().upper().startswith(f"INSERT INTO {table.upper()}"):
            seen[0] += 1
            if seen[0] == n:
                raise Died(f"the process died writing row {n} of {table}")

    sa.event.listen(store.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", before)


def written(exports: Path) -> list[dict[str, str]]:
    with open(exports / "writeback.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def queued_statuses(store: StateStore) -> set[str]:
    return {r.target_id for r in store.outbox_rows("shop", limit=100_000) if r.op_type == "collection_status"}


LETTERS = """
version: 1
default_policy: std
contact_window: {channels: []}
policies:
  std:
    levels:
      - {name: reminder, days_overdue: 7, channels: [letter]}
      - {name: second reminder, days_overdue: 14, channels: [letter]}
      - {name: third reminder, days_overdue: 21, channels: [letter]}
      - {name: final notice, days_overdue: 28, channels: [letter]}
"""


def letters(tmp_path: Path) -> dict[str, object]:
    policy = tmp_path / "letters.yaml"
    policy.parent.mkdir(parents=True, exist_ok=True)
    policy.write_text(LETTERS)
    return {
        "dunning": {
            "enabled": True,
            "policy": str(policy),
            "channels": {"letter": {"dir": str(tmp_path / "letters")}},
        }
    }


def test_a_sent_reminder_cut_off_between_its_invoices_statuses_reaches_the_erp_whole_at_the_next_cycle(
    tmp_path: Path, store_url: str
) -> None:
    # A clean run (on a store of its own) tells which statuses the sent letters bring, and the order
    # the outbox rows are written in: the pauses of the decide step first (a batch of them per
    # statement), then each letter's status, one statement each.
    clean_cfg, clean_exports = deployment(
        tmp_path / "clean", f"sqlite:///{tmp_path / 'clean.sqlite'}", letters(tmp_path / "clean")
    )
    clean = open_store(clean_cfg)
    with dies_at(clean, "outbox", n=10**9) as statements:
        sync_connection(clean_cfg, clean_cfg.connections[0], clean, as_of=AS_OF)
    rows = clean.outbox_rows("shop", limit=100_000)
    expected = {r["target_id"] for r in written(clean_exports) if r["op_type"] == "collection_status"}
    sent = clean.dunning_actions("shop", status="sent")
    clean.close()
    reminded = [r for r in sorted(rows, key=lambda r: r.id) if r.payload["collection_status"] == "reminded"]
    several = [a for a in sent if len(json.loads(a["payload"])["invoice_ids"]) > 1]
    assert several, "the sample has a letter over several invoices"
    first_of_several = min(
        n for n, r in enumerate(reminded) if r.target_id in json.loads(several[0]["payload"])["invoice_ids"]
    )
    pauses = statements[0] - len(reminded)

    cfg, exports = deployment(tmp_path / "cut", store_url, letters(tmp_path / "cut"))
    store = open_store(cfg)
    # The process dies at the second status of that letter, after the letter was filed.
    with dies_at(store, "outbox", pauses + first_of_several + 2), pytest.raises(Died):
        sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF)
    # Nothing of the cut decision is stored: the letter is not "sent" without all its statuses.
    for action in store.dunning_actions("shop", status="sent"):
        ids = set(json.loads(action["payload"])["invoice_ids"])
        assert ids <= queued_statuses(store), f"letter {action['key']} is sent without its statuses"

    again = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF)
    assert again.status == "ok" and again.delivered["dunning"].get("duplicate") == 1
    assert {r["target_id"] for r in written(exports) if r["op_type"] == "collection_status"} == expected
    assert len(store.dunning_actions("shop", status="sent")) == len(sent)
    store.close()


def test_a_sure_match_cut_off_before_its_application_is_applied_at_the_next_cycle(
    tmp_path: Path, store_url: str
) -> None:
    cfg, exports = deployment(tmp_path, store_url, CASHAPP)
    store = open_store(cfg)
    # Cut after the first sure match's application was written, before its verdict is.
    with dies_at(store, "match_results"):
        first = sync_connection(
            cfg, cfg.connections[0], store, deciders=deciders_for(cfg, cfg.connections[0])
        )
    assert first.status == "partial"
    # The verdict of the payment whose application failed to be stored is not stored either.
    queued = {r.target_id for r in store.outbox_rows("shop")}
    for verdict in store.match_results("shop", status="auto"):
        assert verdict["payment_id"] in queued or verdict["result"]["applications"] == []

    again = sync_connection(cfg, cfg.connections[0], store, deciders=deciders_for(cfg, cfg.connections[0]))
    assert again.status == "ok"
    applied = [r for r in written(exports) if r["op_type"] == "payment_application"]
    autos = store.match_results("shop", status="auto")
    assert autos and len(applied) == len(autos)
    store.close()
