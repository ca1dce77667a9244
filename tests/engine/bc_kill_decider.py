"""The Business Central write-backs of the kill test over HTTP (``http_kill_target``).

Every 50th invoice by document number that still owes 10.00 gets both of BC's writes: a
collection status with a dunning level (a PATCH with ``If-Match`` of the extension's ledger entry,
by ``$batch``) and a payment of 10.00 (a customer payment journal line carrying the key's marker
in ``externalDocumentNumber``, then the journal posted).
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
    Operation,
    PaymentApplication,
    Stream,
    TargetType,
)

EVERY = 50
PAYMENT = Decimal("10.00")
DAY = date(2026, 11, 2)


def chosen(invoice: Invoice) -> bool:
    number = invoice.number or ""
    return number.isdigit() and int(number) % EVERY == 0 and invoice.open_amount >= PAYMENT


class RemindAndPayBcInvoices:
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
                reference=f"kill-test {rec.number}",
                allocations=[
                    Allocation(target_type=TargetType.INVOICE, target_id=rec.remote_id, amount=PAYMENT)
                ],
            )
