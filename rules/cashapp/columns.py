"""The CSV inputs of ``arbridge match`` read a column at a time by pyarrow's CSV reader.

Splitting a million rows into Python strings costs more than everything the matcher does with
most of them. pyarrow reads the file in C++ and checks the amounts there, a column at a time; the
columns whose values repeat (kind, currency, dates, discount terms) are dictionary-encoded, so each
distinct text is turned into its value once and the rows share it; only ids, numbers and amounts
become Python strings. In an ``invoices.csv``, a document's terms (kind, currency, dates, discount)
are encoded together, a thousand combinations in a million rows, and the rows where the customer
column changes tell where each customer's documents start and stop, so the index is built from
those runs without looking at the documents one by one.

A file these readers do not accept (a row of another width, a value that is not a number, date or
known ``doc_type``) is left to the row-by-row readers of :mod:`rules.cashapp.files`, which name the
line of anything wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from itertools import chain, compress, repeat
from mmap import ACCESS_READ, mmap
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from mapping.money import minor_units
from rules.cashapp.index import DocumentIndex
from rules.cashapp.model import CustomerInfo, DocKind, OpenDocument, PaymentInput, Terms
from rules.cashapp.normalize import number_keys

_AMOUNT_BYTES = b"0123456789.-\n"
_NO_DIGIT = (b"\n-\n", b"\n.\n", b"\n-.\n")
_TWO_POINTS = re.compile(rb"\.[0-9]*\.")
_KINDS: dict[str, DocKind] = {"invoice": "invoice", "credit_memo": "credit_memo", "": "invoice"}
# Makes the Decimal of a plain amount (at most 15 digits, so never rounded) as Decimal() does, through a
# call that takes one argument instead of parsing keywords: an eighth less per amount.
_AMOUNT = Context(prec=28, rounding=ROUND_HALF_EVEN, Emin=-999_999, Emax=999_999).create_decimal


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


# What plain_amounts() accepts, as one pattern per number of decimals for pyarrow to match in C++:
# digits with at most one point and at least one digit, a leading minus, no more decimals than that.
def _plain_pattern(decimals: int) -> str:
    if decimals == 0:
        return r"^-?[0-9]+$"
    return rf"^-?(?:[0-9]+(?:\.[0-9]{{0,{decimals}}})?|\.[0-9]{{1,{decimals}}})$"


# Tells _decoded() that an empty text is a value to parse like any other (and maybe refuse).
_PARSED = object()


def _dictionary(column: pa.ChunkedArray) -> tuple[list[str], np.ndarray]:
    """The distinct texts of a column, and each row's position among them."""
    encoded = column.combine_chunks().dictionary_encode()
    return encoded.dictionary.to_pylist(), encoded.indices.to_numpy(zero_copy_only=False)


def _decoded(column: pa.ChunkedArray, parse: Callable[[str], Any], empty: Any = None) -> list[Any]:
    """Each row's value, every distinct text parsed once (the empty text is ``empty``, or parsed too
    when ``empty`` is :data:`_PARSED`)."""
    texts, codes = _dictionary(column)
    try:
        values = [parse(t) if t or empty is _PARSED else empty for t in texts]
    except (ValueError, InvalidOperation, KeyError) as exc:
        raise _Unreadable(str(exc)) from exc
    if len(values) == 1:
        return values * len(codes)
    table = np.empty(len(values), dtype=object)
    table[:] = values
    taken: list[Any] = table[codes].tolist()
    return taken


def _amounts_plain(
    columns: Iterable[tuple[pa.ChunkedArray, pa.ChunkedArray]], *, spaced: bool = False
) -> bool:
    """Whether every amount of each ``(currency, amount)`` pair of columns is plain and has no more
    decimals than its row's currency has (the currency as written, or with spaces around it when
    ``spaced``).

    The rows are taken a number of decimals at a time (one step for a ledger in euros and dollars,
    two when yen are among them), each step one pattern matched over a whole column.
    """
    for currency, amount in columns:
        by_decimals: dict[int, list[str]] = {}
        for text in pc.unique(currency).to_pylist():
            by_decimals.setdefault(minor_units(text.strip() if spaced else text), []).append(text)
        for decimals, spelled in by_decimals.items():
            rows = amount if len(by_decimals) == 1 else amount.filter(pc.is_in(currency, pa.array(spelled)))
            if len(rows) and pc.max(pc.utf8_length(rows)).as_py() > 15:
                return False
            if not pc.all(pc.match_substring_regex(rows, _plain_pattern(decimals))).as_py():
                return False
    return True


