"""The file contract of ``arbridge match``: CSV inputs, remittance advices and the JSONL output."""

from __future__ import annotations

import csv
import gc
import io
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation
from json.encoder import encode_basestring
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from mapping.money import check_amount, minor_units
from rules.cashapp.bank import credit_amount, read_statement, sniff_format
from rules.cashapp.columns import (
    index_documents_columnar,
    plain_amounts,
    read_customers_columnar,
    read_payments_columnar,
)
from rules.cashapp.index import CustomerIndex, DocumentIndex
from rules.cashapp.model import (
    ZERO,
    CustomerInfo,
    DocKind,
    MatchResult,
    OpenDocument,
    PaymentInput,
    RemittanceLine,
)
from rules.cashapp.normalize import number_keys

INVOICE_COLUMNS = (
    "invoice_id",
    "customer_id",
    "number",
    "doc_type",
    "currency",
    "total",
    "open_amount",
    "issue_date",
    "due_date",
    "discount_percent",
    "discount_days",
)
PAYMENT_COLUMNS = (
    "payment_id",
    "date",
    "amount",
    "currency",
    "customer_id",
    "payer_name",
    "payer_account",
    "reference",
)
CUSTOMER_COLUMNS = ("customer_id", "name", "bank_accounts")


class InputFileError(ValueError):
    """A row the matcher cannot read; the message names the file, line and column."""


def _columns(path: Path, header: list[str] | None, required: Iterable[str]) -> dict[str, int]:
    if not header:
        raise InputFileError(f"{path}: empty file (expected a header row)")
    positions = {name.strip().lower(): i for i, name in enumerate(header)}
    missing = [c for c in required if c not in positions]
    if missing:
        raise InputFileError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(header)}")
    return positions


def _open_csv(path: Path) -> IO[str]:
    return path.open(newline="", encoding="utf-8-sig")


def _split_rows(path: Path) -> tuple[list[list[str]], list[int] | None]:
    """Every row of a CSV file, and the line each starts on when that is not simply its index + 1.

    A file without a quote character cannot hold a quoted comma or line break, so splitting its
    lines on commas gives exactly what the csv module would, several times faster on an export of
    a million rows. Any other file goes through the csv module.
    """
    with _open_csv(path) as fh:
        text = fh.read()
    if '"' not in text:
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if text.endswith("\n"):
            text = text[:-1]
        return [line.split(",") if line else [] for line in text.split("\n")] if text else [], None
    rows: list[list[str]] = []
    lines: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    for row in reader:
        rows.append(row)
        lines.append(start)
        start = reader.line_num + 1
    return rows, lines


_TYPED = {"open_amount": "amount", "total": "amount", "amount": "amount", "discount_percent": "amount",
          "issue_date": "date", "due_date": "date", "date": "date", "discount_days": "whole"}
_EXPECTED = {"amount": "a decimal number such as 1190.00", "whole": "a whole number",
             "date": "a date written YYYY-MM-DD, e.g. 2024-06-27"}


def _what_is_wrong(row: list[str], col: dict[str, int], exc: Exception) -> str:
    """Which column of a row that failed holds what, and what was expected (run only on an error)."""
    for name, kind in _TYPED.items():
        i = col.get(name, -1)
        text = row[i].strip() if 0 <= i < len(row) else ""
        if not text:
            continue
        try:
            Decimal(text) if kind == "amount" else date.fromisoformat(text) if kind == "date" else int(text)
        except (ValueError, InvalidOperation):
            return f"column {name}: expected {_EXPECTED[kind]}, got {text!r}"
    return _reason(exc)


def _checked_columns(rows: list[list[str]], width: int, i_ccy: int, columns: tuple[int, ...]) -> bool:
    """Whether every data row is wide enough and each of ``columns`` holds plain amounts only.

    When anything fails, each row's amounts are checked on their own, which names what is wrong.
    """
    data = rows[1:]
    if not data or min(map(len, data)) < width:
        return False
    decimals = min(minor_units(c) for c in set(map(itemgetter(i_ccy), data)))
    return all(plain_amounts(list(map(itemgetter(i), data)), decimals) for i in columns)


