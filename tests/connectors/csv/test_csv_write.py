"""Writing back to the CSV "ERP": one appended row per operation, at most once per key."""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.base import (
    BadRecordError,
    ConflictError,
    ConnectorContext,
    OutboundOp,
    PermanentError,
)
from connectors.csv import CsvConnector
from connectors.csv.sample import edit_rows, write_sample_exports
from mapping.models import (
    Allocation,
    CollectionStatus,
    CollectionStatusUpdate,
    Note,
    PaymentApplication,
    TargetType,
)


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    return write_sample_exports(tmp_path / "erp")


def connect(folder: Path, **settings: object) -> CsvConnector:
    connector = CsvConnector.create({"folder": str(folder), **settings}, ConnectorContext("harbor-lane"))
    assert isinstance(connector, CsvConnector)
    return connector


def reminder(
    invoice: str = "1007", *, level: int = 2, base_version: str | None = None
) -> CollectionStatusUpdate:
    return CollectionStatusUpdate(
        target_type=TargetType.INVOICE,
        target_id=invoice,
        collection_status=CollectionStatus.REMINDED,
        dunning_level=level,
        next_action_date=date(2024, 3, 20),
        base_version=base_version,
        reason="45 days overdue, second reminder",
    )


def file_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_collection_status_update_is_appended_with_its_key_first(exports: Path) -> None:
    connector = connect(exports)

    [result] = connector.write([OutboundOp("k-1007-reminded-2", reminder())])

    assert result.ok and not result.duplicate
    assert (result.remote_id, result.version) == ("1007", "5")
    header, row = file_rows(exports / "writeback.csv")
    assert header[0] == "idempotency_key"
    written = dict(zip(header, row, strict=True))
    assert written["idempotency_key"] == "k-1007-reminded-2"
    assert (written["op_type"], written["target_type"], written["target_id"]) == (
        "collection_status",
        "invoice",
        "1007",
    )
    assert json.loads(written["payload"])["dunning_level"] == 2
    assert written["reason"] == "45 days overdue, second reminder"


def test_write_back_survives_restart_without_duplicates(exports: Path) -> None:
    op = OutboundOp("k-1007-reminded-2", reminder())
    connect(exports).write([op])

    # A new process (the confirmation was lost, so the outbox sends the row again).
    [again] = connect(exports).write([op])

    assert again.ok and again.duplicate
    assert len(file_rows(exports / "writeback.csv")) == 2  # header and one row


def test_the_same_key_twice_in_one_batch_is_written_once(exports: Path) -> None:
    op = OutboundOp(
        "k-note-105", Note(target_type=TargetType.CUSTOMER, target_id="105", text="Called Dr. Alvarez")
    )

    first, second = connect(exports).write([op, op])

    assert (first.duplicate, second.duplicate) == (False, True)
    assert len(file_rows(exports / "writeback.csv")) == 2


def test_stale_base_version_is_a_conflict_and_nothing_is_written(exports: Path) -> None:
    connector = connect(exports)
    edit_rows(exports / "invoices.csv", ["1007"], {"version": "6"})  # someone edited the invoice meanwhile

    [result] = connector.write([OutboundOp("k-stale", reminder(base_version="5"))])

    assert not result.ok
    assert isinstance(result.error, ConflictError)
    assert "version is '6'" in str(result.error) and "based on '5'" in str(result.error)
    assert result.version == "6"
    assert connector.find_written(OutboundOp("k-stale", reminder())) is None


def test_current_base_version_is_written(exports: Path) -> None:
    [result] = connect(exports).write([OutboundOp("k-current", reminder(base_version="5"))])

    assert result.ok


def test_one_bad_operation_does_not_stop_the_rest_of_the_batch(exports: Path) -> None:
    ops = [
        OutboundOp("k-missing", reminder("9999")),
        OutboundOp("k-ok", reminder("1002", level=1)),
    ]

    missing, ok = connect(exports).write(ops)

    assert isinstance(missing.error, BadRecordError)
    assert "invoice 9999 is not in invoices.csv" in str(missing.error)
    assert ok.ok
    assert [r[0] for r in file_rows(exports / "writeback.csv")[1:]] == ["k-ok"]


def test_payment_application_and_note_are_written(exports: Path) -> None:
    apply_cash = PaymentApplication(
        target_type=TargetType.PAYMENT,
        target_id="3004",
        payment_id="3004",
        customer_remote_id="103",
        amount=Decimal("2310.00"),
        currency="EUR",
        date=date(2024, 3, 4),
        reference="RE INV-1005 KESSLER",
        allocations=[Allocation(target_type=TargetType.INVOICE, target_id="1005", amount=Decimal("2310.00"))],
    )
    note = Note(target_type=TargetType.CUSTOMER, target_id="103", text="Zahlung per SEPA erhalten, danke.")

    results = connect(exports).write([OutboundOp("k-apply", apply_cash), OutboundOp("k-note", note)])

    assert all(r.ok for r in results)
    rows = {r[0]: r for r in file_rows(exports / "writeback.csv")[1:]}
    payload = json.loads(rows["k-apply"][-1])
    assert payload["allocations"] == [
        {
            "target_type": "invoice",
            "target_id": "1005",
            "amount": "2310.00",
            "discount": None,
            "writeoff": None,
            "currency_rate": None,
            "applied_date": None,
        }
    ]
    assert json.loads(rows["k-note"][-1])["text"] == "Zahlung per SEPA erhalten, danke."


def test_find_written_looks_the_key_up_in_the_write_back_file(exports: Path) -> None:
    connector = connect(exports)
    op = OutboundOp("k-1007-reminded-2", reminder())
    assert connector.find_written(op) is None

    connector.write([op])
    found = connect(exports).find_written(op)

    assert found is not None and found.ok and found.remote_id == "1007"


def test_half_written_row_from_a_crash_is_not_counted_and_the_next_row_starts_on_its_own_line(
    exports: Path,
) -> None:
    connector = connect(exports)
    connector.write([OutboundOp("k-first", reminder("1002", level=1))])
    with open(exports / "writeback.csv", "a", encoding="utf-8") as fh:
        fh.write("k-torn,2024-03-06T10:00:00+00:00,collection_sta")  # the power went out here

    results = connect(exports).write([OutboundOp("k-torn", reminder("1004", level=1))])

    assert results[0].ok and not results[0].duplicate
    assert [r.get("idempotency_key") for r in connector.written_rows()] == ["k-first", "k-torn"]


def test_a_batch_larger_than_the_erp_accepts_is_refused(exports: Path) -> None:
    ops = [OutboundOp(f"k-{n}", reminder()) for n in range(501)]

    with pytest.raises(PermanentError, match="at most 500"):
        connect(exports).write(ops)


def test_writeback_file_can_live_outside_the_export_folder(exports: Path, tmp_path: Path) -> None:
    target = tmp_path / "imports" / "arbridge-writeback.csv"

    connect(exports, writeback_file=str(target)).write([OutboundOp("k-1", reminder())])

    assert target.exists() and not (exports / "writeback.csv").exists()
