"""A GP sync meant to be killed: the real connector over ODBC against a GP company in PostgreSQL.

Run as ``python -m tests.engine.gp_kill_target CONNECTION STATE_URL SETTINGS_JSON``. Every 30th invoice
(7, 37, …) gets a payment of 10.00: 5.00 on it and 5.00 on the next invoice of its customer, so each key is a
cash receipt and two applications in one transaction. The client pauses 50 ms between the receipt
and its applications (a slow network), so the parent can kill it there; the parent kills it while
it pulls, during an eConnect call and between receipt and applications, then runs it again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.dynamics_gp.writer import GpWriter
from engine import DecisionContext
from mapping import Allocation, Invoice, Operation, PaymentApplication, Stream, TargetType
from tests.engine.killable_sync import read_settings, sync_once

EVERY = 30
FIRST = 7  # odd numbers: the large seed's payments went to invoices numbered by 20s, these are untouched
PART = Decimal("5.00")
PAYMENT_DATE = date(2026, 11, 2)


def number(invoice_id: str) -> int:
    return int(invoice_id.split(":", 1)[1][3:])


def pairs(customers: int, invoices: int) -> dict[int, int]:
    """Invoice g is paid with invoice g + customers (the same customer in the large seed).

    An invoice may be the second of one pair and the first of another: 10.00 of its 100.00 or more.
    """
    return {g: g + customers for g in range(FIRST, invoices + 1, EVERY) if g + customers <= invoices}


class PayTwoInvoicesOfACustomer:
    name = "pay"

    def __init__(self, customers: int, invoices: int) -> None:
        self.pairs = pairs(customers, invoices)

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        for rec in ctx.store.iter_records(ctx.connection, Stream.INVOICES):
            assert isinstance(rec, Invoice)
            if rec.remote_id.startswith("1:") and number(rec.remote_id) in self.pairs:
                other = f"1:INV{self.pairs[number(rec.remote_id)]:09d}"
                yield PaymentApplication(
                    target_type=TargetType.CUSTOMER,
                    target_id=rec.customer_remote_id,
                    customer_remote_id=rec.customer_remote_id,
                    amount=PART * 2,
                    currency=rec.currency,
                    date=PAYMENT_DATE,
                    reference=f"kill-test {rec.remote_id}",
                    allocations=[
                        Allocation(target_type=TargetType.INVOICE, target_id=rec.remote_id, amount=PART),
                        Allocation(target_type=TargetType.INVOICE, target_id=other, amount=PART),
                    ],
                )


def pause_after_receipts() -> None:
    original = GpWriter.econnect

    def econnect(self: GpWriter, cursor: Any, procedure: str, arguments: dict[str, Any], key: str) -> None:
        original(self, cursor, procedure, arguments, key)
        if procedure == "taRMCashReceiptInsert":
            time.sleep(0.05)

    GpWriter.econnect = econnect  # type: ignore[method-assign]


def main(connection: str, state_url: str, settings_file: str) -> None:
    pause_after_receipts()
    settings = read_settings(settings_file)
    customers, invoices = settings.pop("customers"), settings.pop("invoices")
    decider = PayTwoInvoicesOfACustomer(customers, invoices)
    sync_once("dynamics-gp", connection, state_url, settings, [decider], pages=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
