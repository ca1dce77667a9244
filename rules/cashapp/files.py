"""The file contract of ``arbridge match``: CSV inputs, remittance advices and the JSONL output."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from rules.cashapp.bank import read_statement, sniff_format
from rules.cashapp.index import CustomerIndex, DocumentIndex
from rules.cashapp.model import CustomerInfo, DocKind, MatchResult, OpenDocument, PaymentInput, RemittanceLine

INVOICE_COLUMNS = ("invoice_id", "customer_id", "number", "doc_type", "currency", "total", "open_amount",
                   "issue_date", "due_date", "discount_percent", "discount_days")
PAYMENT_COLUMNS = ("payment_id", "date", "amount", "currency", "customer_id", "payer_name", "payer_account",
                   "reference")
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


def iter_documents_csv(path: str | Path) -> Iterator[OpenDocument]:
    """Open documents from an ``invoices.csv`` (fully paid rows are skipped).

    Raises:
        InputFileError: a missing column or a value that is not a number, date or known doc_type.
    """
    path = Path(path)
    with _open_csv(path) as fh:
        reader = csv.reader(fh)
        col = _columns(path, next(reader, None), INVOICE_COLUMNS[:8])
        i_id, i_cust, i_num, i_type, i_ccy, i_tot, i_open, i_issue = (col[c] for c in INVOICE_COLUMNS[:8])
        i_due, i_dp, i_dd = (col.get(c, -1) for c in INVOICE_COLUMNS[8:])
        width = max(col.values()) + 1
        row: list[str] = []
        try:
            for row in reader:
                if len(row) < width:
                    if not row:
                        continue
                    row = row + [""] * (width - len(row))
                kind: DocKind = "credit_memo" if row[i_type] == "credit_memo" else "invoice"
                if row[i_type] not in ("invoice", "credit_memo", ""):
                    raise ValueError(f"doc_type must be invoice or credit_memo, got {row[i_type]!r}")
                open_amount = abs(Decimal(row[i_open]))
                if not open_amount:
                    continue
                due = row[i_due] if i_due >= 0 else ""
                dp = row[i_dp] if i_dp >= 0 else ""
                dd = row[i_dd] if i_dd >= 0 else ""
                issue = row[i_issue]
                yield OpenDocument(
                    row[i_id], row[i_cust], row[i_num], kind, row[i_ccy].upper(), abs(Decimal(row[i_tot])),
                    open_amount, date.fromisoformat(issue) if issue else None,
                    date.fromisoformat(due) if due else None, Decimal(dp) if dp else None,
                    int(dd) if dd else None,
                )
        except (ValueError, InvalidOperation, IndexError) as exc:
            raise InputFileError(f"{path}:{reader.line_num}: {exc} in row {row!r}") from exc


def load_documents(path: str | Path) -> DocumentIndex:
    """Index the open documents of an ``invoices.csv``."""
    return DocumentIndex(iter_documents_csv(path))


def read_payments_csv(path: str | Path) -> list[PaymentInput]:
    """Payments from a ``payments.csv`` (empty ``customer_id`` means the payer is unknown).

    Raises:
        InputFileError: a missing column or a value that is not a number or date.
    """
    path = Path(path)
    payments: list[PaymentInput] = []
    with _open_csv(path) as fh:
        reader = csv.reader(fh)
        col = _columns(path, next(reader, None), PAYMENT_COLUMNS[:4])
        idx = [col.get(c, -1) for c in PAYMENT_COLUMNS]
        row: list[str] = []
        try:
            for row in reader:
                if not row:
                    continue
                v = [row[i].strip() if 0 <= i < len(row) else "" for i in idx]
                payments.append(PaymentInput(
                    payment_id=v[0], date=date.fromisoformat(v[1]), amount=Decimal(v[2]),
                    currency=v[3].upper(), customer_id=v[4] or None, payer_name=v[5] or None,
                    payer_account=v[6] or None, reference=v[7] or None,
                ))
        except (ValueError, InvalidOperation) as exc:
            raise InputFileError(f"{path}:{reader.line_num}: {exc} in row {row!r}") from exc
    return payments


def load_payments(path: str | Path) -> list[PaymentInput]:
    """Payments from a ``payments.csv`` or a camt.053, BAI2 or MT940 statement (told apart by content)."""
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(4096)
    if sniff_format(head) == "csv":
        return read_payments_csv(path)
    return read_statement(path)


def load_customers(path: str | Path) -> CustomerIndex:
    """Customers from a ``customers.csv``; ``bank_accounts`` (and an optional ``aliases``) split on ``;``."""
    path = Path(path)
    index = CustomerIndex()
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
            aliases = (tuple(a.strip() for a in row[i_alias].split(";") if a.strip())
                       if 0 <= i_alias < len(row) else ())
            index.add(CustomerInfo(row[i_id], row[i_name], accounts, aliases))
    return index


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

    def add(pid: Any, line: dict[str, Any]) -> None:
        number = line.get("invoice_number") or line.get("number")
        if not pid or not number or line.get("amount") in (None, ""):
            raise InputFileError(f"{path}: each line needs payment_id, invoice_number and amount: {line!r}")
        try:
            found.setdefault(str(pid), []).append(RemittanceLine(
                str(number), Decimal(str(line["amount"])), Decimal(str(line.get("discount") or "0"))))
        except InvalidOperation as exc:
            raise InputFileError(f"{path}: amount is not a number in {line!r}") from exc

    text = path.read_text(encoding="utf-8-sig")
    if text.lstrip().startswith(("[", "{")):
        data = json.loads(text, parse_float=Decimal)
        if isinstance(data, dict):
            data = [{"payment_id": k, "lines": v} for k, v in data.items()]
        for advice in data:
            for line in advice.get("lines", []):
                add(advice.get("payment_id"), line)
    else:
        for row in csv.DictReader(text.splitlines()):
            add(row.get("payment_id"), {k.strip().lower(): v for k, v in row.items() if k})
    return {k: tuple(v) for k, v in found.items()}


def attach_remittance(payments: Iterable[PaymentInput],
                      advices: dict[str, tuple[RemittanceLine, ...]]) -> Iterator[PaymentInput]:
    """The payments, each with its remittance advice if the customer sent one."""
    for payment in payments:
        lines = advices.get(payment.payment_id)
        yield replace(payment, remittance=lines) if lines else payment


def write_matches(results: Iterable[MatchResult], out: IO[str]) -> dict[str, int]:
    """Write ``matches.jsonl`` (one line per payment); returns counts by status."""
    counts = {"auto": 0, "review": 0, "unmatched": 0}
    dumps = json.dumps
    for result in results:
        counts[result.status] += 1
        out.write(dumps(result.to_json(), ensure_ascii=False))
        out.write("\n")
    return counts
