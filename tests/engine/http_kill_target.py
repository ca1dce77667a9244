"""A sync over HTTP meant to be killed: a real connector against a sandbox ERP on loopback.

Run as ``python -m tests.engine.http_kill_target CONNECTOR CONNECTION STATE_URL SETTINGS_JSON``.
Every 50th invoice gets a write-back: a collection status for QuickBooks (its key reaches the ERP
as the batch ``requestid`` and each item's ``bId``), a payment applying 10.00 for NetSuite (when
that much is open; its key reaches the ERP as the payment's ``externalId``) and a note on the
customer saying so (a user note, whose ``externalId`` also comes from its key). The parent test
kills this process with SIGKILL, then runs it again.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from mapping import Invoice, Operation
from tests.engine.bc_kill_decider import REMIND_AND_PAY_BC_INVOICES
from tests.engine.kill_writes import EVERY, PAYMENT, KillDecider, note, payment, reminder
from tests.engine.killable_sync import read_settings, sync_once
from tests.engine.sap_kill_decider import REMIND_AND_PAY_SAP_INVOICES


def chosen(invoice: Invoice) -> bool:
    return int(invoice.remote_id) % EVERY == 0


def remind(invoice: Invoice) -> Iterable[Operation]:
    if chosen(invoice):
        yield reminder(invoice, base_version=invoice.version)


def pay(invoice: Invoice) -> Iterable[Operation]:
    if chosen(invoice) and invoice.open_amount >= PAYMENT:
        yield payment(invoice, reference=f"kill-test {invoice.remote_id}")
        yield note(invoice, f"kill-test: {PAYMENT} received for invoice {invoice.remote_id}")


DECIDERS = {
    "quickbooks": KillDecider("remind", remind),
    "netsuite": KillDecider("pay", pay),
    "sap-s4hana": REMIND_AND_PAY_SAP_INVOICES,  # a dunning level and a payment: see its module
    "business_central": REMIND_AND_PAY_BC_INVOICES,  # a collection status and a payment
}


def main(kind: str, connection: str, state_url: str, settings_file: str) -> None:
    sync_once(kind, connection, state_url, read_settings(settings_file), [DECIDERS[kind]])


if __name__ == "__main__":
    main(*sys.argv[1:5])