def read_documents_csv(path: str | Path, rejected: list[str] | None = None) -> list[OpenDocument]:
    """Open documents from an ``invoices.csv`` (fully paid rows are skipped).

    Args:
        path: the file.
        rejected: when given, a row that cannot be used (an amount of ``NaN``, ``1E+30`` or with
            more decimals than its currency, a bad date) is skipped and ``file:line: reason`` added
            here; otherwise the first such row raises.

    Raises:
        InputFileError: a missing column, or a value that is not a number, date or known doc_type
            (without ``rejected``); the message names the file and line.
    """
    path = Path(path)
    rows, line_of = _split_rows(path)
    col = _columns(path, rows[0] if rows else None, INVOICE_COLUMNS[:8])
    i_id, i_cust, i_num, i_type, i_ccy, i_tot, i_open, i_issue = (col[c] for c in INVOICE_COLUMNS[:8])
    i_due, i_dp, i_dd = (col.get(c, -1) for c in INVOICE_COLUMNS[8:])
    width = max(col.values()) + 1
    # Amounts proven plain and within their currency a column at a time need no check per row.
    checked = _checked_columns(rows, width, i_ccy, (i_open, i_tot))
    # Dates, percentages and currencies repeat across a ledger: parse each distinct text once.
    dates: dict[str, date | None] = {"": None}
    percents: dict[str, Decimal | None] = {"": None}
    days: dict[str, int | None] = {"": None}
    currencies: dict[str, str] = {}
    kinds: dict[str, DocKind] = {"invoice": "invoice", "credit_memo": "credit_memo", "": "invoice"}
    docs: list[OpenDocument] = []
    append = docs.append
    for pos in range(1, len(rows)):
        row = rows[pos]
        try:
            if len(row) < width:
                if not row:
                    continue
                row = row + [""] * (width - len(row))
            currency = currencies.get(row[i_ccy])
            if currency is None:
                currency = currencies[row[i_ccy]] = row[i_ccy].upper()
            text = row[i_open]
            open_amount = Decimal(text)
            if not checked:
                check_amount(open_amount, currency, what="open_amount")
            if not open_amount:
                continue
            if open_amount < 0:
                open_amount = -open_amount
            kind = kinds.get(row[i_type])
            if kind is None:
                raise ValueError(f"doc_type must be invoice or credit_memo, got {row[i_type]!r}")
            text = row[i_issue]
            issue = dates[text] if text in dates else dates.setdefault(text, date.fromisoformat(text))
            due: date | None = None
            if i_due >= 0:
                text = row[i_due]
                due = dates[text] if text in dates else dates.setdefault(text, date.fromisoformat(text))
            percent = percents.get(row[i_dp]) if i_dp >= 0 else None
            if percent is None and i_dp >= 0 and row[i_dp]:
                percent = percents[row[i_dp]] = Decimal(row[i_dp])
            term = days.get(row[i_dd]) if i_dd >= 0 else None
            if term is None and i_dd >= 0 and row[i_dd]:
                term = days[row[i_dd]] = int(row[i_dd])
            text = row[i_tot]
            # Most documents are still open in full: their total is the same number.
            total = (
                open_amount
                if text == row[i_open]
                else abs(Decimal(text) if checked else check_amount(Decimal(text), currency, what="total"))
            )
            append(OpenDocument(
                row[i_id], row[i_cust], row[i_num], kind, currency, total,
                open_amount, issue, due, percent, term, None, "", open_amount,
            ))  # fmt: skip
        except (ValueError, InvalidOperation, IndexError) as exc:
            line = line_of[pos] if line_of is not None else pos + 1
            message = f"{path}:{line}: {_what_is_wrong(row, col, exc)}"
            if rejected is None:
                raise InputFileError(message) from exc
            rejected.append(message)
    # Each document with its number key, as the column reader gives it.
    for doc, key in zip(docs, number_keys([d.number for d in docs]), strict=True):
        doc.key = key
    return docs


def _reason(exc: Exception) -> str:
    if isinstance(exc, InvalidOperation):
        return "not a number"
    return str(exc)