def _magnitudes(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Plain amounts without their minus: a credit memo exported as a negative amount is its size."""
    return pc.utf8_ltrim(column, "-") if pc.any(pc.starts_with(column, "-")).as_py() else column


def _customer_runs(column: pa.ChunkedArray) -> tuple[Iterator[str], list[tuple[str, int, int]]]:
    """Each row's customer, and each run of rows of one customer as ``(customer, start, stop)``."""
    if not len(column):
        return iter(()), []
    # A run starts where a row's customer is not the one of the row before: each row compared with
    # its neighbour in C++, no customer hashed; only each run's first row becomes a Python string.
    starts = np.flatnonzero(pc.not_equal(column[1:], column[:-1]).to_numpy(zero_copy_only=False)) + 1
    bounds = [0, *starts.tolist(), len(column)]
    # A customer whose documents are apart in the file is one text all the same, as the index keys it.
    first: dict[str, str] = {}
    texts = [first.setdefault(text, text) for text in column.take(bounds[:-1]).to_pylist()]
    runs = list(zip(texts, bounds, bounds[1:], strict=False))
    # A run's rows share its text: repeated run by run, without a look at each row.
    return chain.from_iterable(repeat(customer, stop - start) for customer, start, stop in runs), runs


def _table(data: bytes | mmap, width: int) -> pa.Table | None:
    """Every data row of a CSV file as text columns, or ``None`` when pyarrow cannot read it as the
    csv module would: rows of another width, bytes that are not UTF-8, a NUL (which the csv module
    refuses), a quote left open."""
    if data.find(b"\0") >= 0:
        return None
    names = [f"c{i}" for i in range(width)]
    # Bytes below 128 are UTF-8 whatever they spell: pyarrow's check of each value (a quarter of
    # its reading) is then left out. One C-speed scan of the whole file tells.
    ascii_only = len(data) > 0 and int(np.frombuffer(data, np.uint8).max()) < 128
    try:
        # One thread: processor time is what a run costs on a machine shared with the daemon.
        return pa_csv.read_csv(
            pa.BufferReader(pa.py_buffer(data)),
            read_options=pa_csv.ReadOptions(use_threads=False, column_names=names, skip_rows=1),
            # A quoted value may hold a line break, as the csv module reads it; only then is the
            # file split into rows the slower way that allows for one.
            parse_options=pa_csv.ParseOptions(newlines_in_values=data.find(b'"') >= 0),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False,
                check_utf8=not ascii_only,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None


def _unquoted_table(path: Path, width: int) -> pa.Table | None:
    """The rows of a file without a quote character (see :func:`_table`), or ``None``.

    The file is mapped rather than read: its pages are the system's file cache, not a copy the
    process has to fill first.
    """
    with path.open("rb") as fh:
        if not fh.seek(0, 2):
            return None
        with mmap(fh.fileno(), 0, access=ACCESS_READ) as data:
            # Quoted values are left to the csv module, whose reading of them the row-by-row reader defines.
            return None if data.find(b'"') >= 0 else _table(data, width)


def _date_or_none(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _decimal_or_none(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def _int_or_none(text: str) -> int | None:
    return int(text) if text else None


# The columns of a document's Terms (but its ``applies_to``, which a file does not give), each with
# how its text is read, as the row reader reads it (see OpenDocument.from_columns).
_TERMS: tuple[tuple[str, Callable[[str], Any]], ...] = (
    ("doc_type", _KINDS.__getitem__), ("currency", str.upper), ("issue_date", _date_or_none),
    ("due_date", _date_or_none), ("discount_percent", _decimal_or_none), ("discount_days", _int_or_none),
)


def _terms(table: pa.Table, col: dict[str, int]) -> list[Terms]:
    """Each row's :data:`Terms`, each distinct combination (a thousand in a million rows) made once. A
    missing optional column is empty.

    Each column is dictionary-encoded in C++ and its few distinct texts parsed once; a row's
    combination is then one number made of its columns' codes, and only those numbers are encoded
    again: no text the size of the file is put together (joining the columns as text took as long,
    and a tenth of a second more of the system's time to give it fresh memory).

    Raises:
        _Unreadable: a value the row reader would refuse.
    """
    combined = np.zeros(table.num_rows, dtype=np.int64)
    # Each column's distinct values as 1-tuples (or, once combined, tuples of several columns'),
    # and how many combinations the numbers in ``combined`` can stand for.
    columns: list[list[tuple[Any, ...]]] = []
    bound = 1
    for name, parse in _TERMS:
        i = col.get(name, -1)
        encoded = pc.dictionary_encode(table.column(i)) if i >= 0 else None
        # The chunks of a column encoded at once share one dictionary.
        texts = encoded.chunk(0).dictionary.to_pylist() if encoded is not None else [""]
        try:
            parsed = [(parse(text),) for text in texts]
        except (ValueError, InvalidOperation, KeyError) as exc:
            raise _Unreadable(str(exc)) from exc
        if encoded is None:
            columns.append(parsed)
            continue
        if bound * len(texts) > 1 << 62:
            # Too many combinations for one number (never in a ledger): those of the columns so far,
            # of which there are at most as many as rows, become one column.
            found = pc.dictionary_encode(pa.array(combined))
            columns = [_combinations(found.dictionary.to_pylist(), columns)]
            combined = found.indices.to_numpy().astype(np.int64)
            bound = len(columns[0])
        columns.append(parsed)
        combined *= len(texts)
        bound *= len(texts)
        start = 0
        for chunk in encoded.chunks:
            combined[start:start + len(chunk)] += chunk.indices.to_numpy()
            start += len(chunk)
    found = pc.dictionary_encode(pa.array(combined))
    alike: list[Terms] = [(*values, None) for values in _combinations(found.dictionary.to_pylist(), columns)]
    if len(alike) == 1:
        return alike * table.num_rows
    shared = np.empty(len(alike), dtype=object)
    shared[:] = alike
    rows: list[Terms] = shared[found.indices.to_numpy()].tolist()
    return rows


def _combinations(codes: list[int], columns: list[list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
    """The values each code stands for: its digits, the last column's the lowest, are the positions
    of its values in the columns (see :func:`_terms`)."""
    found = []
    for code in codes:
        parts = []
        for values in reversed(columns):
            code, at = divmod(code, len(values))
            parts.append(values[at])
        found.append(tuple(chain.from_iterable(reversed(parts))))
    return found


def _decimals(column: pa.ChunkedArray) -> list[Decimal]:
    """Each text of a column of plain amounts as its Decimal.

    A chunk at a time: the texts of one chunk are gone before the next is read, so the next reuses
    their memory instead of the process taking a million strings' worth of fresh pages.
    """
    return list(chain.from_iterable(map(_AMOUNT, chunk.to_pylist()) for chunk in column.chunks))


def _number_keys(numbers: list[str]) -> list[str]:
    """:func:`~rules.cashapp.normalize.number_keys` of a column, a slice at a time (see :func:`_decimals`)."""
    step = 1 << 16
    keys: list[str] = []
    for start in range(0, len(numbers), step):
        keys += number_keys(numbers[start:start + step])
    return keys


def _set_totals(docs: list[OpenDocument], totals: pa.ChunkedArray, differ: pa.ChunkedArray) -> None:
    """Give each document whose total is written otherwise than its open amount the magnitude of its
    total (made with the open amount's value, as most of a ledger is still open in full)."""
    if not pc.any(differ).as_py():
        return
    where = np.flatnonzero(differ.to_numpy(zero_copy_only=False))
    for i, total in zip(where.tolist(), _magnitudes(totals.take(where)).to_pylist(), strict=True):
        docs[i].total = _AMOUNT(total)


def _read(path: Path, header: list[str], col: dict[str, int]) -> \
        tuple[list[OpenDocument], list[str], list[tuple[str, int, int]], list[str]] | None:
    """The open documents of ``path``, their ids, their customers' runs and their number keys (see
    :meth:`DocumentIndex.from_runs`), or ``None`` when the file needs the row-by-row reader."""
    table = _unquoted_table(path, len(header))
    if table is None:
        return None
    if table.num_rows == 0:
        return [], [], [], []
    i_open, i_total = col["open_amount"], col["total"]
    currency = table.column(col["currency"])
    # Most documents are still open in full: only the totals that differ need a look of their own.
    differ = pc.not_equal(table.column(i_total), table.column(i_open))
    if not _amounts_plain(((currency, table.column(i_open)),
                           (currency.filter(differ), table.column(i_total).filter(differ)))):
        return None
    amounts = _decimals(_magnitudes(table.column(i_open)))
    if not all(amounts):  # fully paid rows are skipped
        kept = list(map(bool, amounts))
        mask = pa.array(kept)
        table, differ, amounts = table.filter(mask), differ.filter(mask), list(compress(amounts, kept))
        if table.num_rows == 0:
            return [], [], [], []
    try:
        terms = _terms(table, col)
    except _Unreadable:
        return None
    customers, runs = _customer_runs(table.column(col["customer_id"]))
    ids: list[str] = table.column(col["invoice_id"]).to_pylist()
    numbers: list[str] = table.column(col["number"]).to_pylist()
    keys = _number_keys(numbers)
    docs = OpenDocument.from_columns(ids, customers, numbers, terms, amounts, amounts, keys)
    _set_totals(docs, table.column(i_total), differ)
    return docs, ids, runs, keys


def read_documents_columnar(path: Path, header: list[str], col: dict[str, int]) -> list[OpenDocument] | None:
    """The open documents of ``path`` (fully paid rows skipped), or ``None`` when the file needs the
    row-by-row reader.

    Args:
        path: the file.
        header: its header row as written.
        col: each known column's position in it (the required ones are known to be there).
    """
    found = _read(path, header, col)
    return None if found is None else found[0]


def index_documents_columnar(path: Path, header: list[str], col: dict[str, int]) -> DocumentIndex | None:
    """The index of the open documents of ``path`` (see :func:`read_documents_columnar`), or ``None``
    when the file needs the row-by-row reader."""
    found = _read(path, header, col)
    return None if found is None else DocumentIndex.from_runs(*found)


def _stripped(column: pa.ChunkedArray | None) -> Iterable[str | None]:
    """Each row's text without the spaces around it; an empty one (or a missing column) is ``None``."""
    if column is None:
        return repeat(None)
    return [t or None for t in map(str.strip, column.to_pylist())]


def read_payments_columnar(path: Path, header: list[str], col: dict[str, int]) -> list[PaymentInput] | None:
    """The payments of a ``payments.csv``, or ``None`` when the file needs the row-by-row reader
    (:func:`~rules.cashapp.files.read_payments_csv`, whose reading this is: values stripped, an
    empty optional one ``None``).

    Args:
        path: the file.
        header: its header row as written.
        col: each known column's position in it (the required ones are known to be there).
    """
    table = _table(path.read_bytes(), len(header))
    if table is None:
        return None
    if table.num_rows == 0:
        return []

    def column(name: str) -> pa.ChunkedArray | None:
        i = col.get(name, -1)
        return table.column(i) if i >= 0 else None

    amount = table.column(col["amount"])
    # Money received is more than zero: a minus, or a zero, is for the row reader to refuse.
    if not _amounts_plain(((table.column(col["currency"]), amount),), spaced=True) or \
            pc.any(pc.starts_with(amount, "-")).as_py():
        return None
    amounts = list(map(Decimal, amount.to_pylist()))
    if not all(amounts):
        return None
    try:
        days = _decoded(table.column(col["date"]), _stripped_date, _PARSED)
    except _Unreadable:
        return None
    currencies = _decoded(table.column(col["currency"]), _currency, _PARSED)
    return PaymentInput.from_columns(
        list(map(str.strip, table.column(col["payment_id"]).to_pylist())), days, amounts, currencies,
        *(_stripped(column(name)) for name in ("customer_id", "payer_name", "payer_account", "reference")),
    )


def _stripped_date(text: str) -> date:
    return date.fromisoformat(text.strip())


def _currency(text: str) -> str:
    return text.strip().upper()


def _split_lists(column: pa.ChunkedArray | None) -> Iterable[tuple[str, ...]]:
    """Each row's ``;``-separated list, pieces stripped and empty ones dropped (none when the column
    is missing): split without a look at each piece when the column holds no space and no empty
    piece (the values joined by NUL, which a file this reader takes cannot hold)."""
    if column is None:
        return repeat(())
    texts: list[str] = column.to_pylist()
    joined = "\0".join(texts)
    if joined.split(maxsplit=1) == [joined] and not any(
        bad in joined for bad in (";;", ";\0", "\0;")
    ) and not joined.startswith(";") and not joined.endswith(";"):
        return [tuple(t.split(";")) if t else () for t in texts]
    return [tuple(a.strip() for a in t.split(";") if a.strip()) if t else () for t in texts]


def read_customers_columnar(path: Path, header: list[str], col: dict[str, int]) -> list[CustomerInfo] | None:
    """The customers of a ``customers.csv``, or ``None`` when the file needs the row-by-row reader
    (:func:`~rules.cashapp.files.load_customers`, whose reading this is: ids and names as written,
    bank accounts and aliases split on ``;``)."""
    table = _table(path.read_bytes(), len(header))
    if table is None:
        return None
    i_alias = col.get("aliases", -1)
    ids: list[str] = table.column(col["customer_id"]).to_pylist()
    return CustomerInfo.from_columns(
        ids, table.column(col["name"]).to_pylist(), _split_lists(table.column(col["bank_accounts"])),
        _split_lists(table.column(i_alias) if i_alias >= 0 else None),
    )
