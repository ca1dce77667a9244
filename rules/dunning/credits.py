"""A customer's net position: the money it has already sent or been credited, per currency.

Unapplied payments (cash on account) and open credit memos not raised against one open invoice
reduce what a customer owes. A reminder lists them as credit lines and asks only for the rest;
a customer whose credits cover its overdue invoices is not reminded at all. A credit memo raised
against one open invoice (``applies_to_invoice_id``) is not a general credit: it pauses that
invoice until it is applied (see the planner).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from mapping.models import CreditMemo, DocumentStatus, Payment, PaymentStatus

__all__ = ["CreditLine", "credit_lines", "is_open_memo", "total_credit"]

_OPEN = (DocumentStatus.OPEN, DocumentStatus.PARTIALLY_PAID)


@dataclass(frozen=True, slots=True)
class CreditLine:
    """Money of the customer's that reduces what it owes in one currency.

    Attributes:
        kind: ``payment`` (received, not yet applied to an invoice) or ``credit_memo``.
        document_id: the ERP's id of the payment or credit memo.
        label: what the customer recognises: the payment's reference or the memo's number.
        date: when it was received or issued.
        amount: how much it reduces the total (positive).
    """

    kind: Literal["payment", "credit_memo"]
    document_id: str
    label: str
    date: date
    amount: Decimal

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values (the amount as a string)."""
        return {
            "kind": self.kind,
            "document_id": self.document_id,
            "label": self.label,
            "date": self.date.isoformat(),
            "amount": str(self.amount),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CreditLine:
        """Read back what :meth:`to_json` wrote."""
        kind = data["kind"]
        if kind not in ("payment", "credit_memo"):
            raise ValueError(f"credit kind: expected payment or credit_memo, got {kind!r}")
        return cls(
            kind,
            str(data["document_id"]),
            str(data["label"]),
            date.fromisoformat(data["date"]),
            Decimal(str(data["amount"])),
        )


def is_open_memo(memo: CreditMemo) -> bool:
    """Whether a credit memo still has credit left."""
    return not memo.deleted and memo.status in _OPEN and memo.open_amount > 0


def credit_lines(
    currency: str,
    memos: Iterable[CreditMemo],
    payments: Iterable[Payment],
    open_invoice_ids: set[str],
) -> list[CreditLine]:
    """The customer's credits in ``currency``, oldest first.

    Args:
        currency: the currency of the reminder.
        memos: the customer's credit memos; open ones count unless raised against an invoice in
            ``open_invoice_ids`` (those pause that invoice instead).
        payments: the customer's payments; their unapplied amounts count.
        open_invoice_ids: the customer's open invoices.

    Returns:
        One line per payment or memo with credit left.
    """
    lines: list[CreditLine] = []
    for memo in memos:
        if memo.currency != currency or not is_open_memo(memo):
            continue
        if memo.applies_to_invoice_id is not None and memo.applies_to_invoice_id in open_invoice_ids:
            continue
        lines.append(
            CreditLine(
                "credit_memo",
                memo.remote_id,
                memo.number or memo.remote_id,
                memo.issue_date,
                memo.open_amount,
            )
        )
    for payment in payments:
        if (
            payment.currency != currency
            or payment.deleted
            or payment.status == PaymentStatus.VOID
            or payment.unapplied_amount <= 0
        ):
            continue
        lines.append(
            CreditLine(
                "payment",
                payment.remote_id,
                payment.reference or payment.remote_id,
                payment.date,
                payment.unapplied_amount,
            )
        )
    return sorted(lines, key=lambda line: (line.date, line.kind, line.document_id))


def total_credit(lines: Iterable[CreditLine]) -> Decimal:
    """The sum of the credit lines."""
    return sum((line.amount for line in lines), Decimal(0))
