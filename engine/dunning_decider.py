"""Dunning in the daemon's decide step: plan on the stored records, remember each planned reminder.

A planned reminder is only a plan: the ERP learns nothing of it until its channel accepted it
(``engine.dunning_delivery`` then commits the reminder as sent together with its invoices'
statuses). What the decide step writes to the ERP are the pauses, which hold as soon as they are
decided: a dispute, a promise to pay, a dunning block, a credit memo pending against an invoice.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from engine.sync import DecisionContext, DecisionGroup
from mapping.models import (
    CollectionStatusUpdate,
    CreditMemo,
    Customer,
    Invoice,
    Operation,
    OpType,
    Payment,
    Record,
    Stream,
)
from rules.dunning import (
    DunningPolicy,
    HistoryEntry,
    PlannedAction,
    Skip,
    SkipCode,
    load_policy,
    plan,
    to_operations,
)
from store import StateStore
from store.dunning import DunningCalls

__all__ = [
    "QUARANTINE_STREAM",
    "DunningDecider",
    "load_dunning_policy",
    "plan_from_store",
    "same_status",
    "store_history",
]

log = logging.getLogger("arbridge.rules")

#: The quarantine's ``stream`` for a customer the planner could not plan (its id is the customer's).
QUARANTINE_STREAM = "dunning"


def same_status(last: dict[str, Any] | None, op: CollectionStatusUpdate) -> bool:
    """Whether the ERP already shows (or is about to show) what ``op`` would write."""
    if last is None:
        return False
    wanted = op.model_dump(mode="json")
    return all(
        last.get(k) == wanted.get(k) for k in ("collection_status", "dunning_level", "next_action_date")
    )


def store_history(store: StateStore, conn: str) -> list[HistoryEntry]:
    """The planner's history from the store: the reminders planned so far and the call outcomes."""
    lines = [*store.dunning_history(conn), *DunningCalls(store).history(conn)]
    return [h for h in (HistoryEntry.from_json(line) for line in lines) if h is not None]


def plan_from_store(
    policy: DunningPolicy, store: StateStore, conn: str, as_of: datetime
) -> Iterator[PlannedAction | Any]:
    """The planner's actions and skips on a connection's stored records at ``as_of`` (records nothing)."""
    customers = (c for c in store.iter_records(conn, Stream.CUSTOMERS) if isinstance(c, Customer))
    invoices = (
        i for i in store.iter_records(conn, Stream.INVOICES, order_by_customer=True) if isinstance(i, Invoice)
    )
    memos = (m for m in store.iter_records(conn, Stream.CREDIT_MEMOS) if isinstance(m, CreditMemo))
    # The planner keeps only payments with money unapplied: the customers' credits.
    payments = (p for p in store.iter_records(conn, Stream.PAYMENTS) if isinstance(p, Payment))
    return plan(
        policy,
        customers,
        invoices,
        memos,
        store_history(store, conn),
        as_of,
        presorted=True,
        payments=payments,
    )


class DunningDecider:
    """Plans dunning per customer; writes the pauses at once, a reminder's statuses once it is sent."""

    name = "dunning"

    def __init__(self, policy_path: str, payment_link: str | None = None) -> None:
        self.policy = load_dunning_policy(policy_path, payment_link)

    def decide(self, ctx: DecisionContext) -> Iterator[DecisionGroup]:
        store, conn = ctx.store, ctx.connection
        last = store.last_operations(conn, OpType.COLLECTION_STATUS.value)
        day = ctx.as_of.date()
        failed: set[str] = set()
        for item in plan_from_store(self.policy, store, conn, ctx.as_of):
            if isinstance(item, Skip) and item.skipped == SkipCode.PLANNING_FAILED:
                self._set_aside(ctx, item)
                failed.add(item.customer_id)
                continue
            if isinstance(item, PlannedAction):
                # Only the plan is stored now; "reminded" reaches the ERP with the send.
                record = functools.partial(
                    store.record_dunning_action,
                    conn,
                    key=item.key,
                    customer_id=item.customer_id,
                    send_at=item.send_at,
                    channel=item.channel.value,
                    level=item.level,
                    payload=item.to_json(),
                )
                yield DecisionGroup([], _on_connection(record))
                continue
            ops = [
                op.model_copy(update={"decided_on": day})
                for op in to_operations(item)
                if not same_status(last.get((op.target_type.value, op.target_id)), op)
            ]
            if ops:
                yield DecisionGroup(ops, None)
        # A customer planned whole this time (its record corrected) leaves quarantine.
        store.release_quarantined(conn, QUARANTINE_STREAM, keep=failed)

    @staticmethod
    def _set_aside(ctx: DecisionContext, skip: Skip) -> None:
        """Report a customer the planner could not plan; nothing is decided for it this cycle."""
        log.error(
            "dunning for customer %s set aside: %s",
            skip.customer_id,
            skip.reason,
            extra={"connection": ctx.connection, "run_id": ctx.run_id, "event": "quarantined"},
        )
        ctx.store.quarantine_item(
            ctx.connection,
            QUARANTINE_STREAM,
            skip.customer_id,
            skip.reason,
            raw={"invoice_ids": list(skip.invoice_ids)},
            run_id=ctx.run_id,
        )

    def handles(self, op: Operation) -> bool:
        return isinstance(op, CollectionStatusUpdate)

    def redecide(self, op: Operation, fresh: Record | None) -> Operation | None:
        """After a conflict: a paid or voided invoice needs no dunning status any more."""
        if isinstance(fresh, Invoice) and (fresh.deleted or fresh.open_amount <= 0):
            return None
        return op.model_copy(update={"base_version": fresh.version if fresh else None})


def _on_connection(write: Callable[..., object]) -> Callable[[Any], object]:
    """A store write that then runs on the decision's own database connection."""
    return lambda conn: write(conn=conn)


def load_dunning_policy(policy_path: str, payment_link: str | None = None) -> DunningPolicy:
    """The policy file, with the configuration's payment link (if any) in place of its own."""
    policy = load_policy(policy_path)
    if payment_link:
        policy = policy.model_copy(
            update={"payment": policy.payment.model_copy(update={"link": payment_link})}
        )
    return policy
