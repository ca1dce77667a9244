"""Reading a folder of exports: cursors, pages, rejects and the quirks of real CSV files."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.base import ConnectorContext, Cursor, Page, PermanentError
from connectors.csv import CsvConnector
from connectors.csv.sample import INVOICE_COLUMNS, PAYMENT_COLUMNS, edit_rows, write_csv, write_sample_exports
from mapping.models import (
    Allocation,
    CustomerStatus,
    DocumentStatus,
    Invoice,
    Payment,
    PaymentStatus,
    Stream,
    TargetType,
)


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    return write_sample_exports(tmp_path / "erp")


def connect(folder: Path, **settings: object) -> CsvConnector:
    connector = CsvConnector.create({"folder": str(folder), **settings}, ConnectorContext("harbor-lane"))
    assert isinstance(connector, CsvConnector)
    return connector


def read_all(connector: CsvConnector, stream: Stream, cursor: Cursor | None = None) -> list[Page]:
    return list(connector.read(stream, cursor))


def ids(pages: list[Page]) -> list[str]:
    return [r.remote_id for p in pages for r in p.records]


def invoice_row(id_: str, modified_at: str, **cells: str) -> dict[str, str]:
    row = {
        "id": id_, "number": f"INV-{id_}", "customer_id": "101", "status": "Open", "currency": "USD",
        "issue_date": "2024-03-01", "due_date": "2024-03-31", "total": "100.00", "open_amount": "100.00",
        "version": "1", "modified_at": modified_at,
    }  # fmt: skip
    row.update(cells)
    return row


def test_full_read_returns_every_invoice_in_modification_order(exports: Path) -> None:
    pages = read_all(connect(exports), Stream.INVOICES)

    records = [r for p in pages for r in p.records]
    assert len(records) == 12
    assert not [r for p in pages for r in p.rejects]
    times = [r.remote_modified_at for r in records]
    assert times == sorted(times)
    first = records[0]
    assert isinstance(first, Invoice)
    assert (first.remote_id, first.number, first.status) == ("1010", "INV-1010", DocumentStatus.VOID)
    assert first.raw["memo"] == "Voided: duplicate of 1011"


def test_customer_columns_become_the_canonical_customer(exports: Path) -> None:
    pages = read_all(connect(exports), Stream.CUSTOMERS)
    by_id = {r.remote_id: r for p in pages for r in p.records}

    kessler = by_id["103"]
    assert kessler.model_dump(
        include={"name", "currency", "country", "time_zone", "language", "credit_limit"}
    ) == {
        "name": "Kessler Bäckerei GmbH",
        "currency": "EUR",
        "country": "DE",
        "time_zone": "Europe/Berlin",
        "language": "de",
        "credit_limit": Decimal("8000.00"),
    }
    assert kessler.tags == ["bakery", "eu"]  # type: ignore[attr-defined]
    assert by_id["107"].status is CustomerStatus.INACTIVE  # type: ignore[attr-defined]
    assert by_id["108"].dunning_block is True  # type: ignore[attr-defined]
    assert by_id["101"].version == "3"


def test_incremental_read_returns_only_rows_changed_since_the_cursor(exports: Path) -> None:
    connector = connect(exports)
    cursor = read_all(connector, Stream.INVOICES)[-1].cursor
    assert cursor is not None and cursor.resumable

    assert read_all(connector, Stream.INVOICES, cursor) == []

    edit_rows(
        exports / "invoices.csv",
        ["1004", "1009"],
        {"modified_at": "2024-03-10T08:00:00+00:00", "version": "9"},
    )
    pages = read_all(connector, Stream.INVOICES, cursor)
    assert ids(pages) == ["1004", "1009"]
    assert [r.version for p in pages for r in p.records] == ["9", "9"]


def test_rows_with_equal_timestamps_are_neither_lost_nor_repeated_across_pages(tmp_path: Path) -> None:
    # A nightly batch job touched seven invoices in the same second; pages hold three rows.
    write_sample_exports(tmp_path)
    same = "2024-03-08T02:00:00+00:00"
    rows = [invoice_row("2000", "2024-03-07T23:00:00+00:00")]
    rows += [invoice_row(str(n), same) for n in (2001, 2002, 2003, 2004, 2005, 2006, 2007)]
    rows += [invoice_row("2008", "2024-03-08T02:00:01+00:00")]
    write_csv(tmp_path / "invoices.csv", INVOICE_COLUMNS, rows)
    connector = connect(tmp_path, page_size=3)

    # Resume after every page, as a daemon restarted after each stored page would.
    seen: list[str] = []
    cursor: Cursor | None = None
    while True:
        page = next(iter(connector.read(Stream.INVOICES, cursor)), None)
        if page is None:
            break
        assert page.cursor is not None and page.cursor.resumable
        seen += [r.remote_id for r in page.records]
        cursor = page.cursor

    assert seen == [str(n) for n in range(2000, 2009)]
    assert json.loads(cursor.value if cursor else "{}") == {
        "modified_at": "2024-03-08T02:00:01+00:00",
        "id": "2008",
    }


def test_numeric_ids_with_equal_timestamps_sort_as_numbers(tmp_path: Path) -> None:
    write_sample_exports(tmp_path)
    same = "2024-03-08T02:00:00+00:00"
    write_csv(
        tmp_path / "invoices.csv", INVOICE_COLUMNS, [invoice_row("999", same), invoice_row("1000", same)]
    )

    pages = read_all(connect(tmp_path, page_size=1), Stream.INVOICES)

    assert ids(pages) == ["999", "1000"]
    assert all(p.cursor is not None and p.cursor.resumable for p in pages)


def test_malformed_row_is_quarantined_and_the_rest_of_the_page_syncs(tmp_path: Path) -> None:
    write_sample_exports(tmp_path)
    rows = [
        invoice_row("1101", "2024-03-01T10:00:00+00:00"),
        invoice_row("1102", "2024-03-01T11:00:00+00:00", total="12O0.00"),
        invoice_row("1103", "2024-03-01T12:00:00+00:00", customer_id=""),
        invoice_row("1104", "2024-03-01T13:00:00+00:00", issue_date="31/03/2024"),
        invoice_row("1105", "2024-03-01T14:00:00+00:00", currency="Dollars"),
        invoice_row("1106", "2024-03-01T15:00:00+00:00"),
    ]
    write_csv(tmp_path / "invoices.csv", INVOICE_COLUMNS, rows)

    pages = read_all(connect(tmp_path), Stream.INVOICES)

    assert len(pages) == 1
    assert ids(pages) == ["1101", "1106"]
    rejects = {r.remote_id: r for r in pages[0].rejects}
    assert sorted(rejects) == ["1102", "1103", "1104", "1105"]
    assert rejects["1102"].field_path == "total"
    assert "not a number: '12O0.00'" in rejects["1102"].reason
    assert "invoices.csv line 3" in rejects["1102"].reason
    assert rejects["1103"].field_path == "customer_id"
    assert "required value is missing" in rejects["1103"].reason
    assert rejects["1104"].field_path == "issue_date"
    assert rejects["1105"].field_path == "currency"
    assert "ISO 4217" in rejects["1105"].reason
    assert rejects["1102"].raw["total"] == "12O0.00"
    # The rejected rows still move the cursor: they are quarantined, not retried forever.
    assert json.loads(pages[0].cursor.value)["id"] == "1106"  # type: ignore[union-attr]


def test_row_without_a_readable_modified_at_is_rejected_on_every_read(tmp_path: Path) -> None:
    write_sample_exports(tmp_path)
    rows = [
        invoice_row("1201", "2024-03-01T10:00:00+00:00"),
        invoice_row("1202", "last Tuesday"),
        {"number": "X"},
    ]
    write_csv(tmp_path / "invoices.csv", INVOICE_COLUMNS, rows)
    connector = connect(tmp_path)

    first = read_all(connector, Stream.INVOICES)
    again = read_all(connector, Stream.INVOICES, first[-1].cursor)

    for pages in (first, again):
        rejects = [r for p in pages for r in p.rejects]
        assert [(r.remote_id, r.field_path) for r in rejects] == [("1202", "modified_at"), (None, "id")]
    assert ids(first) == ["1201"]
    assert ids(again) == []


def test_row_with_more_cells_than_the_header_is_rejected(tmp_path: Path) -> None:
    write_sample_exports(tmp_path)
    header = ",".join(INVOICE_COLUMNS)
    good = "1301,INV-1301,101,Open,USD,2024-03-01,2024-03-31,100.00,100.00,,,,,1,2024-03-02T00:00:00Z,"
    (tmp_path / "invoices.csv").write_text(f"{header}\n{good}\n{good.replace('1301', '1302')},surplus\n")

    pages = read_all(connect(tmp_path), Stream.INVOICES)

    assert ids(pages) == ["1301"]
    assert [(r.remote_id, r.reason.split(" (")[0]) for r in pages[0].rejects] == [
        ("1302", "the row has more cells than the header")
    ]


def test_unsorted_export_is_not_resumable_until_its_last_page(exports: Path) -> None:
    write_sample_exports(exports, sort=False)  # listed by id, as many "export all" buttons do

    pages = read_all(connect(exports, page_size=5), Stream.INVOICES)

    assert [len(p.records) for p in pages] == [5, 5, 2]
    assert [p.cursor.resumable for p in pages if p.cursor] == [False, False, True]
    assert ids(pages) == [f"{n}" for n in range(1001, 1013)]
    assert json.loads(pages[-1].cursor.value) == {  # type: ignore[union-attr]
        "modified_at": "2024-03-03T13:00:00-07:00",
        "id": "1012",
    }


def test_incremental_read_of_an_unsorted_export_returns_only_changed_rows(exports: Path) -> None:
    write_sample_exports(exports, sort=False)
    connector = connect(exports, page_size=5)
    cursor = read_all(connector, Stream.INVOICES)[-1].cursor

    edit_rows(exports / "invoices.csv", ["1002"], {"modified_at": "2024-03-09T12:00:00+00:00"})

    assert ids(read_all(connector, Stream.INVOICES, cursor)) == ["1002"]


def test_date_only_and_naive_timestamps_are_read_as_utc(tmp_path: Path) -> None:
    write_sample_exports(tmp_path)
    rows = [
        invoice_row("1401", "2024-03-01"),
        invoice_row("1402", "2024-03-01 09:30:00"),
        invoice_row("1403", "2024-03-01T10:30:00Z"),
    ]
    write_csv(tmp_path / "invoices.csv", INVOICE_COLUMNS, rows)

    records = [r for p in read_all(connect(tmp_path), Stream.INVOICES) for r in p.records]

    assert [r.remote_modified_at for r in records] == [
        datetime(2024, 3, 1, tzinfo=UTC),
        datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
        datetime(2024, 3, 1, 10, 30, tzinfo=UTC),
    ]


def test_deleted_column_marks_a_soft_delete(exports: Path) -> None:
    edit_rows(exports / "invoices.csv", ["1010"], {"deleted": "true", "modified_at": "2024-03-09T00:00:00Z"})

    records = {r.remote_id: r for p in read_all(connect(exports), Stream.INVOICES) for r in p.records}

    assert records["1010"].deleted is True
    assert records["1011"].deleted is False


def test_allocations_column_becomes_payment_allocations(exports: Path) -> None:
    edit_rows(
        exports / "payments.csv",
        ["3005"],
        {"allocations": "1009=1200.00; credit_memo:2001=300.00@2024-03-05", "unapplied_amount": "0.00"},
    )

    payments = {r.remote_id: r for p in read_all(connect(exports), Stream.PAYMENTS) for r in p.records}

    atlas = payments["3005"]
    assert isinstance(atlas, Payment)
    assert atlas.allocations == [
        Allocation(target_type=TargetType.INVOICE, target_id="1009", amount=Decimal("1200.00")),
        Allocation(
            target_type=TargetType.CREDIT_MEMO,
            target_id="2001",
            amount=Decimal("300.00"),
            applied_date=datetime(2024, 3, 5).date(),
        ),
    ]
    assert payments["3004"].allocations == []  # type: ignore[attr-defined]


def test_payment_with_an_unreadable_allocation_is_quarantined(exports: Path) -> None:
    edit_rows(exports / "payments.csv", ["3004"], {"allocations": "1005=twenty"})

    pages = read_all(connect(exports), Stream.PAYMENTS)

    assert "3004" not in ids(pages)
    [reject] = [r for p in pages for r in p.rejects]
    assert (reject.remote_id, reject.field_path) == ("3004", "allocations")
    assert "'twenty' is not a number" in reject.reason


def test_status_is_derived_from_amounts_when_the_export_has_no_status_column(tmp_path: Path) -> None:
    write_sample_exports(tmp_path)
    columns = [c for c in PAYMENT_COLUMNS if c != "status"]
    base = {"customer_id": "101", "date": "2024-03-01", "amount": "500.00", "currency": "USD", "version": "1"}
    rows = [
        {**base, "id": "3101", "unapplied_amount": "500.00", "modified_at": "2024-03-01T01:00:00Z"},
        {**base, "id": "3102", "unapplied_amount": "200.00", "modified_at": "2024-03-01T02:00:00Z"},
        {**base, "id": "3103", "unapplied_amount": "0.00", "modified_at": "2024-03-01T03:00:00Z"},
    ]
    write_csv(tmp_path / "payments.csv", columns, rows)

    records = [r for p in read_all(connect(tmp_path), Stream.PAYMENTS) for r in p.records]

    assert [r.status for r in records] == [  # type: ignore[attr-defined]
        PaymentStatus.UNAPPLIED,
        PaymentStatus.PARTIALLY_APPLIED,
        PaymentStatus.APPLIED,
    ]


def test_admin_mapping_override_reads_a_differently_named_column(tmp_path: Path) -> None:
    write_sample_exports(tmp_path)
    columns = ["Invoice ID" if c == "id" else "Invoice No" if c == "number" else c for c in INVOICE_COLUMNS]
    row = invoice_row("1501", "2024-03-01T10:00:00Z")
    row["Invoice ID"], row["Invoice No"] = row.pop("id"), "HL-2024-0042"
    write_csv(tmp_path / "invoices.csv", columns, [row])
    overrides = {"streams": {"invoices": {"fields": {"remote_id": "Invoice ID", "number": "Invoice No"}}}}
    connector = CsvConnector.create(
        {"folder": str(tmp_path)}, ConnectorContext("harbor-lane", mapping_overrides=overrides)
    )

    [record] = [r for p in connector.read(Stream.INVOICES, None) for r in p.records]

    assert (record.remote_id, record.number) == ("1501", "HL-2024-0042")  # type: ignore[attr-defined]


def test_semicolon_delimited_european_export_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    write_sample_exports(tmp_path)
    header = ";".join(INVOICE_COLUMNS)
    row = (
        "1601;INV-1601;103;Offen;EUR;2024-03-01;2024-03-15;1.234,50;1.234,50;;;;;1;2024-03-01T08:00:00+01:00;"
    )
    (tmp_path / "invoices.csv").write_bytes(b"\xef\xbb\xbf" + f"{header}\n{row}\n".encode())
    comma = {"transform": "csv_decimal_comma"}
    overrides = {
        "streams": {
            "invoices": {
                "fields": {"total": comma, "open_amount": comma},
                "value_maps": {"status": {"offen": "open", "bezahlt": "paid"}},
            }
        }
    }
    connector = CsvConnector.create(
        {"folder": str(tmp_path), "delimiter": ";"}, ConnectorContext("kessler", mapping_overrides=overrides)
    )

    [record] = [r for p in connector.read(Stream.INVOICES, None) for r in p.records]

    assert isinstance(record, Invoice)
    assert (record.remote_id, record.total, record.open_amount) == (
        "1601",
        Decimal("1234.50"),
        Decimal("1234.50"),
    )
    assert (record.status, record.raw_status) == (DocumentStatus.OPEN, "Offen")


def test_check_passes_on_a_complete_folder(exports: Path) -> None:
    result = connect(exports).check()

    assert result.ok, result.message


def test_check_names_the_missing_exports(exports: Path) -> None:
    (exports / "credit_memos.csv").unlink()
    (exports / "payments.csv").unlink()

    result = connect(exports).check()

    assert not result.ok
    assert "credit_memos.csv" in result.message and "payments.csv" in result.message
    assert result.details["missing"] == ["credit_memos.csv", "payments.csv"]


def test_check_names_a_missing_key_column_and_a_missing_folder(tmp_path: Path) -> None:
    write_sample_exports(tmp_path)
    write_csv(tmp_path / "customers.csv", ["id", "name"], [{"id": "101", "name": "Blue Fern Café"}])

    assert "customers.csv lacks the column(s) modified_at" in connect(tmp_path).check().message
    result = connect(tmp_path / "nowhere").check()
    assert not result.ok and "does not exist" in result.message


def test_reading_a_missing_export_is_a_permanent_error_naming_the_file(exports: Path) -> None:
    (exports / "payments.csv").unlink()

    with pytest.raises(PermanentError, match=r"payments\.csv is missing"):
        read_all(connect(exports), Stream.PAYMENTS)


def test_cursor_from_another_connector_is_refused(exports: Path) -> None:
    with pytest.raises(PermanentError, match="not written by the csv connector"):
        read_all(connect(exports), Stream.INVOICES, Cursor("startposition=1001"))


def test_fetch_rereads_one_row(exports: Path) -> None:
    connector = connect(exports)

    invoice = connector.fetch(TargetType.INVOICE, "1007")

    assert isinstance(invoice, Invoice)
    assert (invoice.number, invoice.open_amount, invoice.version) == ("INV-1007", Decimal("4150.00"), "5")
    assert connector.fetch(TargetType.CUSTOMER, "999") is None


def test_reading_a_large_export_keeps_memory_bounded(tmp_path: Path) -> None:
    write_sample_exports(tmp_path)
    path = tmp_path / "invoices.csv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(",".join(INVOICE_COLUMNS) + "\n")
        for n in range(20_000):
            fh.write(
                f"{100000 + n},INV-{100000 + n},101,Open,USD,2024-01-01,2024-01-31,{n}.50,{n}.50,"
                f"Order {n} of pallets and shrink wrap,,,,1,2024-02-01T00:00:{n % 60:02d}+00:00,\n"
            )
    connector = connect(tmp_path, page_size=500)

    tracemalloc.start()
    try:
        count = sum(len(p.records) for p in connector.read(Stream.INVOICES, None))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == 20_000
    # 20,000 parsed invoices held at once would take well over 40 MB; two pages take a few.
    assert peak < 12_000_000, f"peak {peak / 1e6:.1f} MB"
