"""A small, realistic set of exports for the demo and the tests, and a helper to change rows.

The data is a wholesale supplier's receivables: eight customers in four currencies, a dozen
invoices (open, partly paid, paid, overdue, disputed, voided), two credit memos and five payments.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

CUSTOMER_COLUMNS = [
    "id", "name", "email", "phone", "currency", "country", "time_zone", "language", "terms",
    "credit_limit", "balance", "status", "tags", "aliases", "dunning_block", "version", "modified_at",
    "deleted", "address_line1", "city", "region", "postal_code",
]  # fmt: skip
INVOICE_COLUMNS = [
    "id", "number", "customer_id", "status", "currency", "issue_date", "due_date", "total", "open_amount",
    "memo", "disputed", "promise_to_pay_date", "dunning_level", "version", "modified_at", "deleted",
]  # fmt: skip
CREDIT_MEMO_COLUMNS = [
    "id", "number", "customer_id", "status", "currency", "issue_date", "total", "open_amount",
    "applies_to_invoice_id", "allocations", "version", "modified_at", "deleted",
]  # fmt: skip
PAYMENT_COLUMNS = [
    "id", "customer_id", "status", "date", "amount", "currency", "unapplied_amount", "reference",
    "payer_name", "method", "allocations", "version", "modified_at", "deleted",
]  # fmt: skip

CUSTOMERS: list[dict[str, str]] = [
    {"id": "101", "name": "Blue Fern Café", "email": "accounts@bluefern.example", "phone": "+1 503 555 0141",
     "currency": "USD", "country": "US", "time_zone": "America/Los_Angeles", "language": "en-US",
     "terms": "Net 30", "credit_limit": "5000.00", "balance": "1840.50", "status": "Active",
     "tags": "hospitality;portland", "aliases": "Blue Fern Cafe LLC", "dunning_block": "", "version": "3",
     "modified_at": "2024-03-01T09:15:00-08:00", "deleted": "",
     "address_line1": "412 NE Alberta St", "city": "Portland", "region": "OR", "postal_code": "97211"},
    {"id": "102", "name": "Northwind Plumbing LLC", "email": "ap@northwindplumbing.example",
     "phone": "+1 206 555 0178", "currency": "USD", "country": "US", "time_zone": "America/Los_Angeles",
     "language": "en-US", "terms": "Net 15", "credit_limit": "12000.00", "balance": "7420.00",
     "status": "Active", "tags": "trade", "aliases": "", "dunning_block": "", "version": "7",
     "modified_at": "2024-03-01T17:40:00+00:00", "deleted": "",
     "address_line1": "1820 Westlake Ave N", "city": "Seattle", "region": "WA", "postal_code": "98109"},
    {"id": "103", "name": "Kessler Bäckerei GmbH", "email": "buchhaltung@kessler-baeckerei.example",
     "phone": "+49 30 5550 1234", "currency": "EUR", "country": "DE", "time_zone": "Europe/Berlin",
     "language": "de", "terms": "14 Tage netto", "credit_limit": "8000.00", "balance": "2310.00",
     "status": "Active", "tags": "bakery;eu", "aliases": "Kessler Baeckerei", "dunning_block": "",
     "version": "2", "modified_at": "2024-03-02T08:00:00+01:00", "deleted": "",
     "address_line1": "Bergmannstraße 14", "city": "Berlin", "region": "", "postal_code": "10961"},
    {"id": "104", "name": "Maple & Oak Interiors", "email": "billing@mapleoak.example",
     "phone": "+1 416 555 0190", "currency": "CAD", "country": "CA", "time_zone": "America/Toronto",
     "language": "en-CA", "terms": "Net 30", "credit_limit": "15000.00", "balance": "0.00",
     "status": "Active", "tags": "design", "aliases": "", "dunning_block": "", "version": "1",
     "modified_at": "2024-03-02T15:05:00-05:00", "deleted": "",
     "address_line1": "77 Ossington Ave", "city": "Toronto", "region": "ON", "postal_code": "M6J 2Y9"},
    {"id": "105", "name": "Sunrise Dental Group", "email": "office@sunrisedental.example",
     "phone": "+1 512 555 0122", "currency": "USD", "country": "US", "time_zone": "America/Chicago",
     "language": "en-US", "terms": "Net 45", "credit_limit": "20000.00", "balance": "9650.00",
     "status": "Active", "tags": "healthcare", "aliases": "Sunrise Dental PLLC", "dunning_block": "",
     "version": "4", "modified_at": "2024-03-03T10:30:00-06:00", "deleted": "",
     "address_line1": "3301 Bee Caves Rd", "city": "Austin", "region": "TX", "postal_code": "78746"},
    {"id": "106", "name": "Atlas Freight Ltd", "email": "payables@atlasfreight.example",
     "phone": "+44 20 7946 0958", "currency": "GBP", "country": "GB", "time_zone": "Europe/London",
     "language": "en-GB", "terms": "Net 30", "credit_limit": "10000.00", "balance": "3275.40",
     "status": "Active", "tags": "logistics;uk", "aliases": "", "dunning_block": "", "version": "5",
     "modified_at": "2024-03-04T11:00:00+00:00", "deleted": "",
     "address_line1": "12 Dock Street", "city": "London", "region": "", "postal_code": "E1 8JN"},
    {"id": "107", "name": "Green Valley Farms", "email": "", "phone": "+1 559 555 0107", "currency": "USD",
     "country": "US", "time_zone": "America/Los_Angeles", "language": "en-US", "terms": "Due on receipt",
     "credit_limit": "", "balance": "0.00", "status": "Inactive", "tags": "", "aliases": "",
     "dunning_block": "", "version": "9", "modified_at": "2024-03-04T16:20:00-08:00", "deleted": ""},
    {"id": "108", "name": "Riverside Yoga Studio", "email": "hello@riversideyoga.example",
     "phone": "+1 303 555 0165", "currency": "USD", "country": "US", "time_zone": "America/Denver",
     "language": "en-US", "terms": "Net 30", "credit_limit": "2500.00", "balance": "480.00",
     "status": "Active", "tags": "wellness", "aliases": "", "dunning_block": "yes", "version": "2",
     "modified_at": "2024-03-05T09:45:00-07:00", "deleted": ""},
]  # fmt: skip


def _invoice(
    id_: str, customer: str, status: str, currency: str, issued: str, due: str, total: str, open_: str,
    modified: str, *, memo: str = "", disputed: str = "", promise: str = "", level: str = "",
    version: str = "1",
) -> dict[str, str]:  # fmt: skip
    return {
        "id": id_, "number": f"INV-{id_}", "customer_id": customer, "status": status, "currency": currency,
        "issue_date": issued, "due_date": due, "total": total, "open_amount": open_,
        "memo": memo, "disputed": disputed, "promise_to_pay_date": promise, "dunning_level": level,
        "version": version, "modified_at": modified, "deleted": "",
    }  # fmt: skip


INVOICES: list[dict[str, str]] = [
    _invoice("1001", "101", "Paid", "USD", "2024-01-05", "2024-02-04", "1250.00", "0.00",
             "2024-02-02T10:00:00-08:00", memo="January coffee beans", version="3"),
    _invoice("1002", "101", "Open", "USD", "2024-02-05", "2024-03-06", "1840.50", "1840.50",
             "2024-02-05T10:00:00-08:00", memo="February coffee beans and filters"),
    _invoice("1003", "102", "Partially Paid", "USD", "2024-01-20", "2024-02-04", "9920.00", "4920.00",
             "2024-02-20T14:10:00+00:00", memo="Copper fittings, order 7731", level="1", version="4"),
    _invoice("1004", "102", "Open", "USD", "2024-02-28", "2024-03-14", "2500.00", "2500.00",
             "2024-02-28T09:00:00+00:00"),
    _invoice("1005", "103", "Open", "EUR", "2024-02-10", "2024-02-24", "2310.00", "2310.00",
             "2024-02-26T08:30:00+01:00", memo="Mehl und Hefe, Februar", level="1", version="2"),
    _invoice("1006", "104", "Paid", "CAD", "2024-01-15", "2024-02-14", "6400.00", "0.00",
             "2024-02-12T12:00:00-05:00", version="2"),
    _invoice("1007", "105", "Open", "USD", "2023-12-01", "2024-01-15", "4150.00", "4150.00",
             "2024-02-29T16:45:00-06:00", memo="Sterilisation supplies Q4", level="2", version="5"),
    _invoice("1008", "105", "Open", "USD", "2024-02-15", "2024-03-31", "5500.00", "5500.00",
             "2024-03-01T08:00:00-06:00", disputed="yes", memo="Disputed: 3 cartons damaged"),
    _invoice("1009", "106", "Open", "GBP", "2024-02-01", "2024-03-02", "3275.40", "3275.40",
             "2024-03-02T09:00:00+00:00", promise="2024-03-15", version="2"),
    _invoice("1010", "107", "Void", "USD", "2024-01-10", "2024-01-10", "890.00", "0.00",
             "2024-01-11T08:00:00-08:00", memo="Voided: duplicate of 1011", version="2"),
    _invoice("1011", "108", "Open", "USD", "2024-02-20", "2024-03-21", "480.00", "480.00",
             "2024-03-03T13:00:00-07:00"),
    _invoice("1012", "102", "Open", "USD", "2024-03-01", "2024-03-16", "0.00", "0.00",
             "2024-03-03T13:00:00-07:00", memo="No-charge warranty replacement"),
]  # fmt: skip

CREDIT_MEMOS: list[dict[str, str]] = [
    {"id": "2001", "number": "CM-2001", "customer_id": "105", "status": "Open", "currency": "USD",
     "issue_date": "2024-03-02", "total": "350.00", "open_amount": "350.00", "applies_to_invoice_id": "1008",
     "allocations": "", "version": "1", "modified_at": "2024-03-02T11:00:00-06:00", "deleted": ""},
    {"id": "2002", "number": "CM-2002", "customer_id": "102", "status": "Paid", "currency": "USD",
     "issue_date": "2024-02-10", "total": "120.00", "open_amount": "0.00", "applies_to_invoice_id": "1003",
     "allocations": "1003=120.00@2024-02-10", "version": "2", "modified_at": "2024-02-10T15:30:00+00:00",
     "deleted": ""},
]  # fmt: skip

PAYMENTS: list[dict[str, str]] = [
    {"id": "3001", "customer_id": "101", "status": "Applied", "date": "2024-02-01", "amount": "1250.00",
     "currency": "USD", "unapplied_amount": "0.00", "reference": "INV-1001",
     "payer_name": "Blue Fern Cafe LLC",
     "method": "ACH", "allocations": "1001=1250.00", "version": "1",
     "modified_at": "2024-02-02T10:00:00-08:00", "deleted": ""},
    {"id": "3002", "customer_id": "102", "status": "Applied", "date": "2024-02-20", "amount": "4880.00",
     "currency": "USD", "unapplied_amount": "0.00", "reference": "Check 20417",
     "payer_name": "Northwind Plumbing",
     "method": "Check", "allocations": "1003=4880.00", "version": "1",
     "modified_at": "2024-02-20T14:10:00+00:00", "deleted": ""},
    {"id": "3003", "customer_id": "104", "status": "Applied", "date": "2024-02-12", "amount": "6400.00",
     "currency": "CAD", "unapplied_amount": "0.00", "reference": "EFT MAPLE OAK", "payer_name": "Maple & Oak",
     "method": "EFT", "allocations": "1006=6400.00", "version": "2",
     "modified_at": "2024-02-12T12:00:00-05:00", "deleted": ""},
    {"id": "3004", "customer_id": "", "status": "Unapplied", "date": "2024-03-04", "amount": "2310.00",
     "currency": "EUR", "unapplied_amount": "2310.00", "reference": "RE INV-1005 KESSLER",
     "payer_name": "Kessler Baeckerei", "method": "SEPA", "allocations": "", "version": "1",
     "modified_at": "2024-03-04T09:12:00+01:00", "deleted": ""},
    {"id": "3005", "customer_id": "106", "status": "Unapplied", "date": "2024-03-05", "amount": "1500.00",
     "currency": "GBP", "unapplied_amount": "1500.00", "reference": "ATLAS PART PAYMENT",
     "payer_name": "Atlas Freight Ltd", "method": "BACS", "allocations": "", "version": "1",
     "modified_at": "2024-03-05T10:00:00+00:00", "deleted": ""},
]  # fmt: skip

SAMPLE: dict[str, tuple[list[str], list[dict[str, str]]]] = {
    "customers.csv": (CUSTOMER_COLUMNS, CUSTOMERS),
    "invoices.csv": (INVOICE_COLUMNS, INVOICES),
    "credit_memos.csv": (CREDIT_MEMO_COLUMNS, CREDIT_MEMOS),
    "payments.csv": (PAYMENT_COLUMNS, PAYMENTS),
}


def write_csv(
    path: Path, columns: Sequence[str], rows: Sequence[Mapping[str, str]], *, delimiter: str = ","
) -> Path:
    """Write ``rows`` to ``path`` with ``columns`` as the header (missing cells stay empty)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), delimiter=delimiter, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_sample_exports(folder: Path, *, sort: bool = True) -> Path:
    """Write the four sample exports into ``folder`` (created if needed) and return it.

    Args:
        folder: where the files go.
        sort: list rows by (modified_at, id) as an ERP's "changed since" export does; False keeps
            the order above (by id), which the connector reads as an unsorted export.
    """
    from connectors.csv.connector import _id_order, parse_timestamp

    folder.mkdir(parents=True, exist_ok=True)
    for name, (columns, rows) in SAMPLE.items():
        ordered = (
            sorted(rows, key=lambda r: (parse_timestamp(r["modified_at"]), _id_order(r["id"])))
            if sort
            else rows
        )
        write_csv(folder / name, columns, ordered)
    return folder


def edit_rows(
    path: Path,
    ids: Sequence[str],
    change: Mapping[str, str] | Callable[[dict[str, str]], Mapping[str, str]],
    *,
    id_column: str = "id",
    delimiter: str = ",",
) -> list[str]:
    """Change rows of an export in place, as the ERP would when someone edits a record.

    Args:
        path: the export.
        ids: the ids of the rows to change.
        change: new cell values, or a function of the row returning them.
        id_column: the column holding the id.
        delimiter: the file's field separator.

    Returns:
        the ids that were found and changed.
    """
    wanted = set(ids)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    changed: list[str] = []
    for row in rows:
        if row.get(id_column) in wanted:
            updates = change(row) if callable(change) else change
            for column in updates:
                if column not in columns:
                    columns.append(column)
            row.update(updates)
            changed.append(row[id_column])
    write_csv(path, columns, rows, delimiter=delimiter)
    return changed