def iter_documents_csv(path: str | Path) -> Iterator[OpenDocument]:
    """Open documents from an ``invoices.csv``, one at a time (see :func:`read_documents_csv`)."""
    yield from read_documents_csv(path)


def load_documents(path: str | Path, rejected: list[str] | None = None) -> DocumentIndex:
    """Index the open documents of an ``invoices.csv`` (``rejected``: see :func:`read_documents_csv`).

    An export without quoted values is read a column at a time (see :mod:`rules.cashapp.columns`);
    any other file, or one with a value that cannot be read, row by row.
    """
    path = Path(path)
    with _open_csv(path) as fh:
        header = next(csv.reader(fh), None)
    col = _columns(path, header, INVOICE_COLUMNS[:8])
    assert header is not None
    index = index_documents_columnar(path, header, col)
    return index if index is not None else DocumentIndex(read_documents_csv(path, rejected))


def read_payments_csv(path: str | Path, rejected: list[str] | None = None) -> list[PaymentInput]:
    """Payments from a ``payments.csv`` (empty ``customer_id`` means the payer is unknown).

    Args:
        path: the file.
        rejected: when given, a row that cannot be used (an amount of ``NaN``, ``1E+30``, with
            more decimals than its currency, or not more than zero; a bad date) is skipped and
            ``file:line: reason`` added here; otherwise the first such row raises.

    Raises:
        InputFileError: a missing column, or a value that is not a number or date (without
            ``rejected``).
    """
    path = Path(path)
    payments: list[PaymentInput] = []
    with _open_csv(path) as fh:
        reader = csv.reader(fh)
        col = _columns(path, next(reader, None), PAYMENT_COLUMNS[:4])
        idx = [col.get(c, -1) for c in PAYMENT_COLUMNS]
        for row in reader:
            if not row:
                continue
            try:
                v = [row[i].strip() if 0 <= i < len(row) else "" for i in idx]
                currency = v[3].upper()
                payments.append(PaymentInput(
                    payment_id=v[0], date=date.fromisoformat(v[1]), amount=credit_amount(v[2], currency),
                    currency=currency, customer_id=v[4] or None, payer_name=v[5] or None,
                    payer_account=v[6] or None, reference=v[7] or None,
                ))  # fmt: skip
            except (ValueError, InvalidOperation) as exc:
                message = f"{path}:{reader.line_num}: {_what_is_wrong(row, col, exc)}"
                if rejected is None:
                    raise InputFileError(message) from exc
                rejected.append(message)
    return payments


def load_payments(path: str | Path, rejected: list[str] | None = None) -> list[PaymentInput]:
    """Payments from a ``payments.csv`` or a camt.053, BAI2 or MT940 statement (told apart by content).

    With ``rejected``, the rows or statement lines that cannot be used are skipped and listed there
    (``file:line: reason``); without it, a bad CSV row raises and a bad statement line is skipped.
    """
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(4096)
    if sniff_format(head) == "csv":
        with _open_csv(path) as fh:
            header = next(csv.reader(fh), None)
        col = _columns(path, header, PAYMENT_COLUMNS[:4])
        assert header is not None
        payments = read_payments_columnar(path, header, col)
        return payments if payments is not None else read_payments_csv(path, rejected)
    lines = read_statement(path)
    if rejected is not None:
        rejected.extend(f"{path}: {line}" for line in lines.rejected)
    return list(lines)


def load_customers(path: str | Path) -> CustomerIndex:
    """Customers from a ``customers.csv``; ``bank_accounts`` (and an optional ``aliases``) split on ``;``."""
    path = Path(path)
    with _open_csv(path) as fh:
        header = next(csv.reader(fh), None)
    col = _columns(path, header, CUSTOMER_COLUMNS)
    assert header is not None
    by_column = read_customers_columnar(path, header, col)
    return CustomerIndex(by_column if by_column is not None else read_customers_csv(path))


