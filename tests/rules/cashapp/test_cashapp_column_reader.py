"""An export read a column at a time gives the matcher exactly the documents and payments the row
readers give."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from rules.cashapp.columns import read_customers_columnar, read_documents_columnar, read_payments_columnar
from rules.cashapp.files import (
    InputFileError,
    load_customers,
    load_documents,
    load_payments,
    read_customers_csv,
    read_documents_csv,
    read_payments_csv,
)
from rules.cashapp.index import DocumentIndex

HEADER = ("invoice_id,customer_id,number,doc_type,currency,total,open_amount,issue_date,due_date,"
          "discount_percent,discount_days\n")
LEDGER = HEADER + """\
D1,C1,INV-100101,invoice,EUR,1190.00,1190.00,2024-05-20,2024-06-19,,
D2,C1,INV-100102,invoice,eur,2380.50,1000.25,2024-06-20,2024-07-20,2,10
D3,C2,CN-20011,credit_memo,EUR,-200.00,-200.00,2024-06-01,,,
D4,C2,INV-100190,invoice,EUR,99.00,0.00,2024-05-20,2024-06-19,,
D5,C3,2024-1001,,JPY,1190,1190,2024-06-01,2024-07-01,,
D6,C1,INV-100103,invoice,EUR,10.00,10.00,,,,
"""


def _as_read(docs: object) -> list[tuple[object, ...]]:
    return [
        (d.doc_id, d.customer_id, d.number, d.kind, d.currency, d.total, d.open_amount, d.issue_date,
         d.due_date, d.discount_percent, d.discount_days, d.remaining, d.key)
        for d in docs  # type: ignore[attr-defined]
    ]


def test_a_plain_export_gives_the_same_documents_read_by_column_as_read_by_row(tmp_path: Path) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text(LEDGER, encoding="utf-8")
    header = LEDGER.splitlines()[0].split(",")

    by_column = read_documents_columnar(path, header, {name: i for i, name in enumerate(header)})

    assert by_column is not None  # a plain export is read by column
    assert _as_read(by_column) == _as_read(read_documents_csv(path))
    quoted = _quoted_copy(tmp_path, LEDGER)  # read by the row reader
    assert sorted(_as_read(load_documents(path))) == sorted(_as_read(load_documents(quoted)))
    kinds = {d.doc_id: (d.kind, d.currency, d.open_amount) for d in by_column}
    assert "D4" not in kinds  # paid in full
    assert kinds["D3"] == ("credit_memo", "EUR", Decimal("200.00"))  # a magnitude, as the row reader gives
    assert kinds["D5"][0] == "invoice"  # an empty doc_type is an invoice
    assert kinds["D2"][1] == "EUR"


def test_a_customer_whose_documents_are_apart_in_the_export_finds_them_all_in_file_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text(LEDGER + "D7,C2,INV-100104,invoice,EUR,5.00,5.00,2024-06-02,,,\n", encoding="utf-8")

    index = load_documents(path)
    by_row = DocumentIndex(read_documents_csv(path))

    for customer in ("C1", "C2", "C3"):
        assert _as_read(index.for_customer(customer)) == _as_read(by_row.for_customer(customer))
    assert [d.doc_id for d in index.for_customer("C1")] == ["D1", "D2", "D6"]
    # Documents apart in the file still hold one and the same customer text, the one the index keys.
    assert len({id(d.customer_id) for d in index.for_customer("C2")}) == 1
    assert [d.doc_id for d in index] == [d.doc_id for d in by_row]
    assert index.get("D7") is not None and index.get("D4") is None  # D4 is paid in full
    assert _as_read(index.by_key("100104")) == _as_read(by_row.by_key("100104"))


def test_a_number_two_customers_share_names_both_their_documents_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text(HEADER + """\
D1,C1,INV-0042,invoice,EUR,10.00,10.00,2024-05-20,,,
D2,C2,CN-42,credit_memo,EUR,-3.00,-3.00,2024-05-21,,,
D3,C2,INV-43,invoice,EUR,7.00,7.00,2024-05-22,,,
D4,C3,42,invoice,EUR,5.00,5.00,2024-05-23,,,
""", encoding="utf-8")

    index = load_documents(path)

    assert [d.doc_id for d in index.by_key("42")] == ["D1", "D2", "D4"]
    assert _as_read(index.by_key("42")) == _as_read(DocumentIndex(read_documents_csv(path)).by_key("42"))
    assert [d.doc_id for d in index.by_key("43")] == ["D3"]


def test_an_id_exported_twice_is_the_later_row_by_id_and_both_by_customer_as_the_row_reader_has_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "invoices.csv"
    rows = "".join(f"D{n},C1,INV-{n},invoice,EUR,{n}.00,{n}.00,2024-05-20,,,\n" for n in range(1, 9))
    path.write_text(HEADER + rows + "D1,C1,INV-77,invoice,EUR,1.00,1.00,2024-05-20,,,\n", encoding="utf-8")

    index = load_documents(path)
    by_row = DocumentIndex(read_documents_csv(path))

    assert _as_read([index.get("D1")]) == _as_read([by_row.get("D1")]) and index.get("D1").number == "INV-77"
    assert index.by_key("1") == by_row.by_key("1") == []  # the later D1 replaced it in the index by number
    index.by_key("77"), by_row.by_key("77")  # the indexes by number are built
    # ... and the earlier D1, still among its customer's documents, is found by its number there.
    found = [known.has_open("C1", "EUR", Decimal("999"), {"1"}) for known in (index, by_row)]
    assert None not in found and _as_read(found[:1]) == _as_read(found[1:])


def test_a_ledger_without_due_dates_or_discount_terms_reads_by_column_as_by_row(tmp_path: Path) -> None:
    path = tmp_path / "invoices.csv"
    first_line = "invoice_id,customer_id,number,doc_type,currency,total,open_amount,issue_date\n"
    path.write_text(first_line + "D1,C1,INV-1,invoice,usd,5.00,4.00,2024-05-20\n"
                    "D2,C1,INV-2,,USD,6.00,6.00,2024-05-21\n", encoding="utf-8")
    header = first_line.strip().split(",")

    by_column = read_documents_columnar(path, header, {name: i for i, name in enumerate(header)})

    assert by_column is not None
    assert _as_read(by_column) == _as_read(read_documents_csv(path))
    assert [(d.kind, d.currency, d.total, d.due_date, d.discount_days) for d in by_column] == [
        ("invoice", "USD", Decimal("5.00"), None, None), ("invoice", "USD", Decimal("6.00"), None, None)
    ]


def test_an_export_with_accented_letters_reads_by_column_as_by_row_and_one_not_in_utf8_is_left_to_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "invoices.csv"
    text = LEDGER.replace("C3,2024-1001", "Müller-Ä,Rechnung-Nr.ü1001")
    path.write_text(text, encoding="utf-8")
    header = LEDGER.splitlines()[0].split(",")
    col = {name: i for i, name in enumerate(header)}

    by_column = read_documents_columnar(path, header, col)

    assert by_column is not None
    assert _as_read(by_column) == _as_read(read_documents_csv(path))
    assert [(d.customer_id, d.number, d.key) for d in by_column if d.doc_id == "D5"] == [
        ("Müller-Ä", "Rechnung-Nr.ü1001", "1001")
    ]
    # The same letters written in Latin-1 are not UTF-8: the column reader does not take the file.
    path.write_bytes(text.encode("latin-1"))
    assert read_documents_columnar(path, header, col) is None


def test_amounts_written_with_more_or_fewer_decimals_keep_digits_and_exponent_as_read_by_row(
    tmp_path: Path,
) -> None:
    path = tmp_path / "invoices.csv"
    amounts = ["12", "12.", ".5", "0012.50", "1.5", "-7.25", "999999999999.99", "100000000000000", "0.01"]
    rows = "".join(f"D{n},C1,INV-{n},invoice,EUR,{a},{a},2024-05-20,,,\n" for n, a in enumerate(amounts))
    path.write_text(HEADER + rows + "D99,C1,INV-99,invoice,EUR,5.5,2.50,2024-05-20,,,\n", encoding="utf-8")
    header = HEADER.strip().split(",")

    by_column = read_documents_columnar(path, header, {name: i for i, name in enumerate(header)})

    assert by_column is not None
    written = [(str(d.total), str(d.open_amount), str(d.remaining)) for d in by_column]
    assert written == [(str(d.total), str(d.open_amount), str(d.remaining)) for d in read_documents_csv(path)]
    assert written[:4] == [("12", "12", "12"), ("12", "12", "12"), ("0.5", "0.5", "0.5"), ("12.50",) * 3]
    assert written[-1] == ("5.5", "2.50", "2.50")


def _quoted_copy(tmp_path: Path, text: str) -> Path:
    """The same ledger with one quoted value, which only the row reader reads."""
    path = tmp_path / "quoted.csv"
    path.write_text(text.replace("INV-100101", '"INV-100101"'), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ("D9,C1,INV-9,invoice,EUR,1.00,1.00,2024-02-30,,,", "issue_date"),
        ("D9,C1,INV-9,receipt,EUR,1.00,1.00,2024-02-01,,,", "doc_type"),
        ("D9,C1,INV-9,invoice,EUR,1.00,1.005,2024-02-01,,,", "open_amount"),
        ("D9,C3,2024-9,invoice,JPY,1.50,1.50,2024-02-01,,,", "open_amount"),
        ("D9,C1,INV-9,invoice,EUR,1.00,1.00,2024-02-01,,x,", "discount_percent"),
    ],
)
def test_a_value_the_columns_cannot_read_is_still_named_with_its_line(
    tmp_path: Path, row: str, said: str
) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text(LEDGER + row + "\n", encoding="utf-8")

    with pytest.raises(InputFileError) as raised:
        load_documents(path)

    assert f"{path}:8:" in str(raised.value)
    assert said in str(raised.value) or "not a number" in str(raised.value)


def test_a_short_row_is_read_padded_as_the_row_reader_does(tmp_path: Path) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text(HEADER + "D1,C1,INV-1,invoice,EUR,5.00,5.00,2024-05-20\n", encoding="utf-8")

    (doc,) = load_documents(path)

    assert (doc.doc_id, doc.open_amount, doc.due_date, doc.discount_percent) == ("D1", doc.total, None, None)


PAYMENTS = (
    "payment_id,date,amount,currency,customer_id,payer_name,payer_account,reference\r\n"
    'P1,2024-06-01,10.00,EUR,,"Smith, John",,"INV-100101 ""final"""\r\n'
    'P2, 2024-06-02 ,1190, jpy ,C1 , Mueller ,,"INV-1001\nINV-1002"\r\n'
    "P3,2024-06-03,.5,usd,C2,,DE89 3704,ab\"c\r\n"
)


