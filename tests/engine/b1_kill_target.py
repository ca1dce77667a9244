"""An SAP Business One sync meant to be killed: the real connector against the Service Layer sandbox.

Run as ``python -m tests.engine.b1_kill_target CONNECTION STATE_URL SETTINGS_JSON``. Every 50th
invoice by DocEntry (50, 100, …) gets a collection status in its user-defined fields (a PATCH with
If-Match); every 50th from 25 (25, 75, …) with 10.00 open gets an incoming payment of 10.00 whose
outbox key goes in ``U_ARB_OutboxKey``; every 50th from 10 (10, 60, …) gets a note, an activity
of its partner linked to it, with the outbox key in the activity's ``U_ARB_OutboxKey``. Status and
payment never meet on one invoice, so each write's If-Match is stale only through that write
itself. The parent test kills this process with SIGKILL, then runs it again.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from mapping import Invoice, Operation, TargetType
from tests.engine.kill_writes import DAY, EVERY, PAYMENT, KillDecider, note, payment, reminder
from tests.engine.killable_sync import read_settings, sync_once

PAID_AT = 25
NOTED_AT = 10


def remind_note_or_pay(invoice: Invoice) -> Iterable[Operation]:
    place = int(invoice.remote_id) % EVERY
    if place == 0:
        yield reminder(invoice, next_action_date=DAY, decided_on=DAY)
    elif place == NOTED_AT:
        text = f"kill-test call about invoice {invoice.remote_id}: promised by {DAY}"
        yield note(invoice, text, on=TargetType.INVOICE)
    elif place == PAID_AT and invoice.open_amount >= PAYMENT:
        yield payment(invoice, reference=f"kill-test {invoice.remote_id}")


def main(connection: str, state_url: str, settings_file: str) -> None:
    decider = KillDecider("remind-and-pay", remind_note_or_pay)
    sync_once("sap-business-one", connection, state_url, read_settings(settings_file), [decider], pages=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
