"""The SAP S/4HANA write-backs of the kill test over HTTP (``http_kill_target``).

Every 50th open invoice by document number gets both of SAP's writes: a dunning level on its
customer's dunning record (A_CustomerDunning, by ``$batch``), a payment of 10.00 (a SOAP
journal entry whose message ID and document reference carry the idempotency key) and a note on
the customer (a line of its long text A_CustomerText, marked with the key).
"""

from __future__ import annotations

from collections.abc import Iterable

from mapping import Invoice, Operation
from tests.engine.kill_writes import DAY, EVERY, PAYMENT, KillDecider, note, payment, reminder


def chosen(invoice: Invoice) -> bool:
    return int(invoice.remote_id.split("/")[2]) % EVERY == 0 and invoice.open_amount >= PAYMENT


def remind_and_pay(invoice: Invoice) -> Iterable[Operation]:
    if chosen(invoice):
        yield reminder(invoice, decided_on=DAY)
        yield payment(invoice, reference=f"kill-test {invoice.remote_id}"[:50])
        yield note(invoice, f"kill-test: {PAYMENT} received for {invoice.remote_id}")


REMIND_AND_PAY_SAP_INVOICES = KillDecider("remind-and-pay", remind_and_pay)
