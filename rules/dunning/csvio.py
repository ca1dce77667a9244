"""Reading customers, invoices and credit memos from CSV files for ``arbridge dunning plan``.

The columns are documented in ``rules/dunning/README.md``. Only ``id`` and ``name`` (customers) and
``id``, ``customer_id``, ``currency``, ``issue_date``, ``total``, ``open_amount`` (invoices, credit
memos) are required; every other column may be missing or empty. Errors name the file and line.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from mapping.models import CreditMemo, Customer, Invoice

__all__ = ["read_credit_memos", "read_customers", "read_invoices"]

T = TypeVar("T")
_TRUE = {"1", "true", "yes", "y", "x"}
_FALSE = {"0", "false", "no", "n", ""}


def _flag(value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _list(value: str) -> list[str]:
    # Lists are separated by ';' (or '|'), since ',' already separates the columns.
    return [p.strip() for p in value.replace("|", ";").split(";") if p.strip()]


def _money(value: str) -> Decimal:
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"expected a decimal amount such as 120.50, got {value!r}") from None


def _opt(row: dict[str, str], name: str) -> str | None:
    value = (row.get(name) or "").strip()
    return value or None


def _rows(path: Path, build: Callable[[dict[str, str]], T]) -> Iterator[T]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for lineno, row in enumerate(csv.DictReader(fh), start=2):
            try:
                yield build(row)
            except (ValueError, ValidationError, KeyError) as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from exc


def _modified(row: dict[str, str], default: datetime) -> datetime:
    value = _opt(row, "modified_at")
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else default


def read_customers(path: str | Path, modified_default: datetime) -> Iterator[Customer]:
    """Stream customers from ``customers.csv``.

    Args:
        path: the CSV file.
        modified_default: the ERP modification time to record when there is no ``modified_at`` column.

    Yields:
        Canonical customers.

    Raises:
        ValueError: a row is invalid; the message names the file, line and field.
    """

    def build(row: dict[str, str]) -> Customer:
        data: dict[str, Any] = {
            "remote_id": row["id"].strip(),
            "name": row["name"].strip(),
            "remote_modified_at": _modified(row, modified_default),
            "tags": _list(row.get("tags") or ""),
            "opt_out_channels": [c.lower() for c in _list(row.get("opt_out_channels") or "")],
            "dunning_block": _flag(row.get("dunning_block") or ""),
        }
        for name in ("email", "phone", "currency", "country", "time_zone", "language", "terms"):
            data[name] = _opt(row, name)
        for name in ("credit_limit", "balance", "risk_score"):
            value = _opt(row, name)
            data[name] = _money(value) if value else None
        return Customer.model_validate(data)

    return _rows(Path(path), build)


def _document(row: dict[str, str], modified_default: datetime) -> dict[str, Any]:
    data: dict[str, Any] = {
        "remote_id": row["id"].strip(),
        "customer_remote_id": row["customer_id"].strip(),
        "number": _opt(row, "number"),
        "currency": row["currency"],
        "issue_date": date.fromisoformat(row["issue_date"].strip()),
        "total": _money(row["total"]),
        "open_amount": _money(row["open_amount"]),
        "remote_modified_at": _modified(row, modified_default),
    }
    due = _opt(row, "due_date")
    data["due_date"] = date.fromisoformat(due) if due else None
    status = _opt(row, "status")
    if status:
        data["status"] = status.lower()
    return data


def read_invoices(path: str | Path, modified_default: datetime) -> Iterator[Invoice]:
    """Stream invoices from ``invoices.csv`` (see :func:`read_customers` for the arguments)."""

    def build(row: dict[str, str]) -> Invoice:
        data = _document(row, modified_default)
        data["disputed"] = _flag(row.get("disputed") or "")
        data["dunning_block"] = _flag(row.get("dunning_block") or "")
        promise = _opt(row, "promise_to_pay_date")
        data["promise_to_pay_date"] = date.fromisoformat(promise) if promise else None
        level = _opt(row, "dunning_level")
        data["dunning_level"] = int(level) if level else None
        return Invoice.model_validate(data)

    return _rows(Path(path), build)


def read_credit_memos(path: str | Path, modified_default: datetime) -> Iterator[CreditMemo]:
    """Stream credit memos from ``credit_memos.csv`` (see :func:`read_customers` for the arguments)."""

    def build(row: dict[str, str]) -> CreditMemo:
        data = _document(row, modified_default)
        data["applies_to_invoice_id"] = _opt(row, "applies_to_invoice_id")
        return CreditMemo.model_validate(data)

    return _rows(Path(path), build)
