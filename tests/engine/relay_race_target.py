"""A process that runs QuickBooks cycles until its connections' outboxes are drained, next to another.

Run as ``python -m tests.engine.relay_race_target STATE_URL SETTINGS_JSON CONNECTION…``. Each round
runs one cycle per connection; a connection another process is syncing is skipped (``busy``) and
tried again in the next round. The connections share one QuickBooks company, so each writes a
collection status to its own fifth of the invoices (``shared``, ``left``, ``right`` by invoice id
modulo 15). The parent test starts two of these on one store, with one connection in common, and
counts what reached the ERP.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from connectors.base import ConnectorContext
from connectors.registry import discover
from engine import DecisionContext, SyncEngine, SyncOptions
from mapping import CollectionStatus, CollectionStatusUpdate, Invoice, Operation, Stream, TargetType
from store import StateStore

EVERY = 15
OFFSET = {"shared": 0, "left": 5, "right": 10}


def chosen(connection: str, invoice_id: str) -> bool:
    return int(invoice_id) % EVERY == OFFSET[connection]


class RemindItsInvoices:
    name = "remind"

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        for rec in ctx.store.iter_records(ctx.connection, Stream.INVOICES):
            assert isinstance(rec, Invoice)
            if chosen(ctx.connection, rec.remote_id):
                yield CollectionStatusUpdate(
                    target_type=TargetType.INVOICE,
                    target_id=rec.remote_id,
                    collection_status=CollectionStatus.REMINDED,
                    dunning_level=1,
                )


def main(state_url: str, settings_file: str, *connections: str) -> None:
    store = StateStore.open(state_url)
    settings = json.loads(Path(settings_file).read_text())
    cls = discover().get("quickbooks")
    left = list(connections)
    deadline = time.monotonic() + 240
    while left and time.monotonic() < deadline:
        for name in list(left):
            connector = cls.create(
                settings, ConnectorContext(connection=name, state=store.connector_state(name))
            )
            with connector:
                options = SyncOptions(deciders=[RemindItsInvoices()], backoff_max=1.0)
                report = SyncEngine(store, connector, name, options).run_cycle()
            print(
                name, report.status, json.dumps(dict(report.written)), json.dumps(report.errors), flush=True
            )
            if report.status == "ok" and not store.outbox_stats(name)["counts"].get("pending"):
                left.remove(name)
        time.sleep(0.02)
    store.close()
    sys.exit(0 if not left else 1)


if __name__ == "__main__":
    main(*sys.argv[1:])
