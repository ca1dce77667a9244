"""The invoices file's amounts are checked a column at a time; what the column check does not prove
plain is still checked row by row, with the same answers and the same messages."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from rules.cashapp.files import read_documents_csv

HEADER = "invoice_id,customer_id,number,doc_type,currency,total,open_amount,issue_date\n"


def _ledger(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "invoices.csv"
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def test_plain_amounts_are_read_as_written_with_paid_rows_left_out(tmp_path: Path) -> None:
    path = _ledger(
        tmp_path,
        "D1,C1,INV-1,invoice,EUR,1190.00,595.5,2024-05-01",
        "D2,C1,INV-2,credit_memo,EUR,-40.00,-40.00,2024-05-02",
        "D3,C1,INV-3,invoice,EUR,12.00,0.00,2024-05-03",
        "D4,C2,INV-4,invoice,EUR,.5,.5,2024-05-03",
    )
    docs = {d.doc_id: d for d in read_documents_csv(path)}
    assert sorted(docs) == ["D1", "D2", "D4"]
    assert (docs["D1"].total, docs["D1"].open_amount, docs["D1"].remaining) == (
        Decimal("1190.00"),
        Decimal("595.5"),
        Decimal("595.5"),
    )
    assert (docs["D2"].total, docs["D2"].open_amount) == (Decimal("40.00"), Decimal("40.00"))
    assert docs["D4"].open_amount == Decimal("0.5")


def test_trailing_zeros_beyond_the_cents_are_still_an_amount_in_cents(tmp_path: Path) -> None:
    path = _ledger(tmp_path, "D1,C1,INV-1,invoice,EUR,10.500,10.500,2024-05-01")
    [doc] = read_documents_csv(path)
    assert doc.open_amount == Decimal("10.5")


@pytest.mark.parametrize(
    ("currency", "amount", "reason"),
    [
        ("JPY", "100.5", "more decimals than JPY has (0)"),
        ("EUR", "10.005", "more decimals than EUR has (2)"),
        ("EUR", "1000000000000000", "beyond any real amount"),
        ("EUR", "-", "open_amount: expected a decimal number"),
        ("EUR", "1.2.3", "open_amount: expected a decimal number"),
    ],
)
def test_an_amount_the_column_check_does_not_prove_plain_is_refused_on_its_own_line(
    tmp_path: Path, currency: str, amount: str, reason: str
) -> None:
    path = _ledger(
        tmp_path,
        "D1,C1,INV-1,invoice,EUR,10.00,10.00,2024-05-01",
        f"D2,C1,INV-2,invoice,{currency},{amount},{amount},2024-05-01",
    )
    skipped: list[str] = []
    assert [d.doc_id for d in read_documents_csv(path, skipped)] == ["D1"]
    [line] = skipped
    assert line.startswith(f"{path}:3: ") and reason in line


def test_a_yen_ledger_of_whole_amounts_beside_a_euro_one_is_read_in_full(tmp_path: Path) -> None:
    path = _ledger(
        tmp_path,
        "D1,C1,INV-1,invoice,JPY,12000,12000,2024-05-01",
        "D2,C2,INV-2,invoice,EUR,10.25,10.25,2024-05-01",
    )
    assert [(d.currency, d.open_amount) for d in read_documents_csv(path)] == [
        ("JPY", Decimal("12000")),
        ("EUR", Decimal("10.25")),
    ]