def read_customers_csv(path: Path) -> list[CustomerInfo]:
    """Customers from a ``customers.csv``, row by row (see :func:`load_customers`)."""
    found: list[CustomerInfo] = []
    with _open_csv(path) as fh:
        reader = csv.reader(fh)
        col = _columns(path, next(reader, None), CUSTOMER_COLUMNS)
        i_id, i_name, i_acc = (col[c] for c in CUSTOMER_COLUMNS)
        i_alias = col.get("aliases", -1)
        for row in reader:
            if not row:
                continue
            raw_accounts = row[i_acc] if i_acc < len(row) else ""
            accounts = tuple(a.strip() for a in raw_accounts.split(";") if a.strip())
            aliases = (
                tuple(a.strip() for a in row[i_alias].split(";") if a.strip())
                if 0 <= i_alias < len(row)
                else ()
            )
            found.append(CustomerInfo(row[i_id], row[i_name], accounts, aliases))
    return found


def read_remittance(path: str | Path) -> dict[str, tuple[RemittanceLine, ...]]:
    """Remittance advices by payment id, from CSV or JSON.

    CSV columns: ``payment_id, invoice_number, amount[, discount]``. JSON: a list of
    ``{"payment_id", "lines": [{"invoice_number", "amount", "discount"}]}`` or an object keyed by
    payment id whose values are such line lists.

    Raises:
        InputFileError: missing fields or amounts that are not numbers.
    """
    path = Path(path)
    found: dict[str, list[RemittanceLine]] = {}

    def add(pid: Any, line: dict[str, Any], where: str) -> None:
        number = line.get("invoice_number") or line.get("number")
        if not pid or not number or line.get("amount") in (None, ""):
            raise InputFileError(f"{where}: each line needs payment_id, invoice_number and amount")
        try:
            found.setdefault(str(pid), []).append(
                RemittanceLine(
                    str(number), Decimal(str(line["amount"])), Decimal(str(line.get("discount") or "0"))
                )
            )
        except InvalidOperation as exc:
            raise InputFileError(
                f"{where}: expected a number for amount and discount, got "
                f"{line.get('amount')!r} and {line.get('discount')!r}"
            ) from exc

    text = path.read_text(encoding="utf-8-sig")
    if text.lstrip().startswith(("[", "{")):
        try:
            data = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from exc
        if isinstance(data, dict):
            data = [{"payment_id": k, "lines": v} for k, v in data.items()]
        if not isinstance(data, list) or not all(isinstance(a, dict) for a in data):
            raise InputFileError(f"{path}: expected a list of advices or an object keyed by payment id")
        for n, advice in enumerate(data):
            for i, line in enumerate(advice.get("lines") or []):
                where = f"{path}: advice {n + 1} ({advice.get('payment_id')}), line {i + 1}"
                add(advice.get("payment_id"), line if isinstance(line, dict) else {}, where)
    else:
        reader = csv.DictReader(text.splitlines())
        for row in reader:
            where = f"{path}:{reader.line_num}"
            add(row.get("payment_id"), {k.strip().lower(): v for k, v in row.items() if k}, where)
    return {k: tuple(v) for k, v in found.items()}


def attach_remittance(
    payments: Iterable[PaymentInput], advices: dict[str, tuple[RemittanceLine, ...]]
) -> Iterator[PaymentInput]:
    """The payments, each with its remittance advice if the customer sent one."""
    for payment in payments:
        lines = advices.get(payment.payment_id)
        yield replace(payment, remittance=lines) if lines else payment


def write_matches(results: Iterable[MatchResult], out: IO[str]) -> dict[str, int]:
    """Write ``matches.jsonl`` (one line per payment); returns counts by status.

    Each line is what ``json.dumps(result.to_json())`` gives, put together directly: a hundred
    thousand results are written in a fraction of the time the generic encoder needs.
    """
    counts = {"auto": 0, "review": 0, "unmatched": 0}
    scores_written: dict[tuple[object, ...], tuple[str, str]] = {}
    lines: list[str] = []
    try:
        for r in results:
            counts[r.status] += 1
            lines.append(_match_line(r, scores_written))
            if len(lines) >= 64:
                # Some dozens of lines to the file at a time, not one by one, in a string small to encode.
                out.write("".join(lines))
                lines.clear()
    finally:
        # What was written before a result failed is in the file, as when each line went on its own.
        out.write("".join(lines))
    return counts


