"""B1's database tables the fast read uses: each column with the Service Layer property it is.

The ODBC read selects these columns and turns every row into the entity the Service Layer would
have answered (property names, enum names, dates as ``…T00:00:00Z``, the time of day as
``HH:MM:SS``), so both reads share one translation into canonical records. Column names and the
property each one is come from SAP's mapping-info metadata (``specs/sap-business-one``,
``db-tables-…DERIVED.json``); the enum codes from the same metadata's enum members; the fidelity
tests check every one. Two columns are not in that file and come from B1's documented table
layout: ``PaidToDate`` of OINV/ORIN (SAP's 2019 metadata has no such property on Document) and
``DocNum`` of RCT2 (the incoming payment's DocEntry, the table's link to ORCT).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from mapping.models import Stream

__all__ = ["ENUM_CODES", "LINES", "ROW_DIGEST", "TABLES", "Table", "as_entity", "time_code"]


@dataclass(frozen=True)
class Table:
    """One table a stream reads: its name, key column and columns (column → Service Layer property)."""

    name: str
    key: str
    columns: dict[str, str]
    user_tables: tuple[str, ...] = ()

    def column_of(self, prop: str) -> str:
        return next(c for c, p in self.columns.items() if p == prop)


_PARTNER = {
    "CardCode": "CardCode",
    "CardName": "CardName",
    "CardType": "CardType",
    "E_Mail": "EmailAddress",
    "Phone1": "Phone1",
    "Cellular": "Cellular",
    "Country": "Country",
    "Currency": "Currency",
    "CreditLine": "CreditLimit",
    "Balance": "CurrentAccountBalance",
    "validFor": "Valid",
    "frozenFor": "Frozen",
    "BlockDunn": "BlockDunning",
    "UpdateDate": "UpdateDate",
    "UpdateTS": "UpdateTime",
}
_DOCUMENT = {
    "DocEntry": "DocEntry",
    "DocNum": "DocNum",
    "NumAtCard": "NumAtCard",
    "CardCode": "CardCode",
    "CardName": "CardName",
    "DocCur": "DocCurrency",
    "DocDate": "DocDate",
    "DocDueDate": "DocDueDate",
    "Comments": "Comments",
    "DocTotal": "DocTotal",
    "PaidToDate": "PaidToDate",
    "DocStatus": "DocumentStatus",
    "CANCELED": "Cancelled",
    "BlockDunn": "BlockDunning",
    "UpdateDate": "UpdateDate",
    "UpdateTS": "UpdateTime",
}
_PAYMENT = {
    "DocEntry": "DocEntry",
    "DocNum": "DocNum",
    "DocType": "DocType",
    "CardCode": "CardCode",
    "CardName": "CardName",
    "DocCurr": "DocCurrency",
    "DocDate": "DocDate",
    "TrsfrRef": "TransferReference",
    "CounterRef": "CounterReference",
    "Ref1": "Reference1",
    "CashSum": "CashSum",
    "TrsfrSum": "TransferSum",
    "Canceled": "Cancelled",
}
#: Per stream: the table, and the tables whose user-defined fields (``U_…``) it reads when present.
TABLES: dict[Stream, Table] = {
    Stream.CUSTOMERS: Table("OCRD", "CardCode", _PARTNER, ("OCRD",)),
    Stream.INVOICES: Table("OINV", "DocEntry", _DOCUMENT, ("OINV",)),
    Stream.CREDIT_MEMOS: Table("ORIN", "DocEntry", _DOCUMENT, ("ORIN",)),
    Stream.PAYMENTS: Table("ORCT", "DocEntry", _PAYMENT, ("ORCT",)),
}
#: The invoices an incoming payment pays (RCT2), read by the payment's DocEntry (RCT2.DocNum).
LINES = Table(
    "RCT2",
    "DocNum",
    {
        "DocNum": "",
        "InvoiceId": "LineNum",
        "DocEntry": "DocEntry",
        "SumApplied": "SumApplied",
        "InvType": "InvoiceType",
        "DcntSum": "TotalDiscount",
    },
)
#: Service Layer enum type of a column → database code → enum member name.
ENUM_TYPES: dict[str, str] = {
    "CardType": "BoCardTypes",
    "validFor": "BoYesNoEnum",
    "frozenFor": "BoYesNoEnum",
    "BlockDunn": "BoYesNoEnum",
    "DocStatus": "BoStatus",
    "CANCELED": "BoYesNoEnum",
    "Canceled": "BoYesNoEnum",
    "DocType": "BoRcptTypes",
    "InvType": "BoRcptInvTypes",
}
ENUM_CODES: dict[str, dict[str, str]] = {
    "BoCardTypes": {"C": "cCustomer", "S": "cSupplier", "L": "cLid"},
    "BoYesNoEnum": {"N": "tNO", "Y": "tYES"},
    "BoStatus": {"O": "bost_Open", "C": "bost_Close", "P": "bost_Paid", "D": "bost_Delivered"},
    "BoRcptTypes": {"C": "rCustomer", "A": "rAccount", "S": "rSupplier"},
    "BoRcptInvTypes": {"13": "it_Invoice", "14": "it_CredItnote"},
}
_DATES = {"UpdateDate", "DocDate", "DocDueDate"}


def time_code(clock: str) -> int:
    """``"14:35:12"`` → 143512, the way B1 keeps a time of day (UpdateTS) in its tables."""
    hours, minutes, seconds = [*clock.split(":"), "0", "0"][:3]
    return int(hours) * 10_000 + int(minutes) * 100 + int(float(seconds))


def _clock(value: Any) -> str | None:
    """B1's UpdateTS (an integer HHMMSS, or a time on HANA) as the Service Layer's ``HH:MM:SS``."""
    if value is None:
        return None
    if isinstance(value, time | datetime):
        return value.strftime("%H:%M:%S")
    number = int(value)
    return f"{number // 10_000:02d}:{number // 100 % 100:02d}:{number % 100:02d}"


def _day(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%dT00:00:00Z")
    return value


#: The annotation a row read from the tables carries instead of an ETag: a digest of its values.
ROW_DIGEST = "@arbridge.row"


def as_entity(table: Table, columns: list[str], row: Any) -> dict[str, Any]:
    """One database row as the Service Layer's JSON entity of it (user-defined fields as they are).

    The entity carries a digest of the row's values under ``ROW_DIGEST``: B1 stamps a change to
    the second, and a record changed twice within one second is told apart by its values only.
    """
    entity: dict[str, Any] = {
        ROW_DIGEST: hashlib.sha1(repr(tuple(row)).encode(), usedforsecurity=False).hexdigest()[:20]
    }
    for column, value in zip(columns, row, strict=True):
        prop = table.columns.get(column, column)
        if not prop:
            continue
        if isinstance(value, str):
            value = value.rstrip()
        if column in ENUM_TYPES and value is not None:
            codes = ENUM_CODES[ENUM_TYPES[column]]
            value = codes.get(str(value), str(value))
        elif column == "UpdateTS":
            value = _clock(value)
        elif column in _DATES or (column.startswith("U_") and isinstance(value, datetime)):
            value = _day(value)
        elif isinstance(value, Decimal):
            # The Service Layer answers amounts as JSON numbers: the same value either way.
            value = float(value)
        entity[prop] = value
    return entity
