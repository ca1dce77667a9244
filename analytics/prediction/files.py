"""The file contract of ``arbridge predict``: paid.csv and open.csv in, predictions.csv out.

``paid.csv``: ``invoice_id,customer_id,currency,amount,issue_date,due_date,paid_date,disputed``;
``open.csv``: the same without ``paid_date``. ``disputed`` is ``yes``/``no`` (or true/false, 1/0)
or empty; an empty ``due_date`` is the issue date plus the default terms; an optional
``promised_date`` is the day the customer promised to pay by; other columns are ignored; dates
are ISO (``2026-11-23``) unless a ``--date-format`` (``%d.%m.%Y``) says otherwise.
A cell that cannot be read stops the run with :class:`BookFileError`, naming the file, the line and
the column: a prediction made from a half-read file would be a quiet wrong answer.
"""

from __future__ import annotations

import csv
import re
from array import array
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from analytics.prediction.book import OPEN, Book

__all__ = [
    "HISTORY_COLUMNS",
    "OPEN_COLUMNS",
    "PREDICTION_COLUMNS",
    "BookFileError",
    "read_book",
    "write_rows",
]

OPEN_COLUMNS = ("invoice_id", "customer_id", "currency", "amount", "issue_date", "due_date", "disputed")
HISTORY_COLUMNS = (*OPEN_COLUMNS[:6], "paid_date", "disputed")
PREDICTION_COLUMNS = (
    "invoice_id",
    "predicted_date",
    "low_date",
    "high_date",
    "p_late_30",
    "p_late_60",
    "p_late_90",
    "why",
)
_REQUIRED = ("invoice_id", "customer_id", "currency", "amount", "issue_date")
_YES = {"yes", "y", "true", "1", "x"}
_NO = {"no", "n", "false", "0", ""}
_CURRENCY = re.compile(r"[A-Z]{3}")


class BookFileError(ValueError):
    """A file that cannot be read, located as ``file:line`` and the column at fault."""

    def __init__(self, path: Path | str, line: int | None, column: str | None, problem: str) -> None:
        self.path, self.line, self.column, self.problem = Path(path), line, column, problem
        where = str(path) + (f":{line}" if line is not None else "")
        super().__init__(f"{where}: {'column ' + column + ': ' if column else ''}{problem}")


def _date_parser(date_format: str | None) -> Callable[[str], date]:
    if date_format is None:
        return date.fromisoformat
    return lambda text: datetime.strptime(text, date_format).date()


def read_book(
    path: str | Path,
    *,
    paid: bool,
    date_format: str | None = None,
    default_terms_days: int = 30,
) -> Book:
    """Read paid.csv (``paid=True``) or open.csv into columns.

    Raises:
        BookFileError: a missing column or a cell that cannot be read, named by line and column.
    """
    source = Path(path)
    parse_day = _date_parser(date_format)
    shown_format = date_format or "YYYY-MM-DD"
    required = (*_REQUIRED, "paid_date") if paid else _REQUIRED
    # Numbers go into typed arrays (8 bytes a value, not a Python object each): a million lines.
    cols: dict[str, Any] = {
        "invoice_id": [],
        "customer_id": [],
        "currency": [],
        "amount": array("d"),
        "issue": array("i"),
        "due": array("i"),
        "paid": array("i"),
        "disputed": array("b"),
        "promised": array("i"),
    }
    terms = timedelta(days=default_terms_days)
    seen: dict[str, str] = {}
    try:
        fh = source.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise BookFileError(source, None, None, f"cannot be read: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise BookFileError(
                source, 1, None, f"expected the columns {', '.join(required)}; missing {', '.join(missing)}"
            )
        at = {name: header.index(name) for name in header}
        i_id, i_cust, i_cur, i_amt, i_issue = (at[c] for c in _REQUIRED)
        i_due, i_paid, i_disp = at.get("due_date"), at.get("paid_date"), at.get("disputed")
        i_promised = at.get("promised_date")
        width = max(at.values()) + 1
        for cells in _rows(reader):
            line = reader.line_num
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            try:
                invoice_id = _text(cells[i_id], "invoice_id")
                # One string per customer and currency, not one per line: a customer has many invoices.
                customer_id = seen.setdefault(name := _text(cells[i_cust], "customer_id"), name)
                currency = seen.setdefault(code := cells[i_cur].strip().upper(), code)
                if not _CURRENCY.fullmatch(currency):
                    raise _Cell("currency", f"expected a currency code such as EUR, got {cells[i_cur]!r}")
                amount = _amount(cells[i_amt])
                issue = _day(parse_day, cells[i_issue], "issue_date", shown_format)
                due_text = cells[i_due].strip() if i_due is not None else ""
                due = _day(parse_day, due_text, "due_date", shown_format) if due_text else issue + terms
                paid_day = OPEN
                if paid:
                    assert i_paid is not None
                    paid_day = _day(parse_day, cells[i_paid], "paid_date", shown_format).toordinal()
                disputed = _flag(cells[i_disp] if i_disp is not None else "")
                promised_text = cells[i_promised].strip() if i_promised is not None else ""
                promised = (
                    _day(parse_day, promised_text, "promised_date", shown_format).toordinal()
                    if promised_text
                    else OPEN
                )
            except _Cell as exc:
                raise BookFileError(source, line, exc.column, exc.problem) from None
            cols["invoice_id"].append(invoice_id)
            cols["customer_id"].append(customer_id)
            cols["currency"].append(currency)
            cols["amount"].append(amount)
            cols["issue"].append(issue.toordinal())
            cols["due"].append(due.toordinal())
            cols["paid"].append(paid_day)
            cols["disputed"].append(disputed)
            cols["promised"].append(promised)
    return Book.from_lists(cols)


def _rows(reader: Any) -> Iterator[list[str]]:
    for cells in reader:
        if any(c.strip() for c in cells):
            yield cells


class _Cell(ValueError):
    def __init__(self, column: str, problem: str) -> None:
        self.column, self.problem = column, problem
        super().__init__(problem)


def _text(value: str, column: str) -> str:
    text = value.strip()
    if not text:
        raise _Cell(column, "a value is required")
    return text


def _amount(value: str) -> float:
    try:
        amount = float(value.strip().replace(",", ""))
    except ValueError:
        raise _Cell("amount", f"expected an amount such as 1250.00, got {value!r}") from None
    if amount != amount or amount in (float("inf"), float("-inf")) or amount < 0:
        raise _Cell("amount", f"expected an amount of 0 or more such as 1250.00, got {value!r}")
    return amount


def _day(parse: Callable[[str], date], value: str, column: str, shown: str) -> date:
    try:
        return parse(value.strip())
    except ValueError:
        raise _Cell(column, f"expected a date written {shown}, got {value!r}") from None


def _flag(value: str) -> bool:
    text = value.strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise _Cell("disputed", f"expected yes, no or nothing, got {value!r}")


def write_rows(path: str | Path, header: Sequence[str], rows: Iterator[Sequence[Any]]) -> int:
    """Write a CSV file; returns the number of data rows."""
    n = 0
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        for row in rows:
            out.writerow(row)
            n += 1
    return n