def test_a_bank_export_with_quoted_references_and_padded_values_reads_as_the_row_reader_reads_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "payments.csv"
    path.write_bytes(PAYMENTS.encode("utf-8"))

    payments = load_payments(path)

    header = PAYMENTS.splitlines()[0].split(",")
    assert read_payments_columnar(path, header, {n: i for i, n in enumerate(header)}) is not None  # by column
    assert payments == read_payments_csv(path)
    assert [p.reference for p in payments] == ['INV-100101 "final"', "INV-1001\nINV-1002", 'ab"c']
    assert (payments[1].date.day, payments[1].currency, payments[1].customer_id) == (2, "JPY", "C1")
    assert payments[0].customer_id is None and payments[2].amount == Decimal("0.5")


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ("P9,2024-06-31,1.00,EUR,,,,", "date"),
        ("P9,2024-06-01,0.00,EUR,,,,", "not money received"),
        ("P9,2024-06-01,-5.00,EUR,,,,", "not money received"),
        ("P9,2024-06-01,1.50,JPY,,,,", "amount"),
        ("P9,2024-06-01,ten,EUR,,,,", "expected a decimal number"),
    ],
)
def test_a_payment_the_columns_cannot_read_is_still_named_with_its_line(
    tmp_path: Path, row: str, said: str
) -> None:
    path = tmp_path / "payments.csv"
    path.write_bytes((PAYMENTS + row + "\r\n").encode("utf-8"))

    with pytest.raises(InputFileError) as raised:
        load_payments(path)

    assert f"{path}:6:" in str(raised.value)  # the line after the reference that spans two
    assert said in str(raised.value)


