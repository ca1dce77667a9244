"""Reading customers, invoices, credit memos and payments from CSV files for ``arbridge dunning plan``.

The columns are documented in ``rules/dunning/README.md``. Only ``id`` and ``name`` (customers),
``id``, ``customer_id``, ``currency``, ``issue_date``, ``total``, ``open_amount`` (invoices, credit
memos) and ``id``, ``currency``, ``date``, ``amount``, ``unapplied_amount`` (payments) are required;
every other column may be missing or empty.

A cell that cannot be read stops the run with :class:`FileError`, which names the file, the line
and the column (``invoices.csv:4:5``) and what was expected: a plan made from half-read files
would be a quiet wrong answer.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from mapping.models import CreditMemo, Customer, Invoice, Payment
from rules.dunning.currencies import check_currency

__all__ = ["FileError", "read_credit_memos", "read_customers", "read_invoices", "read_payments"]

T = TypeVar("T")
_TRUE = {"1", "true", "yes", "y", "x"}
_FALSE = {"0", "false", "no", "n", ""}
_CHANNELS = {"email", "letter", "call", "webhook", "all"}
_ADDRESS = {
    "address_line1": "line1",
    "address_line2": "line2",
    "address_line3": "line3",
    "city": "city",
    "region": "region",
    "postal_code": "postal_code",
    "country": "country",
}


class FileError(ValueError):
    """A file that cannot be read as expected, located as ``file:line:column``.

    Attributes:
        path: the file.
        line: the line (1-based), or None for the file as a whole.
        column: the column (1-based), when one cell is at fault.
        problem: what was expected.
    """

    def __init__(self, path: Path | str, line: int | None, column: int | None, problem: str) -> None:
        self.path = Path(path)
        self.line = line
        self.column = column
        self.problem = problem
        where = str(self.path)
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {problem}")


class _Cell(ValueError):
    """A problem with one column of the row being read."""

    def __init__(self, column: str, problem: str) -> None:
        self.column = column
        self.problem = problem
        super().__init__(f"{column}: {problem}")


class _Row:
    """One CSV row, read cell by cell with messages that name the column."""

    def __init__(self, data: dict[str, str | None]) -> None:
        self.data = data

    def text(self, name: str) -> str | None:
        value = (self.data.get(name) or "").strip()
        return value or None

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise _Cell(name, "a value is required")
        return value

    def flag(self, name: str) -> bool:
        raw = (self.data.get(name) or "").strip().lower()
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise _Cell(name, f"expected true or false (also yes/no, 1/0, x or empty), got {raw!r}")

    def items(self, name: str) -> list[str]:
        # Lists are separated by ';' (or '|'), since ',' already separates the columns.
        raw = self.data.get(name) or ""
        return [p.strip() for p in raw.replace("|", ";").split(";") if p.strip()]

    def money(self, name: str, *, required: bool = True) -> Decimal | None:
        raw = self.text(name)
        if raw is None:
            if required:
                raise _Cell(name, "an amount is required, e.g. 120.50")
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise _Cell(name, f"expected a decimal amount with a '.', e.g. 120.50, got {raw!r}") from None
        if not value.is_finite():
            raise _Cell(name, f"expected a decimal amount with a '.', e.g. 120.50, got {raw!r}")
        return value

    def day(self, name: str, *, required: bool = False) -> date | None:
        raw = self.text(name)
        if raw is None:
            if required:
                raise _Cell(name, "a date is required, written YYYY-MM-DD")
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise _Cell(name, f"expected a date written YYYY-MM-DD, e.g. 2026-11-23, got {raw!r}") from None

    def instant(self, name: str, default: datetime) -> datetime:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise _Cell(name, f"expected a date-time with its zone, e.g. 2026-11-23T10:00:00Z, got {raw!r}")
        return moment

    def currency(self, name: str, *, required: bool = True) -> str | None:
        raw = self.text(name)
        if raw is None:
            if required:
                raise _Cell(name, "a currency code is required, e.g. EUR")
            return None
        try:
            return check_currency(raw)
        except ValueError as exc:
            raise _Cell(name, str(exc)) from None

    def zone(self, name: str) -> str | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            ZoneInfo(raw)
        except (ZoneInfoNotFoundError, ValueError):
            raise _Cell(
                name, f"expected an IANA time zone such as Europe/Berlin or America/New_York, got {raw!r}"
            ) from None
        return raw

    def whole(self, name: str) -> int | None:
        raw = self.text(name)
        if raw is None:
            return None
        if not raw.isdigit():
            raise _Cell(name, f"expected a whole number of 0 or more, got {raw!r}")
        return int(raw)


def _rows(path: Path, build: Callable[[_Row], T], required: tuple[str, ...]) -> Iterator[T]:
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise FileError(path, None, None, f"cannot be read: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader, [])]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise FileError(path, 1, None, f"expected a CSV header line in UTF-8 ({exc})") from None
        missing = [name for name in required if name not in header]
        if missing:
            raise FileError(path, 1, None, f"expected the column(s) {', '.join(missing)} in the header")
        columns = {name: i + 1 for i, name in enumerate(header)}
        while True:
            line = reader.line_num + 1
            try:
                cells = next(reader, None)
            except (csv.Error, UnicodeDecodeError) as exc:
                raise FileError(path, line, None, f"not a readable CSV line ({exc})") from None
            if cells is None:
                return
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(header):
                raise FileError(
                    path, line, len(header) + 1, f"{len(cells)} cells but the header names {len(header)}"
                )
            row = _Row(dict(zip(header, cells, strict=False)))
            try:
                yield build(row)
            except _Cell as exc:
                raise FileError(path, line, columns.get(exc.column), f"{exc.column}: {exc.problem}") from None
            except ValidationError as exc:
                err = exc.errors(include_url=False)[0]
                field = str(err["loc"][0]) if err["loc"] else ""
                column = _COLUMN_OF.get(field, field)
                text = str(err["msg"]).removeprefix("Value error, ")
                problem = f"{column}: {text}" if column else text
                raise FileError(path, line, columns.get(column), problem) from None


# Canonical field -> CSV column, for the model's own checks (due date before issue date …).
_COLUMN_OF = {"remote_id": "id", "customer_remote_id": "customer_id", "billing_address": "address_line1"}


def read_customers(path: str | Path, modified_default: datetime) -> Iterator[Customer]:
    """Stream customers from ``customers.csv``.

    Args:
        path: the CSV file.
        modified_default: the ERP modification time to record when there is no ``modified_at`` column.

    Yields:
        Canonical customers.

    Raises:
        FileError: a row is invalid; the message names the file, line, column and what was expected.
    """

    def build(row: _Row) -> Customer:
        opt_out = [c.lower() for c in row.items("opt_out_channels")]
        unknown = [c for c in opt_out if c not in _CHANNELS]
        if unknown:
            raise _Cell(
                "opt_out_channels",
                f"expected channels among email, letter, call, webhook or all, got {', '.join(unknown)}",
            )
        data: dict[str, Any] = {
            "remote_id": row.required("id"),
            "name": row.required("name"),
            "remote_modified_at": row.instant("modified_at", modified_default),
            "tags": row.items("tags"),
            "opt_out_channels": opt_out,
            "dunning_block": row.flag("dunning_block"),
            "time_zone": row.zone("time_zone"),
            "currency": row.currency("currency", required=False),
        }
        for name in ("email", "phone", "country", "language", "terms"):
            data[name] = row.text(name)
        for name in ("credit_limit", "balance", "risk_score"):
            data[name] = row.money(name, required=False)
        address = {field: row.text(column) for column, field in _ADDRESS.items()}
        if any(v for k, v in address.items() if k != "country"):
            data["billing_address"] = address
        return Customer.model_validate(data)

    return _rows(Path(path), build, ("id", "name"))


def _document(row: _Row, modified_default: datetime) -> dict[str, Any]:
    data: dict[str, Any] = {
        "remote_id": row.required("id"),
        "customer_remote_id": row.required("customer_id"),
        "number": row.text("number"),
        "currency": row.currency("currency"),
        "issue_date": row.day("issue_date", required=True),
        "total": row.money("total"),
        "open_amount": row.money("open_amount"),
        "remote_modified_at": row.instant("modified_at", modified_default),
        "due_date": row.day("due_date"),
    }
    status = row.text("status")
    if status:
        data["status"] = status.lower()
    return data


_DOCUMENT_COLUMNS = ("id", "customer_id", "currency", "issue_date", "total", "open_amount")


def read_invoices(path: str | Path, modified_default: datetime) -> Iterator[Invoice]:
    """Stream invoices from ``invoices.csv`` (see :func:`read_customers` for the arguments)."""

    def build(row: _Row) -> Invoice:
        data = _document(row, modified_default)
        data["disputed"] = row.flag("disputed")
        data["dunning_block"] = row.flag("dunning_block")
        data["promise_to_pay_date"] = row.day("promise_to_pay_date")
        data["dunning_level"] = row.whole("dunning_level")
        return Invoice.model_validate(data)

    return _rows(Path(path), build, _DOCUMENT_COLUMNS)


def read_credit_memos(path: str | Path, modified_default: datetime) -> Iterator[CreditMemo]:
    """Stream credit memos from ``credit_memos.csv`` (see :func:`read_customers` for the arguments)."""

    def build(row: _Row) -> CreditMemo:
        data = _document(row, modified_default)
        data["applies_to_invoice_id"] = row.text("applies_to_invoice_id")
        return CreditMemo.model_validate(data)

    return _rows(Path(path), build, _DOCUMENT_COLUMNS)


def read_payments(path: str | Path, modified_default: datetime) -> Iterator[Payment]:
    """Stream payments from ``payments.csv``: money received, of which ``unapplied_amount`` is on account.

    See :func:`read_customers` for the arguments.
    """

    def build(row: _Row) -> Payment:
        data: dict[str, Any] = {
            "remote_id": row.required("id"),
            "customer_remote_id": row.text("customer_id"),
            "currency": row.currency("currency"),
            "date": row.day("date", required=True),
            "amount": row.money("amount"),
            "unapplied_amount": row.money("unapplied_amount"),
            "reference": row.text("reference"),
            "remote_modified_at": row.instant("modified_at", modified_default),
        }
        status = row.text("status")
        if status:
            data["status"] = status.lower().replace(" ", "_")
        return Payment.model_validate(data)

    return _rows(Path(path), build, ("id", "currency", "date", "amount", "unapplied_amount"))
