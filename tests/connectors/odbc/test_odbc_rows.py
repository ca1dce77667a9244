"""A mapping compiled for table rows says what ``FieldMap`` says, and fails the same way."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connectors.odbc import OMIT, RowMapper
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


# A page: good rows around rows that break each kind of rule, by mapping or by the canonical model.
PAGE = [
    ("1:INV1", "INV1", "C1", "Z-EURO", datetime(2026, 1, 5), None, Decimal("10.50"), Decimal("1"), "Sales"),
    ("1:INV2", "INV2", "C2", "Z-XYZ", datetime(2026, 1, 5), None, Decimal("3"), Decimal("1"), ""),
    ("1:INV3", "INV3", "C3", "", datetime(2026, 1, 5), None, Decimal("10.005"), Decimal("1"), ""),
    ("1:INV4", "INV4", "C4", "", datetime(1900, 1, 1), None, Decimal("3"), Decimal("1"), ""),
    ("1:INV5", "INV5", "C5", "", "not a date", None, Decimal("3"), Decimal("1"), ""),
    ("1:INV6", "INV6", "C6", "", datetime(2026, 1, 5), None, Decimal("NaN"), Decimal("1"), ""),
    ("1:INV7", "INV7", "", "", datetime(2026, 1, 5), None, Decimal("3"), Decimal("1"), ""),
    ("1:INV8", "INV8", "C8", "", datetime(2026, 1, 6), datetime(2026, 2, 5), Decimal("3"), None, "  x "),
]


def one_by_one(mapper: RowMapper, row: dict, **computed: object) -> object:
    try:
        return mapper.record(row, **computed)
    except MappingError as exc:
        return exc


def test_a_page_validated_at_once_gives_each_row_what_it_gets_alone(fieldmap: FieldMap) -> None:
    mapper = RowMapper(fieldmap, Stream.INVOICES)
    rows = [r | {"TS": datetime(2026, 1, 5, tzinfo=UTC)} for r in mapper.rows(COLUMNS, PAGE)]
    seen = datetime(2026, 1, 7, tzinfo=UTC)

    results = mapper.records(rows, {"seen_at": [seen] * len(rows)})

    alone = [one_by_one(mapper, row, seen_at=seen) for row in rows]
    assert [type(r).__name__ for r in results] == [type(r).__name__ for r in alone]
    for paged, single in zip(results, alone, strict=True):
        if isinstance(single, MappingError):
            assert isinstance(paged, MappingError)
            assert (paged.remote_id, paged.field, paged.path, paged.reason) == (
                single.remote_id,
                single.field,
                single.path,
                single.reason,
            )
        else:
            assert paged == single and paged.model_dump_json() == single.model_dump_json()  # type: ignore[union-attr]


def test_the_bad_rows_of_a_page_are_named_and_the_good_ones_kept(fieldmap: FieldMap) -> None:
    mapper = RowMapper(fieldmap, Stream.INVOICES)
    rows = [r | {"TS": datetime(2026, 1, 5, tzinfo=UTC)} for r in mapper.rows(COLUMNS, PAGE)]

    results = mapper.records(rows, {})

    refused = {r.remote_id: (r.field, r.path) for r in results if isinstance(r, MappingError)}
    assert refused == {
        "1:INV2": ("currency", "CURNCYID"),  # not in the value map
        "1:INV3": ("total", "ORTRXAMT"),  # 10.005 USD: more decimals than the currency has
        "1:INV4": ("issue_date", "DOCDATE"),  # GP's blank date: an invoice needs one
        "1:INV5": ("issue_date", "DOCDATE"),  # not a date at all
        "1:INV6": ("total", "ORTRXAMT"),
        "1:INV7": ("customer_remote_id", "CUSTNMBR"),
    }
    kept = [r for r in results if not isinstance(r, MappingError)]
    assert [(r.remote_id, r.currency, r.total) for r in kept] == [  # type: ignore[attr-defined]
        ("1:INV1", "EUR", Decimal("10.50")),
        ("1:INV8", "USD", Decimal("3")),
    ]
    assert kept[1].memo == "x" and kept[1].open_amount == 0  # type: ignore[attr-defined]


def test_a_field_computed_for_some_rows_only_keeps_its_default_elsewhere(fieldmap: FieldMap) -> None:
    mapper = RowMapper(fieldmap, Stream.INVOICES)
    rows = [r | {"TS": datetime(2026, 1, 5, tzinfo=UTC)} for r in mapper.rows(COLUMNS, [PAGE[0], PAGE[-1]])]

    first, last = mapper.records(rows, {"dunning_level": [2, OMIT]})

    assert first.dunning_level == 2 and last.dunning_level is None  # type: ignore[union-attr]
    assert "dunning_level" not in last.model_fields_set  # type: ignore[union-attr]


def test_a_page_of_rows_is_unpadded_as_each_row_alone(fieldmap: FieldMap) -> None:
    mapper = RowMapper(fieldmap, Stream.INVOICES)
    padded = [tuple(f"{v}   " if isinstance(v, str) else v for v in row) for row in PAGE]

    page = mapper.rows(COLUMNS, padded)

    assert page == [mapper.row(COLUMNS, row) for row in padded]
    assert page[0]["CURNCYID"] == "Z-EURO" and page[7]["TRXDSCRN"] == "  x"
