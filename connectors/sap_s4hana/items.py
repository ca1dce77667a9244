"""Accounting document items → canonical invoices, credit memos and payments.

One customer line item (FinancialAccountType ``D``) of A_OperationalAcctgDocItemCube is one
canonical document:

- a **debit** item (DebitCreditCode ``S``) is an invoice: an SD invoice (RV), an FI invoice (DR), or
  the residual item a partial clearing left in a payment document;
- a **credit** item of a payment document type (DZ by default) is a payment; open and without an
  invoice reference it is a payment on account (unapplied); a partial payment names its invoice
  in InvoiceReference and is applied to it;
- any other credit item (DG, RV credit memos) is a credit memo.

Amounts are signed in SAP (credits negative); canonical totals are positive. A cleared item is
settled (paid, applied). An open invoice's open amount is its amount less the open partial
payments that point at it.

SAP never deletes a posted document: a mistaken one is reversed (FB08), which clears it with a
reversal document. Both the reversed item (IsReversed) and the reversal's item (IsReversal) are
void: they arrive ``deleted`` with status void.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from mapping.models import (
    Allocation,
    DocumentStatus,
    PaymentStatus,
    Stream,
    TargetType,
)

__all__ = [
    "ITEM_FIELDS",
    "ItemKey",
    "amount",
    "is_cleared",
    "is_reversed",
    "item_extras",
    "item_id",
    "modified_at",
    "normalise",
    "parse_item_id",
    "stream_of",
]

ItemKey = tuple[str, str, str, str]

#: What the connector selects from the cube: every property it maps or reasons with.
ITEM_FIELDS = [
    "CompanyCode",
    "FiscalYear",
    "AccountingDocument",
    "AccountingDocumentItem",
    "Customer",
    "FinancialAccountType",
    "DebitCreditCode",
    "AccountingDocumentType",
    "AmountInTransactionCurrency",
    "TransactionCurrency",
    "PostingDate",
    "DocumentDate",
    "NetDueDate",
    "AccountingDocumentCreationDate",
    "LastChangeDate",
    "IsCleared",
    "ClearingAccountingDocument",
    "ClearingDate",
    "ClearingCreationDate",
    "ClearingDocFiscalYear",
    "InvoiceReference",
    "InvoiceReferenceFiscalYear",
    "InvoiceItemReference",
    "AssignmentReference",
    "DocumentReferenceID",
    "PaymentReference",
    "BillingDocument",
    "DocumentItemText",
    "DunningLevel",
    "DunningBlockingReason",
    "LastDunningDate",
    "PaymentMethod",
    "SpecialGLCode",
    "IsReversal",
    "IsReversed",
    "ReverseDocument",
]
_DATE_FIELDS = {
    "PostingDate",
    "DocumentDate",
    "NetDueDate",
    "AccountingDocumentCreationDate",
    "LastChangeDate",
    "ClearingDate",
    "ClearingCreationDate",
    "LastDunningDate",
    "CreationDate",
    "LastDunnedOn",
    "LegDunningProcedureOn",
    "InterestCalculationDate",
}


def normalise(row: Mapping[str, Any]) -> dict[str, Any]:
    """pyodata's values as plain JSON-able ones: SAP dates as ``YYYY-MM-DD``, amounts as strings."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, datetime):
            value = value.date().isoformat() if name in _DATE_FIELDS else value.isoformat()
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        out[name] = value
    return out


def item_id(row: Mapping[str, Any]) -> str:
    """The canonical remote id of an item: ``CompanyCode/FiscalYear/AccountingDocument/Item/Customer``.

    The customer is part of the id so a write-back knows the customer's dunning record without
    reading the item first (an item's customer never changes once posted).
    """
    return "/".join(
        str(row[k])
        for k in ("CompanyCode", "FiscalYear", "AccountingDocument", "AccountingDocumentItem", "Customer")
    )


def parse_item_id(remote_id: str) -> ItemKey | None:
    """The cube key of an item id (its first four parts); None when it is not one."""
    parts = remote_id.split("/", 4)
    if len(parts) < 4 or not all(parts[:4]):
        return None
    return parts[0], parts[1], parts[2], parts[3]


def customer_of(remote_id: str) -> str | None:
    parts = remote_id.split("/", 4)
    return parts[4] if len(parts) == 5 and parts[4] else None