@pytest.mark.parametrize(
    "accounts",
    ["DE89370400440532013000;GB29NWBK60161331926819", " DE89370400440532013000 ; GB29NWBK60161331926819;;"],
)
def test_a_customer_list_read_by_column_knows_each_customer_by_account_and_alias_as_the_row_reader_does(
    tmp_path: Path, accounts: str
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "customer_id,name,bank_accounts,aliases\n"
        f'C1,"Mueller, Maschinenbau GmbH",{accounts},MM Maschinen Vertrieb ; Mueller Service\n'
        "C2,Harbor Freightlines Ltd,,\n",
        encoding="utf-8",
    )
    header = ["customer_id", "name", "bank_accounts", "aliases"]

    by_column = read_customers_columnar(path, header, {n: i for i, n in enumerate(header)})

    assert by_column == read_customers_csv(path)
    assert by_column[0].bank_accounts == ("DE89370400440532013000", "GB29NWBK60161331926819")
    assert by_column[0].aliases == ("MM Maschinen Vertrieb", "Mueller Service")
    customers = load_customers(path)
    assert customers.by_account("GB29 NWBK 6016 1331 9268 19") == {"C1"}
    assert customers.names_of("C2") == {"harbor freightlines"}


def test_terms_first_seen_far_down_a_large_export_read_by_column_as_by_row(tmp_path: Path) -> None:
    # Large enough to be read in several blocks; each later block brings terms none before it had.
    path = tmp_path / "invoices.csv"
    rows = [HEADER]
    for n in range(40_000):
        block = n // 10_000
        kind, currency, due, percent, days = (
            ("invoice", "EUR", "2024-07-01", "", ""), ("invoice", "usd", "", "2", "10"),
            ("invoice", "EUR", "2024-07-01", "1.5", "14"), ("credit_memo", "JPY", "2024-07-01", "", ""),
        )[block]
        rows.append(f"D{n},C{n // 7},INV-{n},{kind},{currency},{n % 90 + 10},{n % 90 + 10},"
                    f"2024-0{block + 1}-1{n % 10},{due},{percent},{days}\n")
    path.write_text("".join(rows), encoding="utf-8")
    header = HEADER.strip().split(",")

    by_column = read_documents_columnar(path, header, {name: i for i, name in enumerate(header)})

    assert by_column is not None
    assert _as_read(by_column) == _as_read(read_documents_csv(path))
    last_block = {(d.kind, d.currency, d.discount_percent) for d in by_column[-10:]}
    assert last_block == {("credit_memo", "JPY", None)}


def test_a_ledger_whose_every_document_has_terms_of_its_own_reads_by_column_as_by_row(tmp_path: Path) -> None:
    # Thousands of distinct values in each column: more combinations than one 64-bit number can tell.
    path = tmp_path / "invoices.csv"
    start = date(2001, 1, 1).toordinal()
    rows = [HEADER] + [
        f"D{n},C{n % 13},INV-{n},{('invoice', 'credit_memo', '')[n % 3]},X{n:04},5.00,5.00,"
        f"{date.fromordinal(start + n)},{date.fromordinal(start + 2 * n)},{n / 100},{n}\n"
        for n in range(7_000)
    ]
    path.write_text("".join(rows), encoding="utf-8")
    header = HEADER.strip().split(",")

    by_column = read_documents_columnar(path, header, {name: i for i, name in enumerate(header)})

    assert by_column is not None
    assert _as_read(by_column) == _as_read(read_documents_csv(path))
    assert by_column[6_999].discount_days == 6_999 and by_column[6_999].currency == "X6999"
