"""The fault injector: reproducible faults, deterministic "fail first N", and an honest count."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.base import (
    AuthError,
    BadRecordError,
    ConflictError,
    ConnectorContext,
    ConnectorError,
    OutboundOp,
    ThrottledError,
    TransientError,
)
from connectors.csv.sample import write_sample_exports
from connectors.faulty import FaultyConnector
from connectors.memory import MemoryConnector
from connectors.registry import discover
from mapping.models import CollectionStatus, CollectionStatusUpdate, Note, Stream, TargetType

BOOKS = {
    "erp": "faulty-books",
    "customers": 10,
    "invoices": 60,
    "credit_memos": 4,
    "payments": 20,
    "page_size": 10,
}


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    FaultyConnector.reset()
    MemoryConnector.reset()
    yield
    FaultyConnector.reset()
    MemoryConnector.reset()


def faulty(connection: str = "acme-faulty", **faults: Any) -> FaultyConnector:
    settings = {"inner": {"connector": "memory", "settings": BOOKS}, **faults}
    connector = FaultyConnector.create(settings, ConnectorContext(connection))
    assert isinstance(connector, FaultyConnector)
    return connector


def note(n: int) -> OutboundOp:
    return OutboundOp(
        f"k-note-{n}", Note(target_type=TargetType.CUSTOMER, target_id="C0000001", text=f"Call {n}")
    )


def outcome(connector: FaultyConnector) -> str:
    try:
        list(connector.read(Stream.CUSTOMERS, None))
    except ConnectorError as exc:
        return exc.kind.value
    return "ok"


def test_it_is_discovered_by_entry_point() -> None:
    assert discover().get("faulty") is FaultyConnector


def test_without_faults_it_behaves_like_the_inner_connector() -> None:
    pages = list(faulty().read(Stream.INVOICES, None))

    assert sum(len(p.records) for p in pages) == 60
    assert faulty().check().ok


def test_the_first_n_calls_fail_then_the_connection_recovers() -> None:
    connector = faulty(fail_first=2, fail_first_kind="transient")

    assert [outcome(connector) for _ in range(3)] == ["transient", "transient", "ok"]
    assert connector.injected == {"transient": 2}


def test_fail_first_counts_per_connection_across_new_instances() -> None:
    # The engine may build a new connector every cycle; the failures must not start over.
    assert outcome(faulty(fail_first=1)) == "transient"
    assert outcome(faulty(fail_first=1)) == "ok"
    assert outcome(faulty("another-company", fail_first=1)) == "transient"


def test_throttle_carries_the_retry_after_the_erp_asked_for() -> None:
    connector = faulty(fail_first=1, fail_first_kind="throttled", retry_after=7.5)

    with pytest.raises(ThrottledError) as caught:
        list(connector.read(Stream.CUSTOMERS, None))

    assert caught.value.retry_after == 7.5 and caught.value.retriable


def test_timeouts_are_transient_and_auth_failures_are_not_retriable() -> None:
    with pytest.raises(TransientError, match="timed out"):
        list(faulty(fail_first=1, fail_first_kind="timeout").read(Stream.CUSTOMERS, None))
    FaultyConnector.reset()
    with pytest.raises(AuthError) as caught:
        list(faulty(fail_first=1, fail_first_kind="auth").read(Stream.CUSTOMERS, None))
    assert not caught.value.retriable


def test_auth_failure_fails_the_check_with_a_message() -> None:
    result = faulty(auth=1.0, fail_on=["check"]).check()

    assert not result.ok and "401" in result.message


def test_a_later_page_can_fail_after_earlier_pages_were_served() -> None:
    connector = faulty(transient=0.3, seed=0)  # with this seed the fourth request fails
    served = 0

    with pytest.raises(TransientError):
        for page in connector.read(Stream.INVOICES, None):
            served += len(page.records)

    assert served == 30  # three pages of ten arrived before the failure
    assert connector.injected["transient"] == 1
    assert connector.calls["read"] == 4


def test_the_same_seed_injects_the_same_faults() -> None:
    def run(connection: str) -> list[str]:
        connector = faulty(connection, throttled=0.3, transient=0.3, seed=42)
        return [outcome(connector) for _ in range(30)]

    first, second = run("run-1"), run("run-2")

    assert first == second
    assert {"throttled", "transient", "ok"} <= set(first)


def test_garbage_records_become_rejects_and_are_counted() -> None:
    connector = faulty(garbage=0.2, seed=1)

    pages = list(connector.read(Stream.INVOICES, None))

    records = sum(len(p.records) for p in pages)
    rejects = [r for p in pages for r in p.rejects]
    assert records + len(rejects) == 60
    assert len(rejects) == connector.injected["garbage"] > 0
    assert all(r.remote_id and "unparseable" in r.reason for r in rejects)
    assert all(p.cursor is not None for p in pages)  # the cursor still moves past the garbage


def test_conflicts_and_refusals_replace_single_operations_and_the_rest_are_written() -> None:
    connector = faulty(conflict=0.3, bad_record=0.3, seed=7)
    ops = [note(n) for n in range(20)]

    results = connector.write(ops)

    assert [r.key for r in results] == [op.key for op in ops]
    conflicts = [r for r in results if isinstance(r.error, ConflictError)]
    refused = [r for r in results if isinstance(r.error, BadRecordError)]
    written = [r for r in results if r.ok]
    assert conflicts and refused and written
    assert connector.injected["conflict"] == len(conflicts)
    assert connector.injected["bad_record"] == len(refused)
    erp = MemoryConnector.erps["faulty-books"]
    assert set(erp.applied) == {r.key for r in written}


def test_lost_acknowledgement_applies_the_write_but_reports_a_transient_error() -> None:
    connector = faulty(lost_ack=1.0)
    op = OutboundOp(
        "k-remind-I0000003",
        CollectionStatusUpdate(
            target_type=TargetType.INVOICE, target_id="I0000003", collection_status=CollectionStatus.REMINDED
        ),
    )

    with pytest.raises(TransientError, match="connection reset"):
        connector.write([op])

    erp = MemoryConnector.erps["faulty-books"]
    assert erp.applied_count[op.key] == 1  # it landed: a retry must not apply it twice
    assert connector.find_written(op) is not None


def test_it_wraps_the_csv_connector_too(tmp_path: Path) -> None:
    write_sample_exports(tmp_path)
    settings = {"inner": {"connector": "csv", "settings": {"folder": str(tmp_path)}}, "fail_first": 1}
    connector = FaultyConnector.create(settings, ConnectorContext("harbor-lane"))

    with pytest.raises(TransientError):
        list(connector.read(Stream.CUSTOMERS, None))
    assert sum(len(p.records) for p in connector.read(Stream.CUSTOMERS, None)) == 8
    assert connector.capabilities.batch_max == 500


def test_a_secret_in_the_inner_settings_stays_out_of_repr() -> None:
    books = {**BOOKS, "api_key": "sk-live-4f9a2c"}
    connector = FaultyConnector.create(
        {"inner": {"connector": "memory", "settings": books}}, ConnectorContext("acme-faulty")
    )

    assert "sk-live-4f9a2c" not in repr(connector.settings)
    assert "sk-live-4f9a2c" not in str(connector.settings.model_dump())
    assert isinstance(connector.settings.inner.settings["api_key"], SecretStr)  # type: ignore[attr-defined]
