"""A sync over HTTP meant to be killed: a real connector against a sandbox ERP on loopback.

Run as ``python -m tests.engine.http_kill_target CONNECTOR CONNECTION STATE_URL SETTINGS_JSON``.
Every 50th invoice gets a write-back: a collection status for QuickBooks (its key reaches the ERP
as the batch ``requestid`` and each item's ``bId``), a payment applying 10.00 for NetSuite (when
that much is open; its key reaches the ERP as the payment's ``externalId``) and a note on the
customer saying so (a user note, whose ``externalId`` also comes from its key). The parent test
kills this process with SIGKILL, then runs it again.
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
from tests.engine.bc_kill_decider import RemindAndPayBcInvoices
from tests.engine.sap_kill_decider import RemindAndPaySapInvoices

EVERY = 50
PAYMENT = Decimal("10.00")
PAYMENT_DATE = date(2026, 11, 2)


def chosen(invoice: Invoice) -> bool:
    return int(invoice.remote_id) % EVERY == 0


class RemindEveryThirtiethInvoice:
    name = "remind"

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        for rec in ctx.store.iter_records(ctx.connection, Stream.INVOICES):
            assert isinstance(rec, Invoice)
            if chosen(rec):
                yield CollectionStatusUpdate(
                    target_type=TargetType.INVOICE,
                    target_id=rec.remote_id,
                    collection_status=CollectionStatus.REMINDED,
                    dunning_level=2,
                    base_version=rec.version,
                )


class PayEveryThirtiethInvoice:
    name = "pay"

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        for rec in ctx.store.iter_records(ctx.connection, Stream.INVOICES):
            assert isinstance(rec, Invoice)
            if chosen(rec) and rec.open_amount >= PAYMENT:
                yield PaymentApplication(
                    target_type=TargetType.CUSTOMER,
                    target_id=rec.customer_remote_id,
                    customer_remote_id=rec.customer_remote_id,
                    amount=PAYMENT,
                    currency=rec.currency,
                    date=PAYMENT_DATE,
                    reference=f"kill-test {rec.remote_id}",
                    allocations=[
                        Allocation(target_type=TargetType.INVOICE, target_id=rec.remote_id, amount=PAYMENT)
                    ],
                )
                yield Note(
                    target_type=TargetType.CUSTOMER,
                    target_id=rec.customer_remote_id,
                    text=f"kill-test: {PAYMENT} received for invoice {rec.remote_id}",
                    decided_on=PAYMENT_DATE,
                )


DECIDERS = {"quickbooks": RemindEveryThirtiethInvoice, "netsuite": PayEveryThirtiethInvoice}
DECIDERS["sap-s4hana"] = RemindAndPaySapInvoices  # a dunning level and a payment: see its module
DECIDERS["business_central"] = RemindAndPayBcInvoices  # a collection status and a payment


def main(kind: str, connection: str, state_url: str, settings_file: str) -> None:
    store = StateStore.open(state_url)
    settings = json.loads(Path(settings_file).read_text())
    connector = (
        discover()
        .get(kind)
        .create(settings, ConnectorContext(connection=connection, state=store.connector_state(connection)))
    )
    with connector:
        report = SyncEngine(
            store, connector, connection, SyncOptions(deciders=[DECIDERS[kind]()], backoff_max=1.0)
        ).run_cycle()
    print(report.status, json.dumps(dict(report.written)), json.dumps(report.errors), flush=True)
    store.close()


if __name__ == "__main__":
    main(*sys.argv[1:5])
