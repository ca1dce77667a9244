"""The state store keeps what was synced, what is owed to the ERP, and an audit trail."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from connectors.base import Cursor, Reject
from mapping import CollectionStatus, CollectionStatusUpdate, Invoice, Stream, TargetType
from store import StateStore, idempotency_key, schema_revision


def invoice(rid: str, amount: str = "100.00", *, customer: str = "C1", modified: int = 0) -> Invoice:
    return Invoice(
        remote_id=rid,
        number=f"INV-{rid}",
        customer_remote_id=customer,
        currency="EUR",
        issue_date=date(2026, 10, 1),
        due_date=date(2026, 10, 31),
        total=Decimal(amount),
        open_amount=Decimal(amount),
        remote_modified_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=modified),
        version="0",
    )


def status_update(rid: str, level: int = 1) -> CollectionStatusUpdate:
    return CollectionStatusUpdate(
        target_type=TargetType.INVOICE,
        target_id=rid,
        collection_status=CollectionStatus.REMINDED,
        dunning_level=level,
    )


@pytest.fixture
def store(store_url: str):
    s = StateStore.open(store_url)
    yield s
    s.close()


def test_a_new_database_is_migrated_to_the_newest_schema(store: StateStore) -> None:
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import store.state as state

    scripts = Config()
    scripts.set_main_option("script_location", str(Path(state.__file__).parent / "migrations"))
    assert schema_revision(store.engine) == ScriptDirectory.from_config(scripts).get_current_head()
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"records", "cursors", "outbox", "quarantine", "audit_log", "runs", "connector_state"} <= tables


def test_page_and_its_cursor_are_stored_together(store: StateStore) -> None:
    store.save_page("acme", Stream.INVOICES, [invoice("1"), invoice("2")], cursor=Cursor('{"t": 2}'))
    assert store.get_cursor("acme", Stream.INVOICES) == Cursor('{"t": 2}')
    assert store.count_records("acme") == {"invoices": 2}
    stored = store.get_record("acme", Stream.INVOICES, "2")
    assert stored is not None and stored.content_hash() == invoice("2").content_hash()


def test_unchanged_records_are_not_reprocessed(store: StateStore) -> None:
    first = store.save_page("acme", Stream.INVOICES, [invoice("1"), invoice("2")])
    again = store.save_page("acme", Stream.INVOICES, [invoice("1"), invoice("2", "80.00")])
    assert (first.new, again.unchanged, again.changed, again.changed_keys) == (2, 1, 1, ["2"])


def test_a_large_page_mixing_new_changed_and_unchanged_records_is_counted_and_stored_as_read(
    store: StateStore,
) -> None:
    store.save_page("acme", Stream.INVOICES, [invoice(f"{n:04d}") for n in range(0, 2000, 2)])
    page = [invoice(f"{n:04d}", "90.00" if n % 10 == 0 else "100.00") for n in range(2000)]
    out = store.save_page("acme", Stream.INVOICES, list(reversed(page)))
    changed = [f"{n:04d}" for n in reversed(range(2000)) if n % 2 or n % 10 == 0]
    assert (out.new, out.changed, out.unchanged) == (1000, 200, 800)
    assert out.changed_keys == changed  # in the page's order, for the rules that follow
    stored = store.get_record("acme", Stream.INVOICES, "0010")
    assert stored is not None and stored.total == Decimal("90.00")
    assert store.count_records("acme") == {"invoices": 2000}


def test_a_non_resumable_cursor_is_not_stored_mid_stream(store: StateStore) -> None:
    store.save_page("acme", Stream.INVOICES, [invoice("1")], cursor=Cursor("a"))
    store.save_page("acme", Stream.INVOICES, [invoice("2")], cursor=Cursor("b", resumable=False))
    assert store.get_cursor("acme", Stream.INVOICES) == Cursor("a")


def test_rejected_record_is_quarantined_with_path_and_reason_and_released_once_it_maps(
    store: StateStore,
) -> None:
    bad = Reject(Stream.INVOICES, "7", "TotalAmt", "not a number: 'abc'", raw={"Id": "7", "TotalAmt": "abc"})
    store.save_page("acme", Stream.INVOICES, [invoice("1")], [bad])
    [q] = store.quarantined("acme")
    assert (q["remote_id"], q["field_path"], q["reason"]) == ("7", "TotalAmt", "not a number: 'abc'")
    store.save_page("acme", Stream.INVOICES, [invoice("7")])
    assert store.quarantine_count("acme") == 0


def test_records_stream_in_customer_order_without_loading_everything(store: StateStore) -> None:
    recs = [invoice(str(i), customer=f"C{i % 3}") for i in range(25)]
    store.save_page("acme", Stream.INVOICES, recs)
    seen = list(store.iter_records("acme", Stream.INVOICES, order_by_customer=True, batch=4))
    assert len(seen) == 25
    customers = [r.customer_remote_id for r in seen]  # type: ignore[attr-defined]
    assert customers == sorted(customers)


def test_the_same_decision_is_queued_once(store: StateStore) -> None:
    keys = store.enqueue("acme", [status_update("1"), status_update("1")])
    store.enqueue("acme", [status_update("1")])
    assert keys[0] == keys[1] == idempotency_key("acme", status_update("1"))
    assert len(store.outbox_rows("acme")) == 1


def test_key_depends_on_connection_target_and_content_not_on_version() -> None:
    a = status_update("1")
    assert idempotency_key("acme", a) == idempotency_key("acme", a.model_copy(update={"base_version": "9"}))
    assert idempotency_key("acme", a) != idempotency_key("other", a)
    assert idempotency_key("acme", a) != idempotency_key("acme", status_update("1", level=2))


def test_claimed_rows_are_marked_sending_and_done_rows_are_not_claimed_again(store: StateStore) -> None:
    store.enqueue("acme", [status_update("1"), status_update("2")])
    rows = store.claim("acme", 10)
    assert [r.status for r in rows] == ["sending", "sending"]
    store.mark_done(rows[0].key, remote_id="1", version="1")
    again = store.claim("acme", 10)  # a crash after sending leaves "sending": reclaimed, same key
    assert [r.key for r in again] == [rows[1].key]
    assert again[0].attempts == 2


def test_a_write_waits_for_its_parent_and_keeps_waiting_if_the_parent_is_parked(store: StateStore) -> None:
    [parent] = store.enqueue("acme", [status_update("1")])
    store.enqueue("acme", [status_update("2")], depends_on=parent)
    assert [r.key for r in store.claim("acme", 10)] == [parent]
    store.mark_parked(parent, error="invalid", kind="bad_record")
    assert store.claim("acme", 10) == []


def test_a_payload_changed_after_its_key_was_issued_is_detected(store: StateStore) -> None:
    [key] = store.enqueue("acme", [status_update("1")])
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE outbox SET payload = :p WHERE key = :k"),
            {"p": status_update("1", level=3).model_dump_json(), "k": key},
        )
    [row] = store.claim("acme", 1)
    assert not row.key_matches_payload()


def test_connector_state_is_durable_per_connection(store: StateStore) -> None:
    store.connector_state("acme").put("refresh_token", "rt-1")
    store.connector_state("acme").put("refresh_token", "rt-2")
    assert store.connector_state("acme").get("refresh_token") == "rt-2"
    assert store.connector_state("other").get("refresh_token") is None


def test_needs_reauth_alerts_only_the_first_time(store: StateStore) -> None:
    assert store.set_needs_reauth("acme", "invalid_grant") is True
    assert store.set_needs_reauth("acme", "invalid_grant") is False
    assert store.connection_health("acme")["needs_reauth"] is True


def test_audit_log_verifies_and_detects_a_changed_or_deleted_row(store: StateStore) -> None:
    for i in range(4):
        store.audit("written", connection="acme", subject=f"invoice/{i}", detail={"level": i})
    assert store.verify_audit() == []
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET detail = '{\"level\": 9}' WHERE id = 2"))
    assert any("row 2" in p for p in store.verify_audit())


def test_audit_log_detects_a_deleted_row(store: StateStore) -> None:
    for i in range(3):
        store.audit("written", connection="acme", subject=f"invoice/{i}")
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = 2"))
    assert any("missing" in p for p in store.verify_audit())


def test_runs_record_status_and_stats(store: StateStore) -> None:
    run = store.start_run("acme")
    store.finish_run(run, "ok", {"pulled": {"invoices": {"new": 3}}})
    [info] = store.runs("acme")
    assert (info.status, info.stats["pulled"]["invoices"]["new"]) == ("ok", 3)


def test_a_deletion_notice_flags_the_stored_copy_instead_of_overwriting_it(store: StateStore) -> None:
    store.save_page("acme", Stream.INVOICES, [invoice("1", "250.00")])
    notice = invoice("1", "0").model_copy(
        update={"deleted": True, "customer_remote_id": "unknown", "version": "7"}
    )
    outcome = store.save_page("acme", Stream.INVOICES, [notice])
    stored = store.get_record("acme", Stream.INVOICES, "1")
    assert outcome.deleted == 1
    assert stored is not None and stored.deleted and stored.version == "7"
    assert stored.total == Decimal("250.00") and stored.customer_remote_id == "C1"  # type: ignore[attr-defined]
    assert store.count_records("acme") == {}
