"""A store from before dunning delivery upgrades with its planned communications, ready to send."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import store.state as state
from store import StateStore
from store.dunning import DunningActions

SEND_AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_a_store_from_before_delivery_keeps_its_planned_reminders_and_can_send_them(store_url: str) -> None:
    engine = state.create_engine(store_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(state.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
    # What a release of that time wrote: only the columns revision 0003 has.
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO dunning_actions (key, connection, customer_id, send_at, channel, level, "
                "payload, status, created_at) VALUES (:key, 'shop', 'C1', :send_at, 'email', 1, "
                ":payload, 'planned', :send_at)"
            ),
            {
                "key": "dun-0123456789abcdef0123456789abcdef",
                "send_at": state.ts(SEND_AT),
                "payload": json.dumps(
                    {"customer_id": "C1", "key": "dun-0123456789abcdef0123456789abcdef", "level": 1}
                ),
            },
        )
    engine.dispose()

    upgraded = StateStore.open(store_url)
    book = DunningActions(upgraded)
    [row] = book.due("shop", SEND_AT)
    assert (row.key, row.status, row.attempts, row.committed_at) == (
        "dun-0123456789abcdef0123456789abcdef",
        "planned",
        0,
        None,
    )
    assert row.payload["customer_id"] == "C1"
    assert book.claim(row.key, "host/1/token") and not book.claim(row.key, "host/2/other")
    book.commit(row.key, "host/1/token")
    book.sent(row.key, "<dun-0123456789abcdef0123456789abcdef@example.com>")
    assert book.counts("shop") == {"sent": 1}
    assert [h["level"] for h in upgraded.dunning_history("shop")] == [1]
    assert "ix_dunning_actions_due" in {
        i["name"] for i in sa.inspect(upgraded.engine).get_indexes("dunning_actions")
    }
    upgraded.close()
