"""The Business Central write-backs of the kill test over HTTP (``http_kill_target``).

Every 50th invoice by document number that still owes 10.00 gets both of BC's writes: a
collection status with a dunning level (a PATCH with ``If-Match`` of the extension's ledger entry,
by ``$batch``), a payment of 10.00 (a customer payment journal line carrying the key's marker
in ``externalDocumentNumber``, then the journal posted) and a note on the customer (a comment
line whose code comes from the key). Every fourth unapplied payment of the
seed (``PMU…`` by number) is applied for 1.00 to its customer's newest invoice through the
extension's ``paymentApplications`` (a row keyed by the key's marker): the newest of the
customer's invoices not due ten days ago, which the seed leaves unpaid. Each choice depends only
on what the sync cannot change (numbers, customers, due dates), so a decision made again after a
kill is the same operation with the same key.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from engine import DecisionContext
from mapping import Allocation, Invoice, Operation, Payment, PaymentApplication, Stream, TargetType
from tests.engine.kill_writes import DAY, EVERY, PAYMENT, KillDecider, note, payment, reminder

APPLIED = Decimal("1.00")


def chosen(invoice: Invoice) -> bool:
    number = invoice.number or ""
    return number.isdigit() and int(number) % EVERY == 0 and invoice.open_amount >= PAYMENT


def remind_and_pay(invoice: Invoice) -> Iterable[Operation]:
    if chosen(invoice):
        yield reminder(invoice, decided_on=DAY)
        yield payment(invoice, reference=f"kill-test {invoice.number}")
        yield note(invoice, f"kill-test: {PAYMENT} received for invoice {invoice.number}")


def newest_unpaid_invoices(ctx: DecisionContext) -> dict[str, Invoice]:
    """Per customer, the newest of its invoices the seed leaves unpaid."""
    newest: dict[str, Invoice] = {}
    for rec in ctx.store.iter_records(ctx.connection, Stream.INVOICES):
        assert isinstance(rec, Invoice)
        held = newest.get(rec.customer_remote_id)
        unpaid_by_seed = rec.due_date is not None and rec.due_date > date.today() - timedelta(days=9)
        if unpaid_by_seed and (held is None or str(rec.number) > str(held.number)):
            newest[rec.customer_remote_id] = rec
    return newest


def apply_every_fourth_unapplied_payment(ctx: DecisionContext) -> Iterable[Operation]:
    newest = newest_unpaid_invoices(ctx)
    for paid in ctx.store.iter_records(ctx.connection, Stream.PAYMENTS):
        assert isinstance(paid, Payment)
        number = str(paid.raw.get("documentNumber") or "")
        invoice = newest.get(str(paid.customer_remote_id))
        if not (number.startswith("PMU") and int(number[3:]) % 4 == 0) or invoice is None:
            continue
        yield PaymentApplication(
            target_type=TargetType.PAYMENT,
            target_id=paid.remote_id,
            payment_id=paid.remote_id,
            customer_remote_id=invoice.customer_remote_id,
            amount=APPLIED,
            currency=paid.currency,
            date=DAY,
            allocations=[
                Allocation(target_type=TargetType.INVOICE, target_id=invoice.remote_id, amount=APPLIED)
            ],
        )


REMIND_AND_PAY_BC_INVOICES = KillDecider(
    "remind-and-pay", remind_and_pay, then=apply_every_fourth_unapplied_payment
)
