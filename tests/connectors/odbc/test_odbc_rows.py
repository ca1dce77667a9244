"""A mapping compiled for table rows says what ``FieldMap`` says, and fails the same way."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from connectors.odbc import RowMapper
from mapping.fieldmap import FieldMap, MappingError
from mapping.models import Stream

SPEC = {
    "streams": {
        "invoices": {
            "fields": {
                "remote_id": "ID",
                "number": "DOCNUMBR",
                "customer_remote_id": "CUSTNMBR",
                "currency": "CURNCYID",
                "issue_date": {"path": "DOCDATE", "transform": "gp_date"},
                "due_date": {"path": ["DUEDATE", "DOCDATE"], "transform": "gp_date"},
                "total": "ORTRXAMT",
                "open_amount": {"path": "CURTRXAM", "default": "0", "transform": "decimal"},
                "memo": {"path": "TRXDSCRN", "transform": ["strip", "empty_is_none"]},
                "raw_status": {"const": "invoice"},
                "remote_modified_at": "TS",
            },
            "value_maps": {"currency": {"": "USD", "Z-EURO": "EUR"}},
        }
    }
}
ROWS = [
    (
        "1:INV1",
        "INV1",
        "C1",
        "Z-EURO",
        datetime(2026, 1, 5),
        datetime(2026, 2, 4),
        Decimal("10.5"),
        None,
        "Sales",
    ),
    ("1:INV2", "INV2", "C2", "", datetime(2026, 1, 5), datetime(1900, 1, 1), Decimal("3"), Decimal("1"), ""),
    ("1:INV3", "INV3", "C3", "", datetime(2026, 1, 5), None, Decimal("3"), Decimal("1"), "  x  "),
]
COLUMNS = ("ID", "DOCNUMBR", "CUSTNMBR", "CURNCYID", "DOCDATE", "DUEDATE", "ORTRXAMT", "CURTRXAM", "TRXDSCRN")


@pytest.fixture
def fieldmap() -> FieldMap:
    import connectors.dynamics_gp.reader  # noqa: F401 - registers gp_date

    return FieldMap(SPEC)


@pytest.mark.parametrize("values", ROWS, ids=[r[0] for r in ROWS])
def test_a_row_maps_to_exactly_what_the_field_map_extracts(fieldmap: FieldMap, values: tuple) -> None:
    mapper = RowMapper(fieldmap, Stream.INVOICES, strip=False)
    row = mapper.row(COLUMNS, values) | {"TS": datetime(2026, 1, 5)}
    assert mapper.values(row) == fieldmap.extract(Stream.INVOICES, row)


def test_an_unmapped_value_names_the_field_and_the_column(fieldmap: FieldMap) -> None:
    mapper = RowMapper(fieldmap, Stream.INVOICES)
    row = mapper.row(COLUMNS, ("1:INV9", "INV9", "C1", "Z-XYZ   ", datetime(2026, 1, 5), None, 1, 1, ""))
    with pytest.raises(MappingError) as caught:
        mapper.values(row)
    assert (caught.value.field, caught.value.path, caught.value.remote_id) == (
        "currency",
        "CURNCYID",
        "1:INV9",
    )
    assert "Z-XYZ" in caught.value.reason


def test_char_padding_is_removed_before_mapping(fieldmap: FieldMap) -> None:
    mapper = RowMapper(fieldmap, Stream.INVOICES)
    row = mapper.row(
        COLUMNS, ("1:INV1", "INV1      ", "C1   ", "Z-EURO    ", datetime(2026, 1, 5), None, 1, 1, "")
    )
    assert mapper.values(row)["currency"] == "EUR" and row["DOCNUMBR"] == "INV1"
