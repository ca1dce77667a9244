"""A sync run meant to be killed: CSV exports as the ERP, a reminder for every open invoice.

Run as ``python -m tests.engine.kill_target STATE_URL FOLDER``. The parent test kills it with
SIGKILL at random points, then runs it once more to the end.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from connectors.base import Capabilities, ConnectorContext
from connectors.csv import CsvConnector
from engine import DecisionContext, SyncEngine, SyncOptions
from mapping import CollectionStatus, CollectionStatusUpdate, Invoice, Operation, OpType, Stream, TargetType
from store import StateStore


class SmallBatchCsv(CsvConnector):
    # Small pages and batches: many commits and many write calls, so kills land everywhere.
    capabilities: ClassVar[Capabilities] = Capabilities(
        streams=frozenset(Stream), write_ops=frozenset(OpType), page_max=50, batch_max=5
    )


class RemindEveryOpenInvoice:
    name = "remind"

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        for rec in ctx.store.iter_records(ctx.connection, Stream.INVOICES):
            assert isinstance(rec, Invoice)
            yield CollectionStatusUpdate(
                target_type=TargetType.INVOICE,
                target_id=rec.remote_id,
                collection_status=CollectionStatus.REMINDED,
                dunning_level=1,
            )


def main(state_url: str, folder: str) -> None:
    store = StateStore.open(state_url)
    connector = SmallBatchCsv.create(
        {"folder": Path(folder), "page_size": 50},
        ConnectorContext(connection="shop", state=store.connector_state("shop")),
    )
    # Tells the parent the process has started and imported everything: kills are timed from here.
    print("syncing", flush=True)
    report = SyncEngine(
        store, connector, "shop", SyncOptions(deciders=[RemindEveryOpenInvoice()], sleep=lambda s: None)
    ).run_cycle()
    print(report.status, dict(report.written), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
