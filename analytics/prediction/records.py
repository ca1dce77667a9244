"""The prediction's columns read from canonical records (what the state store holds).

A paid invoice's payment day is the day the last payment was applied to it (the allocation's
applied date, else the payment's date); a paid invoice no payment names has no known payment day
and teaches nothing, so it is left out. An open invoice is predicted on its open amount.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from analytics.prediction.book import OPEN, Book
from mapping.models import DocumentStatus, Invoice, Payment, TargetType

__all__ = ["BookBuilder", "books_from_records"]

_OPEN_STATUSES = (DocumentStatus.OPEN, DocumentStatus.PARTIALLY_PAID)


@dataclass
class BookBuilder:
    """Collects invoices and payments in any order; ``books()`` gives the paid and the open ones."""

    default_terms_days: int = 30
    _last_paid: dict[str, date] = field(default_factory=dict)
    _invoices: list[tuple[Any, ...]] = field(default_factory=list)

    def add_payment(self, payment: Payment) -> None:
        """Note the day each invoice was last paid on."""
        if payment.deleted:
            return
        for alloc in payment.allocations:
            if alloc.target_type != TargetType.INVOICE or alloc.amount <= 0:
                continue
            paid = alloc.applied_date or payment.date
            known = self._last_paid.get(alloc.target_id)
            if known is None or paid > known:
                self._last_paid[alloc.target_id] = paid

    def add_invoice(self, inv: Invoice) -> None:
        """Keep what the prediction needs of an invoice (not the record itself)."""
        if inv.deleted or inv.status in (DocumentStatus.DRAFT, DocumentStatus.VOID):
            return
        due = inv.due_date or inv.issue_date + timedelta(days=self.default_terms_days)
        is_open = inv.status in _OPEN_STATUSES and inv.open_amount > 0
        amount = float(inv.open_amount if is_open else inv.total)
        promised = inv.promise_to_pay_date.toordinal() if inv.promise_to_pay_date else OPEN
        self._invoices.append(
            (
                inv.remote_id,
                inv.customer_remote_id,
                inv.currency,
                amount,
                inv.issue_date,
                due,
                is_open,
                inv.disputed,
                promised,
            )
        )

    def books(self) -> tuple[Book, Book]:
        """The paid invoices (with a known payment day) and the open ones."""
        paid: dict[str, list[Any]] = {k: [] for k in _COLUMNS}
        still: dict[str, list[Any]] = {k: [] for k in _COLUMNS}
        for rid, cust, cur, amount, issue, due, is_open, disputed, promised in self._invoices:
            if is_open:
                target, day = still, OPEN
            else:
                found = self._last_paid.get(rid)
                if found is None:
                    continue
                target, day = paid, found.toordinal()
            target["invoice_id"].append(rid)
            target["customer_id"].append(cust)
            target["currency"].append(cur)
            target["amount"].append(amount)
            target["issue"].append(issue.toordinal())
            target["due"].append(due.toordinal())
            target["paid"].append(day)
            target["disputed"].append(disputed)
            target["promised"].append(promised)
        return Book.from_lists(paid), Book.from_lists(still)


_COLUMNS = ("invoice_id", "customer_id", "currency", "amount", "issue", "due", "paid", "disputed", "promised")


def books_from_records(
    invoices: Iterable[Invoice], payments: Iterable[Payment], *, default_terms_days: int = 30
) -> tuple[Book, Book]:
    """The paid invoices (history) and the open ones, from canonical records."""
    builder = BookBuilder(default_terms_days)
    for payment in payments:
        builder.add_payment(payment)
    for inv in invoices:
        builder.add_invoice(inv)
    return builder.books()
