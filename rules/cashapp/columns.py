"""An ``invoices.csv`` read a column at a time by pyarrow's CSV reader, then made into documents.

Splitting a million rows into Python strings costs more than everything the matcher does with
most of them. pyarrow reads the file in C++; the columns whose values repeat (kind, currency,
dates, discount terms, customer) are dictionary-encoded there, so each distinct text is turned into
its value once and the rows share it; only ids, numbers and amounts become Python strings.

A file this reader does not accept (a row of another width, a value that is not a number, date or
known ``doc_type``) is left to :func:`~rules.cashapp.files.read_documents_csv`, which reads it row by
row and names the line of anything wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from itertools import compress, repeat
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from mapping.money import fits_currency, minor_units
from rules.cashapp.model import DocKind, OpenDocument
from rules.cashapp.normalize import number_keys

_AMOUNT_BYTES = b"0123456789.-\n"
_NO_DIGIT = (b"\n-\n", b"\n.\n", b"\n-.\n")
_TWO_POINTS = re.compile(rb"\.[0-9]*\.")
_KINDS: dict[str, DocKind] = {"invoice": "invoice", "credit_memo": "credit_memo", "": "invoice"}


def plain_amounts(texts: list[str], decimals: int) -> bool:
    """Whether every text is a plain amount :func:`~mapping.money.check_amount` accepts.

    Plain means digits with at most one point and a leading minus, at most 15 characters (so below
    10^15) and at most ``decimals`` decimals. Checked over the whole column by a few C-speed scans
    instead of one Decimal check per value; a column with anything else in it is read row by row.
    """
    if not texts or max(map(len, texts)) > 15:
        return False
    try:
        joined = ("\n" + "\n".join(texts) + "\n").encode("ascii")
    except UnicodeEncodeError:
        return False
    if joined.translate(None, _AMOUNT_BYTES) or b"\n\n" in joined:
        return False
    if joined.count(b"-") != joined.count(b"\n-") or any(bad in joined for bad in _NO_DIGIT):
        return False
    if decimals == 0:
        return b"." not in joined
    return _TWO_POINTS.search(joined) is None and re.search(rb"\.[0-9]{%d}" % (decimals + 1), joined) is None


class _Unreadable(ValueError):
    """A value the row-by-row reader has to name."""


def _decoded(column: pa.ChunkedArray, parse: Callable[[str], Any]) -> list[Any]:
    """Each row's value, every distinct text parsed once (the empty text is ``None``)."""
    encoded = column.combine_chunks().dictionary_encode()
    try:
        values = [parse(t) if t else None for t in encoded.dictionary.to_pylist()]
    except (ValueError, InvalidOperation, KeyError) as exc:
        raise _Unreadable(str(exc)) from exc
    table = np.empty(len(values), dtype=object)
    table[:] = values
    taken: list[Any] = table[encoded.indices.to_numpy(zero_copy_only=False)].tolist()
    return taken


def _amounts_fit(opens: list[str], totals: list[str], currencies: list[str]) -> bool:
    """Whether every amount is plain and has no more decimals than its currency.

    Proven for the whole column at once when every currency has as many decimals; in a ledger that
    mixes, say, euros and yen, the rows of the currencies with fewer decimals are checked one by one.
    """
    decimals = {c: minor_units(c) for c in set(currencies)}
    fewest, most = min(decimals.values()), max(decimals.values())
    if plain_amounts(opens, fewest) and plain_amounts(totals, fewest):
        return True
    if fewest == most or not (plain_amounts(opens, most) and plain_amounts(totals, most)):
        return False
    fewer = {c for c, d in decimals.items() if d < most}
    return all(
        fits_currency(Decimal(o), c) and fits_currency(Decimal(t), c)
        for c, o, t in zip(currencies, opens, totals, strict=True) if c in fewer
    )


def _text(value: str) -> str:
    return value


def read_documents_columnar(path: Path, header: list[str], col: dict[str, int]) -> list[OpenDocument] | None:
    """The open documents of ``path`` (fully paid rows skipped), or ``None`` when the file needs the
    row-by-row reader.

    Args:
        path: the file.
        header: its header row as written.
        col: each known column's position in it (the required ones are known to be there).
    """
    data = path.read_bytes()
    # Quoted values are left to the csv module, whose reading of them the row-by-row reader defines.
    if b'"' in data:
        return None
    names = [f"c{i}" for i in range(len(header))]
    try:
        # One thread: processor time is what a run costs on a machine shared with the daemon.
        table = pa_csv.read_csv(
            pa.BufferReader(data),
            read_options=pa_csv.ReadOptions(use_threads=False, column_names=names, skip_rows=1),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if table.num_rows == 0:
        return []

    def column(name: str) -> pa.ChunkedArray | None:
        i = col.get(name, -1)
        return table.column(i) if i >= 0 else None

    def required(name: str) -> pa.ChunkedArray:
        found = column(name)
        assert found is not None
        return found

    try:
        currencies = _decoded(required("currency"), str.upper)
        kinds = _decoded(required("doc_type"), _KINDS.__getitem__)
        issues = _decoded(required("issue_date"), date.fromisoformat)
        n = table.num_rows
        parsers: tuple[tuple[str, Callable[[str], Any]], ...] = (
            ("due_date", date.fromisoformat), ("discount_percent", Decimal), ("discount_days", int))
        dues, percents, terms = (
            [None] * n if (c := column(name)) is None else _decoded(c, parse) for name, parse in parsers
        )
        customers = _decoded(required("customer_id"), _text)
    except _Unreadable:
        return None
    opens: list[str] = required("open_amount").to_pylist()
    totals: list[str] = required("total").to_pylist()
    # An empty kind reads as an invoice; _decoded gave None for it, and for an empty text anywhere.
    kinds = [k or "invoice" for k in kinds] if None in kinds else kinds
    currencies = [c or "" for c in currencies] if None in currencies else currencies
    customers = [c or "" for c in customers] if None in customers else customers
    if not _amounts_fit(opens, totals, currencies):
        return None
    ids: list[str] = required("invoice_id").to_pylist()
    numbers: list[str] = required("number").to_pylist()
    # The number keys of the whole column in one pass, given to each document as it is made.
    keys = number_keys(numbers)
    amounts = list(map(Decimal, opens))
    if not all(amounts):  # fully paid rows are skipped
        kept = list(map(bool, amounts))
        columns = (ids, customers, numbers, kinds, currencies, totals, opens, issues, dues, percents, terms,
                   keys, amounts)
        (ids, customers, numbers, kinds, currencies, totals, opens, issues, dues, percents, terms, keys,
         amounts) = (list(compress(c, kept)) for c in columns)
    if amounts and min(amounts) < 0:  # a credit memo exported as a negative amount: its magnitude
        amounts = list(map(abs, amounts))
    # Most documents are still open in full: their total is the same number, and the same value.
    if all(map(str.__eq__, totals, opens)):
        whole = amounts
    else:
        whole = [a if t == o else abs(Decimal(t)) for a, t, o in zip(amounts, totals, opens, strict=True)]
    # Made by one C-speed map over the columns instead of a Python loop over the rows.
    docs: list[OpenDocument] = list(map(
        OpenDocument, ids, customers, numbers, kinds, currencies, whole, amounts, issues, dues, percents,
        terms, repeat(None), keys, amounts,
    ))
    return docs
