"""`arbridge outbox`: an admin lists parked writes to the ERP, retries one after a fix, or drops it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mapping import CollectionStatus, CollectionStatusUpdate, TargetType
from store import StateStore, idempotency_key
from sync_daemon import cli


def reminder(rid: str, level: int = 1) -> CollectionStatusUpdate:
    return CollectionStatusUpdate(
        target_type=TargetType.INVOICE,
        target_id=rid,
        collection_status=CollectionStatus.REMINDED,
        dunning_level=level,
    )


@pytest.fixture
def deployment(tmp_path: Path) -> tuple[Path, str]:
    config = tmp_path / "arbridge.yaml"
    state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    config.write_text(f'version: 1\nstore: {{url: "{state}"}}\n')
    config.chmod(0o600)
    StateStore.open(state).close()
    return config, state


def park(
    state: str, *ops: CollectionStatusUpdate, error: str = "Accounting period 2026-10 is closed"
) -> list[str]:
    """Writes that left for the ERP and were refused for good."""
    store = StateStore.open(state)
    keys = store.enqueue("shop", list(ops))
    store.claim("shop", 100)
    for key in keys:
        store.mark_parked(key, error=error, kind="bad_record")
    store.close()
    return keys


def statuses(state: str) -> dict[str, str]:
    store = StateStore.open(state)
    try:
        return {r.key: r.status for r in store.outbox_rows()}
    finally:
        store.close()


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_outbox_list_shows_parked_writes_with_the_erps_message(deployment: tuple[Path, str]) -> None:
    config, state = deployment
    [key] = park(state, reminder("10"))
    store = StateStore.open(state)
    [waiting] = store.enqueue("shop", [reminder("11")], depends_on=key)
    store.close()

    code, out = invoke("outbox", "list", "-c", str(config))
    assert code == 0
    assert key[:16] in out and key[:17] not in out
    assert "shop" in out and "collection_status" in out and "invoice/10" in out and "attempts 1" in out
    assert "may have reached the ERP" in out and "Accounting period 2026-10 is closed" in out
    assert "invoice/11" not in out  # pending, not parked

    code, out = invoke("outbox", "list", "-c", str(config), "--status", "pending", "--json")
    [item] = json.loads(out)["writes"]
    assert item["key"] == waiting[:16] and item["waiting_on"] == {"key": key[:16], "status": "parked"}
    assert item["maybe_in_erp"] is False

    code, out = invoke("outbox", "list", "-c", str(config), "--connection", "other")
    assert (code, out) == (0, "no parked writes for other\n")


def test_retrying_a_parked_write_puts_it_back_in_the_queue(deployment: tuple[Path, str]) -> None:
    config, state = deployment
    [key] = park(state, reminder("10"))
    code, out = invoke("outbox", "retry", "-c", str(config), key[:10], "--note", "period reopened")
    assert code == 0 and "goes out at the next cycle of shop" in out and "looked up there first" in out
    assert statuses(state) == {key: "pending"}


def test_retry_and_drop_are_in_the_audit_log_with_the_operator_and_note(
    deployment: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, state = deployment
    retried, dropped = park(state, reminder("10"), reminder("11"))
    monkeypatch.setattr("getpass.getuser", lambda: "alice")
    assert invoke("outbox", "retry", "-c", str(config), retried[:12], "--note", "period reopened")[0] == 0
    assert invoke("outbox", "drop", "-c", str(config), dropped[:12], "--note", "invoice cancelled")[0] == 0

    store = StateStore.open(state)
    entries = {e["event"]: e for e in store.audit_entries("shop")}
    problems = store.verify_audit()
    store.close()
    assert problems == []
    retry_detail = json.loads(entries["outbox_retried"]["detail"])
    drop_detail = json.loads(entries["outbox_dropped"]["detail"])
    assert entries["outbox_retried"]["subject"] == "invoice/10"
    assert retry_detail["key"] == retried and retry_detail["by"] == "alice"
    assert retry_detail["note"] == "period reopened"
    assert retry_detail["error"] == "Accounting period 2026-10 is closed"
    assert entries["outbox_dropped"]["subject"] == "invoice/11"
    assert drop_detail["key"] == dropped and drop_detail["by"] == "alice"
    assert drop_detail["note"] == "invoice cancelled" and drop_detail["dependents"] == []


def two_reminders_sharing_a_key_prefix(length: int) -> tuple[CollectionStatusUpdate, CollectionStatusUpdate]:
    seen: dict[str, CollectionStatusUpdate] = {}
    for i in range(100_000):
        op = reminder(str(i))
        prefix = idempotency_key("shop", op)[:length]
        if prefix in seen:
            return seen[prefix], op
        seen[prefix] = op
    raise AssertionError("no two keys share a prefix")


def test_a_key_prefix_that_matches_two_writes_is_refused(deployment: tuple[Path, str]) -> None:
    config, state = deployment
    first, second = park(state, *two_reminders_sharing_a_key_prefix(4))
    code, out = invoke("outbox", "retry", "-c", str(config), first[:4])
    assert code == 1 and "matches several writes" in out and first[:16] in out and second[:16] in out
    code, out = invoke("outbox", "drop", "-c", str(config), first[:4], "--note", "x")
    assert code == 1 and "matches several writes" in out
    code, out = invoke("outbox", "retry", "-c", str(config), "ffffffffffffffff0000")
    assert code == 1 and "no write with a key starting 'ffffffffffffffff0000'" in out
    assert statuses(state) == {first: "parked", second: "parked"}


def test_only_parked_writes_can_be_retried(deployment: tuple[Path, str]) -> None:
    config, state = deployment
    [parked] = park(state, reminder("10"))
    store = StateStore.open(state)
    [pending] = store.enqueue("shop", [reminder("11")])
    [done] = store.enqueue("shop", [reminder("12")])
    store.claim("shop", 10)
    store.release([pending])
    store.mark_done(done)
    store.close()

    for key, status in ((pending, "pending"), (done, "done")):
        code, out = invoke("outbox", "retry", "-c", str(config), parked[:16], key[:16])
        assert code == 1 and f"{key[:16]} is {status}; only parked writes can be retried" in out
        code, out = invoke("outbox", "drop", "-c", str(config), key[:16], "--note", "x")
        assert code == 1 and f"is {status}; only parked writes can be dropped" in out
    # Nothing moved, not even the parked write named beside the refused one.
    assert statuses(state) == {parked: "parked", pending: "pending", done: "done"}


def test_dropping_a_write_lists_the_writes_waiting_on_it(deployment: tuple[Path, str]) -> None:
    config, state = deployment
    [parent] = park(state, reminder("10"))
    store = StateStore.open(state)
    [child] = store.enqueue("shop", [reminder("11")], depends_on=parent)
    store.close()
    code, out = invoke("outbox", "drop", "-c", str(config), parent[:16], "--note", "customer left")
    assert code == 0 and "never be sent" in out
    assert f"also dropped (it waited on it): {child[:16]} collection_status invoice/11" in out
    assert statuses(state) == {parent: "dropped", child: "dropped"}

    code, out = invoke("outbox", "list", "-c", str(config), "--status", "dropped")
    assert parent[:16] in out and child[:16] in out


def test_a_drop_without_a_note_is_refused(deployment: tuple[Path, str]) -> None:
    config, state = deployment
    [key] = park(state, reminder("10"))
    assert invoke("outbox", "drop", "-c", str(config), key[:16])[0] == 2
    assert invoke("outbox", "drop", "-c", str(config), key[:16], "--note", " ")[0] == 2
    assert statuses(state) == {key: "parked"}


def test_status_counts_dropped_writes_beside_parked_ones(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    config = tmp_path / "arbridge.yaml"
    state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    config.write_text(
        f'version: 1\nstore: {{url: "{state}"}}\n'
        f'connections:\n  - {{name: shop, connector: csv, settings: {{folder: "{tmp_path / "exports"}"}}}}\n'
    )
    config.chmod(0o600)
    StateStore.open(state).close()
    given_up, _kept = park(state, reminder("10"), reminder("11"))
    assert invoke("outbox", "drop", "-c", str(config), given_up[:16], "--note", "invoice voided")[0] == 0

    code, out = invoke("status", "-c", str(config))
    assert code == 0 and "1 parked, 1 dropped" in out
    code, out = invoke("status", "-c", str(config), "--json")
    assert json.loads(out)["connections"]["shop"]["outbox"]["counts"] == {"parked": 1, "dropped": 1}
