"""A worker for the many-workers test: ``arbridge`` plus one rule, a reminder per overdue invoice.

Run as ``python -m tests.engine.workers.remind_overdue [arbridge arguments]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.runner import register_decider_factory
from engine.sync import DecisionContext
from mapping import CollectionStatus, CollectionStatusUpdate, Invoice, Operation, Stream, TargetType


class RemindOverdueInvoices:
    name = "remind-overdue"

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        today = ctx.as_of.date()
        for rec in ctx.store.iter_records(ctx.connection, Stream.INVOICES):
            if isinstance(rec, Invoice) and rec.due_date is not None and rec.due_date < today:
                yield CollectionStatusUpdate(
                    target_type=TargetType.INVOICE,
                    target_id=rec.remote_id,
                    collection_status=CollectionStatus.REMINDED,
                    dunning_level=1,
                )

    def redecide(self, op: Operation, fresh: Any) -> Operation | None:
        return op


register_decider_factory(lambda _deployment, _connection: [RemindOverdueInvoices()])

if __name__ == "__main__":
    from sync_daemon import main

    main()