def amount(row: Mapping[str, Any]) -> Decimal:
    value = row.get("AmountInTransactionCurrency")
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def is_reversed(row: Mapping[str, Any]) -> bool:
    """Whether the item is void: reversed, or the reversal of another item."""
    return bool(row.get("IsReversed")) or bool(row.get("IsReversal"))


def is_cleared(row: Mapping[str, Any]) -> bool:
    return bool(row.get("IsCleared")) or bool(row.get("ClearingAccountingDocument"))


def stream_of(row: Mapping[str, Any], payment_types: Iterable[str]) -> Stream:
    """Which canonical stream a customer item belongs to (see the module docstring)."""
    if row.get("DebitCreditCode") == "S" or (row.get("DebitCreditCode") is None and amount(row) > 0):
        return Stream.INVOICES
    if row.get("AccountingDocumentType") in set(payment_types):
        return Stream.PAYMENTS
    return Stream.CREDIT_MEMOS


def invoice_key_of(row: Mapping[str, Any]) -> str | None:
    """The remote id of the invoice an item refers to (InvoiceReference), if it names one."""
    if not row.get("InvoiceReference"):
        return None
    return "/".join(
        str(v)
        for v in (
            row.get("CompanyCode"),
            row.get("InvoiceReferenceFiscalYear") or row.get("FiscalYear"),
            row.get("InvoiceReference"),
            row.get("InvoiceItemReference") or "001",
            row.get("Customer"),
        )
    )


def modified_at(row: Mapping[str, Any]) -> datetime:
    """The newest date SAP gives the item (entered, changed, cleared), at midnight UTC."""
    days = [
        str(row[k])
        for k in ("AccountingDocumentCreationDate", "LastChangeDate", "ClearingCreationDate", "ClearingDate")
        if row.get(k)
    ]
    newest = max(days) if days else "2000-01-01"
    return datetime.fromisoformat(newest[:10]).replace(tzinfo=UTC)


def item_extras(
    stream: Stream, row: Mapping[str, Any], partial_payments: Mapping[str, Decimal]
) -> dict[str, Any]:
    """The computed canonical fields of an item of ``stream`` (amounts, status, allocations).

    Args:
        stream: the item's stream (``stream_of``).
        row: the item, normalised.
        partial_payments: open partial payments per invoice remote id (their total, positive).
    """
    rid = item_id(row)
    total = abs(amount(row))
    cleared = is_cleared(row)
    void = is_reversed(row)
    extra: dict[str, Any] = {
        "remote_id": rid,
        "remote_modified_at": modified_at(row),
        "raw_status": "reversed" if void else "cleared" if cleared else "open",
        "deleted": void,
    }
    if void:
        if stream is Stream.PAYMENTS:
            extra.update(amount=total, unapplied_amount=Decimal(0), status=PaymentStatus.VOID)
        else:
            extra.update(total=total, open_amount=Decimal(0), status=DocumentStatus.VOID)
        return extra
    if stream is Stream.INVOICES:
        paid = Decimal(0) if cleared else min(total, partial_payments.get(rid, Decimal(0)))
        open_amount = Decimal(0) if cleared else total - paid
        if cleared:
            status = DocumentStatus.PAID
        elif paid > 0:
            status = DocumentStatus.PARTIALLY_PAID
        else:
            status = DocumentStatus.OPEN
        level = str(row.get("DunningLevel") or "").strip()
        extra.update(
            total=total,
            open_amount=open_amount,
            status=status,
            dunning_block=bool(row.get("DunningBlockingReason")),
            dunning_level=int(level) if level.isdigit() else None,
        )
    elif stream is Stream.CREDIT_MEMOS:
        extra.update(
            total=total,
            open_amount=Decimal(0) if cleared else total,
            status=DocumentStatus.PAID if cleared else DocumentStatus.OPEN,
            applies_to_invoice_id=invoice_key_of(row),
        )
    else:
        invoice = invoice_key_of(row)
        allocations: list[Allocation] = []
        if invoice is not None:
            allocations.append(Allocation(target_type=TargetType.INVOICE, target_id=invoice, amount=total))
        applied = cleared or invoice is not None
        extra.update(
            amount=total,
            unapplied_amount=Decimal(0) if applied else total,
            status=PaymentStatus.APPLIED if applied else PaymentStatus.UNAPPLIED,
            allocations=allocations,
        )
    return extra