# The end of an application's JSON when it takes nothing off (both are the model's zero).
_NOTHING_OFF = f'"discount": "{ZERO!s}", "writeoff": "{ZERO!s}"}}'


def _match_line(r: MatchResult, scores_written: dict[tuple[object, ...], tuple[str, str]]) -> str:
    """One result's line of ``matches.jsonl``.

    A few hundred combinations of confidence and component scores recur over a hundred thousand
    results: ``scores_written`` keeps the text of each. The types are part of the key (1 == 1.0 ==
    True, yet each is written differently), and a key with a zero is never kept (0.0 == -0.0): so
    no key with a zero is ever found either, and a key found is told without testing for one.
    """
    text = encode_basestring
    comps = r.components
    confidence = r.confidence
    values = comps.values()
    key: tuple[object, ...] | None = None
    if len(comps) == 3 and type(confidence) is float:
        payer, document, amount = values
        if type(payer) is float and type(document) is float and type(amount) is float:
            # A decision's three scores and its confidence are floats: their types need no place in
            # the key (which, of seven items, is never one with the types, of two, five, eight...).
            key = (confidence, *comps, payer, document, amount)
    if key is None:
        key = (confidence, *comps, *values, type(confidence), *map(type, values))
    scores = scores_written.get(key)
    if scores is None:
        scores = (repr(confidence), ", ".join([f"{text(k)}: {v!r}" for k, v in comps.items()]))
        if confidence and 0 not in values:
            scores_written[key] = scores
    apps = r.applications
    # Money as str() gives it: what format() with no spec gives, more cheaply. Most lines take
    # nothing off with the model's own zero, whose text is known.
    nothing_off = _NOTHING_OFF
    if len(apps) == 1:
        a = apps[0]
        applied = (f'{{"invoice_id": {text(a.doc_id)}, "amount": "{a.amount!s}", {nothing_off}'
                   if a.discount is ZERO and a.writeoff is ZERO else
                   f'{{"invoice_id": {text(a.doc_id)}, "amount": "{a.amount!s}", "discount": '
                   f'"{a.discount!s}", "writeoff": "{a.writeoff!s}"}}')
    else:
        applied = ", ".join([
            f'{{"invoice_id": {text(a.doc_id)}, "amount": "{a.amount!s}", {nothing_off}'
            if a.discount is ZERO and a.writeoff is ZERO else
            f'{{"invoice_id": {text(a.doc_id)}, "amount": "{a.amount!s}", "discount": '
            f'"{a.discount!s}", "writeoff": "{a.writeoff!s}"}}'
            for a in apps
        ])
    customer = "null" if r.customer_id is None else text(r.customer_id)
    explanation = r.explanation
    # The JSON encoder escapes only quotes, backslashes and control characters (printable text holds
    # none of these): a sentence without them is written as it stands, not copied through the encoder.
    if not (explanation.isprintable() and '"' not in explanation and "\\" not in explanation):
        explanation = text(explanation)[1:-1]
    return (
        f'{{"payment_id": {text(r.payment_id)}, "status": "{r.status}", "customer_id": {customer}, '
        f'"confidence": {scores[0]}, "rule": {text(r.rule)}, "applications": [{applied}], '
        f'"unapplied": "{r.unapplied!s}", "explanation": "{explanation}", '
        f'"components": {{{scores[1]}}}}}\n'
    )


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Suspend the cyclic garbage collector while a run builds millions of small objects.

    Documents, payments and results hold no reference cycles, so reference counting frees them;
    the cycle collector would only scan the growing heap over and over (on a million documents,
    more time than reading them). What exists when the block ends is frozen out of later collections
    (:func:`gc.freeze`), so use it around a whole run, not inside a long-lived loop.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            # What the run built is left to reference counting: with the collector back on, the next
            # allocation would otherwise scan the millions of objects still held once (about a
            # second on a million documents, for nothing).
            gc.freeze()
            gc.enable()
