"""The write-backs the kill tests decide: one shape for every ERP, differing in which invoices and fields.

A kill test's decider reads the synced invoices and gives some of them a collection status, a
payment of 10.00 and a note. Each choice depends only on what the sync cannot change (numbers,
customers, due dates), so a decision made again after a kill is the same operation with the same
key, and the ERP must end up with each write once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from engine import DecisionContext
from mapping import (
    Allocation,
    CollectionStatus,
    CollectionStatusUpdate,
    Invoice,
    Note,
    Operation,
    PaymentApplication,
    Stream,
    TargetType,
)

EVERY = 50
PAYMENT = Decimal("10.00")
DAY = date(2026, 11, 2)

InvoiceWrites = Callable[[Invoice], Iterable[Operation]]


def reminder(invoice: Invoice, **fields: Any) -> CollectionStatusUpdate:
    """The invoice reminded at dunning level 2, with the ERP's own extra ``fields``."""
    return CollectionStatusUpdate(
        target_type=TargetType.INVOICE,
        target_id=invoice.remote_id,
        collection_status=CollectionStatus.REMINDED,
        dunning_level=2,
        **fields,
    )


def payment(invoice: Invoice, reference: str) -> PaymentApplication:
    """A payment of 10.00 from the invoice's customer, applied to the invoice."""
    return PaymentApplication(
        target_type=TargetType.CUSTOMER,
        target_id=invoice.customer_remote_id,
        customer_remote_id=invoice.customer_remote_id,
        amount=PAYMENT,
        currency=invoice.currency,
        date=DAY,
        reference=reference,
        allocations=[Allocation(target_type=TargetType.INVOICE, target_id=invoice.remote_id, amount=PAYMENT)],
    )


def note(invoice: Invoice, text: str, on: TargetType = TargetType.CUSTOMER) -> Note:
    """A note about the invoice, on its customer (or ``on`` the invoice itself)."""
    target_id = invoice.customer_remote_id if on is TargetType.CUSTOMER else invoice.remote_id
    return Note(target_type=on, target_id=target_id, text=text, decided_on=DAY)


def nothing_more(ctx: DecisionContext) -> Iterable[Operation]:
    return ()


@dataclass(frozen=True)
class KillDecider:
    """Gives every synced invoice the writes ``writes`` picks for it; then whatever ``then`` adds."""

    name: str
    writes: InvoiceWrites
    then: Callable[[DecisionContext], Iterable[Operation]] = nothing_more

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        for rec in ctx.store.iter_records(ctx.connection, Stream.INVOICES):
            assert isinstance(rec, Invoice)
            yield from self.writes(rec)
        yield from self.then(ctx)
