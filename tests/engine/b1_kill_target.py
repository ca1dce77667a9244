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

import json
import sys
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path

from connectors.base import ConnectorContext
from connectors.registry import discover
from engine import DecisionContext, SyncEngine, SyncOptions
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
from store import StateStore

EVERY = 50
PAID_AT = 25
NOTED_AT = 10
PAYMENT = Decimal("10.00")
DAY = date(2026, 11, 2)


def reminded(invoice: Invoice) -> bool:
    return int(invoice.remote_id) % EVERY == 0


def paid(invoice: Invoice) -> bool:
    return int(invoice.remote_id) % EVERY == PAID_AT and invoice.open_amount >= PAYMENT


class RemindAndPayB1Invoices:
    name = "remind-and-pay"

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        for rec in ctx.store.iter_records(ctx.connection, Stream.INVOICES):
            assert isinstance(rec, Invoice)
            if reminded(rec):
                yield CollectionStatusUpdate(
                    target_type=TargetType.INVOICE,
                    target_id=rec.remote_id,
                    collection_status=CollectionStatus.REMINDED,
                    dunning_level=2,
                    next_action_date=DAY,
                    decided_on=DAY,
                )
            elif int(rec.remote_id) % EVERY == NOTED_AT:
                yield Note(
                    target_type=TargetType.INVOICE,
                    target_id=rec.remote_id,
                    text=f"kill-test call about invoice {rec.remote_id}: promised by {DAY}",
                    decided_on=DAY,
                )
            elif paid(rec):
                yield PaymentApplication(
                    target_type=TargetType.CUSTOMER,
                    target_id=rec.customer_remote_id,
                    customer_remote_id=rec.customer_remote_id,
                    amount=PAYMENT,
                    currency=rec.currency,
                    date=DAY,
                    reference=f"kill-test {rec.remote_id}",
                    allocations=[
                        Allocation(target_type=TargetType.INVOICE, target_id=rec.remote_id, amount=PAYMENT)
                    ],
                )


def main(connection: str, state_url: str, settings_file: str) -> None:
    store = StateStore.open(state_url)
    settings = json.loads(Path(settings_file).read_text())
    connector = (
        discover()
        .get("sap-business-one")
        .create(settings, ConnectorContext(connection=connection, state=store.connector_state(connection)))
    )

    def on_page(stream: Stream, pages: int, records: int) -> None:
        # A read over ODBC leaves no trace in the Service Layer's log: the parent counts these.
        print(f"page {stream.value} {pages}", flush=True)

    with connector:
        report = SyncEngine(
            store,
            connector,
            connection,
            SyncOptions(deciders=[RemindAndPayB1Invoices()], backoff_max=1.0, on_page=on_page),
        ).run_cycle()
    print(report.status, json.dumps(dict(report.written)), json.dumps(report.errors), flush=True)
    store.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
