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
settled (paid, applied). An open item's open amount is its amount less what open items settle
of it (partial payments that name it; the lines of arbridge's postings, see ``applied.py``).

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
    "ItemError",
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


class ItemError(ValueError):
    """An item property the connector computes with is unusable; ``field`` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


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
    if value in (None, ""):
        return Decimal(0)
    try:
        out = Decimal(str(value))
    except ArithmeticError:
        raise ItemError("AmountInTransactionCurrency", f"not an amount: {value!r}") from None
    if not out.is_finite():
        raise ItemError("AmountInTransactionCurrency", f"not an amount: {value!r}")
    return out


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
    days: list[datetime] = []
    for name in ("AccountingDocumentCreationDate", "LastChangeDate", "ClearingCreationDate", "ClearingDate"):
        if row.get(name):
            try:
                days.append(datetime.fromisoformat(str(row[name])[:10]).replace(tzinfo=UTC))
            except ValueError:
                raise ItemError(name, f"not a date: {row[name]!r}") from None
    return max(days) if days else datetime(2000, 1, 1, tzinfo=UTC)


def item_extras(
    stream: Stream,
    row: Mapping[str, Any],
    settled: Mapping[str, Decimal],
) -> dict[str, Any]:
    """The computed canonical fields of an item of ``stream`` (amounts, status, allocations).

    Args:
        stream: the item's stream (``stream_of``).
        row: the item, normalised.
        settled: per remote id, what open items settle of it (SAP's partial payments naming an
            invoice, the lines of arbridge's postings; ``applied.Applications``), positive.
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
    # What open items settle of this one, as far as it is still open.
    paid = Decimal(0) if cleared else min(total, settled.get(rid, Decimal(0)))
    if stream is Stream.INVOICES:
        level = str(row.get("DunningLevel") or "").strip()
        extra.update(
            total=total,
            open_amount=Decimal(0) if cleared else total - paid,
            status=_document_status(cleared, total, paid),
            dunning_block=bool(row.get("DunningBlockingReason")),
            dunning_level=int(level) if level.isdigit() else None,
        )
    elif stream is Stream.CREDIT_MEMOS:
        extra.update(
            total=total,
            open_amount=Decimal(0) if cleared else total - paid,
            status=_document_status(cleared, total, paid),
            applies_to_invoice_id=invoice_key_of(row),
        )
    else:
        invoice = invoice_key_of(row)
        allocations: list[Allocation] = []
        if invoice is not None:
            allocations.append(Allocation(target_type=TargetType.INVOICE, target_id=invoice, amount=total))
        # An open payment on account has less left once arbridge moved some of it to invoices.
        unapplied = Decimal(0) if cleared or invoice is not None else total - paid
        if unapplied == 0:
            status = PaymentStatus.APPLIED
        elif unapplied < total:
            status = PaymentStatus.PARTIALLY_APPLIED
        else:
            status = PaymentStatus.UNAPPLIED
        extra.update(amount=total, unapplied_amount=unapplied, status=status, allocations=allocations)
    return extra


def _document_status(cleared: bool, total: Decimal, paid: Decimal) -> DocumentStatus:
    if cleared or (total > 0 and paid >= total):
        return DocumentStatus.PAID
    if paid > 0:
        return DocumentStatus.PARTIALLY_PAID
    return DocumentStatus.OPEN
