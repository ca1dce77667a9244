"""An admin's decisions about a parked write, as the store keeps them: back in the queue, or dropped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from mapping import CollectionStatus, CollectionStatusUpdate, TargetType
from store import StateStore


def status_update(rid: str, level: int = 1) -> CollectionStatusUpdate:
    return CollectionStatusUpdate(
        target_type=TargetType.INVOICE,
        target_id=rid,
        collection_status=CollectionStatus.REMINDED,
        dunning_level=level,
    )


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    s = StateStore.open(store_url)
    yield s
    s.close()


def parked(store: StateStore, rid: str, *, depends_on: str | None = None) -> str:
    """A write that left for the ERP and was refused for good."""
    [key] = store.enqueue("acme", [status_update(rid)], depends_on=depends_on)
    [row] = [r for r in store.claim("acme", 10) if r.key == key]
    store.mark_parked(row.key, error="Accounting period 2026-10 is closed", kind="bad_record")
    return key


def row(store: StateStore, key: str):  # type: ignore[no-untyped-def]
    [found] = [r for r in store.outbox_rows("acme") if r.key == key]
    return found


def test_a_retried_write_is_due_now_with_the_same_key_payload_and_sent_at(store: StateStore) -> None:
    key = parked(store, "I1")
    before = row(store, key)
    assert store.retry_parked(key, by="alice", note="period reopened")
    after = row(store, key)
    assert after.status == "pending" and after.attempts == 0
    assert after.payload == before.payload and after.sent_at == before.sent_at
    [claimed] = store.claim("acme", 10)
    assert claimed.key == key and claimed.maybe_sent and claimed.attempts == 1


def test_only_parked_writes_are_retried_or_dropped(store: StateStore) -> None:
    [pending] = store.enqueue("acme", [status_update("I1")])
    [sending] = store.enqueue("acme", [status_update("I2")])
    [done] = store.enqueue("acme", [status_update("I3")])
    store.claim("acme", 10)
    store.release([pending])
    store.mark_done(done)
    for key in (pending, sending, done):
        assert not store.retry_parked(key, by="alice")
        assert store.drop_parked(key, by="alice", note="no") is None
    assert {r.key: r.status for r in store.outbox_rows("acme")} == {
        pending: "pending",
        sending: "sending",
        done: "done",
    }
    assert store.audit_entries("acme") == []


def test_a_dropped_write_is_never_claimed_nor_resurrected_by_the_same_decision(store: StateStore) -> None:
    key = parked(store, "I1")
    assert store.drop_parked(key, by="alice", note="invoice was cancelled") == []
    assert store.enqueue("acme", [status_update("I1")]) == [key]  # the next cycle decides the same
    assert row(store, key).status == "dropped"
    assert store.claim("acme", 10) == []


def test_dropping_a_write_drops_the_writes_waiting_on_it_transitively(store: StateStore) -> None:
    parent = parked(store, "I1")
    [child] = store.enqueue("acme", [status_update("I2")], depends_on=parent)
    [grandchild] = store.enqueue("acme", [status_update("I3")], depends_on=child)
    [other] = store.enqueue("acme", [status_update("I4")])
    dropped = store.drop_parked(parent, by="alice", note="customer left")
    assert dropped is not None and [d.key for d in dropped] == [child, grandchild]
    assert {r.key: r.status for r in store.outbox_rows("acme")} == {
        parent: "dropped",
        child: "dropped",
        grandchild: "dropped",
        other: "pending",
    }
    assert store.outbox_stats("acme")["counts"] == {"dropped": 3, "pending": 1}


def test_a_dropped_write_is_not_what_the_erp_will_show(store: StateStore) -> None:
    [shown] = store.enqueue("acme", [status_update("I1", level=1)])
    store.claim("acme", 10)
    store.mark_done(shown)
    [newer] = store.enqueue("acme", [status_update("I1", level=2)])
    store.claim("acme", 10)
    store.mark_parked(newer, error="Accounting period 2026-10 is closed", kind="bad_record")
    store.drop_parked(newer, by="alice", note="level 2 is not wanted after all")
    [(target, payload)] = store.last_operations("acme", "collection_status").items()
    assert target == ("invoice", "I1") and payload["dunning_level"] == 1


def test_what_the_erp_will_show_on_a_few_invoices_is_read_for_those_alone(store: StateStore) -> None:
    [shown] = store.enqueue("acme", [status_update("I1", level=1)])
    store.claim("acme", 10)
    store.mark_done(shown)
    store.enqueue("acme", [status_update("I1", level=2), status_update("I2", level=1)])
    [newest] = store.enqueue("acme", [status_update("I3", level=3)])
    store.claim("acme", 10)
    store.mark_parked(newest, error="Accounting period 2026-10 is closed", kind="bad_record")
    shows = store.last_operations("acme", "collection_status", [("invoice", "I1"), ("invoice", "I3")])
    # I1 will show its newer level; I3's only write is parked, so it shows nothing of ours; I2 was
    # not asked for.
    assert {target: p["dunning_level"] for target, p in shows.items()} == {("invoice", "I1"): 2}
    everything = store.last_operations("acme", "collection_status")
    assert {k: v for k, v in everything.items() if k in shows} == shows


def test_a_key_prefix_finds_the_writes_it_starts(store: StateStore) -> None:
    key = parked(store, "I1")
    assert [r.key for r in store.outbox_find(key[:6])] == [key]
    assert [r.key for r in store.outbox_find(key[:6].upper())] == [key]
    assert store.outbox_find("%") == [] and store.outbox_find("_") == []


def test_the_status_condition_keeps_a_retry_from_overtaking_the_daemon(store: StateStore) -> None:
    key = parked(store, "I1")
    with store.engine.begin() as conn:  # the daemon re-claimed it meanwhile (e.g. another admin retried)
        conn.execute(sa.text("UPDATE outbox SET status = 'sending' WHERE key = :k"), {"k": key})
    assert not store.retry_parked(key, by="alice")
    assert store.drop_parked(key, by="bob", note="x") is None
    assert row(store, key).status == "sending"


def test_a_new_write_waiting_on_a_dropped_write_is_dropped_with_it(store: StateStore) -> None:
    parent = parked(store, "I1")
    store.drop_parked(parent, by="alice", note="invoice voided")
    # A later decision chains a different write after the dropped one.
    [late] = store.enqueue("acme", [status_update("I2", level=2)], depends_on=parent)
    assert row(store, late).status == "dropped" and row(store, late).error_kind == "parent_dropped"
    assert store.claim("acme", 10) == []
    assert store.outbox_stats("acme")["oldest_pending_age_s"] == 0.0
