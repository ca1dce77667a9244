"""The SAP S/4HANA write-backs of the kill test over HTTP (``http_kill_target``).

Every 50th open invoice by document number gets both of SAP's writes: a dunning level on its
customer's dunning record (A_CustomerDunning, by ``$batch``), a payment of 10.00 (a SOAP
journal entry whose message ID and document reference carry the idempotency key) and a note on
the customer (a line of its long text A_CustomerText, marked with the key).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

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


def chosen(invoice: Invoice) -> bool:
    return int(invoice.remote_id.split("/")[2]) % EVERY == 0 and invoice.open_amount >= PAYMENT


class RemindAndPaySapInvoices:
    name = "remind-and-pay"

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        for rec in ctx.store.iter_records(ctx.connection, Stream.INVOICES):
            assert isinstance(rec, Invoice)
            if not chosen(rec):
                continue
            yield CollectionStatusUpdate(
                target_type=TargetType.INVOICE,
                target_id=rec.remote_id,
                collection_status=CollectionStatus.REMINDED,
                dunning_level=2,
                decided_on=DAY,
            )
            yield PaymentApplication(
                target_type=TargetType.CUSTOMER,
                target_id=rec.customer_remote_id,
                customer_remote_id=rec.customer_remote_id,
                amount=PAYMENT,
                currency=rec.currency,
                date=DAY,
                reference=f"kill-test {rec.remote_id}"[:50],
                allocations=[
                    Allocation(target_type=TargetType.INVOICE, target_id=rec.remote_id, amount=PAYMENT)
                ],
            )
            yield Note(
                target_type=TargetType.CUSTOMER,
                target_id=rec.customer_remote_id,
                text=f"kill-test: {PAYMENT} received for {rec.remote_id}",
                decided_on=DAY,
            )
