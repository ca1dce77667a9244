"""The planner's memory of communications: planned once, and planned again only after a cancel."""

from __future__ import annotations

from datetime import UTC, datetime

from store import StateStore
from store.dunning import DunningActions
from store.state import PlannedDunningAction

KEY = "dun-00112233445566778899aabbccddeeff"
SEND_AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _plan(store: StateStore, level: int = 1) -> bool:
    return store.record_dunning_action(
        "shop",
        key=KEY,
        customer_id="C1",
        send_at=SEND_AT,
        channel="email",
        level=level,
        payload={"customer_id": "C1", "key": KEY, "level": level},
    )


def test_a_communication_planned_twice_is_stored_once(store_url: str) -> None:
    store = StateStore.open(store_url)
    assert _plan(store) is True
    assert _plan(store) is False
    assert DunningActions(store).counts("shop") == {"planned": 1}
    store.close()


def test_a_cancelled_communication_decided_again_is_planned_again(store_url: str) -> None:
    store = StateStore.open(store_url)
    book = DunningActions(store)
    _plan(store)
    assert book.cancel(KEY, "invoice INV-1 changed since planning")
    assert book.counts("shop") == {"cancelled": 1}

    assert _plan(store) is True
    row = book.get(KEY)
    assert row is not None and (row.status, row.attempts, row.last_error) == ("planned", 0, None)
    assert [r.key for r in book.due("shop", SEND_AT)] == [KEY]
    # ... and a sent one is never planned again under its key.
    assert book.claim(KEY, "host/1/token")
    book.commit(KEY, "host/1/token")
    book.sent(KEY, f"<{KEY}@example.com>")
    assert _plan(store) is False
    assert book.counts("shop") == {"sent": 1}
    store.close()


def test_a_plan_of_many_customers_stores_each_communication_once_and_revives_the_cancelled(
    store_url: str,
) -> None:
    store = StateStore.open(store_url)
    book = DunningActions(store)
    plans = [
        PlannedDunningAction(f"dun-{n:04d}", f"C{n}", SEND_AT, "email", 1, {"customer_id": f"C{n}", "n": n})
        for n in range(1200)
    ]
    assert store.record_dunning_actions("shop", plans) == {p.key for p in plans}
    assert book.counts("shop") == {"planned": 1200}
    stored = book.get("dun-0042")
    assert stored is not None and (stored.customer_id, stored.payload["n"]) == ("C42", 42)

    # The next plan decides the same reminders again: only the cancelled one is planned anew.
    assert book.cancel("dun-0007", "invoice INV-7 changed since planning")
    assert store.record_dunning_actions("shop", plans) == {"dun-0007"}
    assert book.counts("shop") == {"planned": 1200}
    store.close()
