"""Dunning in the daemon's decide step: plan on the stored records, remember each planned reminder.

A planned reminder is only a plan: the ERP learns nothing of it until its channel accepted it
(``engine.dunning_delivery`` then commits the reminder as sent together with its invoices'
statuses). What the decide step writes to the ERP are the pauses, which hold as soon as they are
decided: a dispute, a promise to pay, a dunning block, a credit memo pending against an invoice.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from engine.courtesy_chances import courtesy_late_chances
from engine.sync import DecisionContext, DecisionGroup
from mapping.models import (
    CollectionStatusUpdate,
    CreditMemo,
    Customer,
    DocumentStatus,
    Invoice,
    Operation,
    OpType,
    Payment,
    Record,
    Stream,
    record_from_json_text,
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
from rules.dunning.credits import is_open_memo
from rules.dunning.history import summarize_history
from rules.dunning.planner import CustomerGroup, plan_groups, reads_payment_behaviour
from rules.dunning.wake import next_replan_day
from store import StateStore
from store.dunning import DunningCalls, DunningPlanReads, planned_keys
from store.marks import RuleMarks
from store.state import PlannedDunningAction, now, ts

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
    """The planner's actions and skips on a connection's stored records at ``as_of`` (records nothing).

    A courtesy notice kept for customers likely to pay late reads the stored payment model's
    chances (``engine.courtesy_chances``) when the connection has one.
    """
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
        late_chances=courtesy_late_chances(store, conn, policy, as_of),
    )


class DunningDecider:
    """Plans dunning per customer; writes the pauses at once, a reminder's statuses once it is sent.

    A cycle re-plans only the customers whose records, history or calls changed since the last
    complete plan, and those whose plan may change by itself today (``rules.dunning.wake``). The
    whole book is planned again on the first run, when the policy changed, and when asked
    (``full=True`` or the cycle's ``full`` option).
    """

    name = "dunning"
    rule = "dunning"
    # Records stored this long before a plan started are read again by the next one: a page whose
    # transaction committed while the plan was reading is never missed.
    settle = timedelta(minutes=5)
    # Customers planned before their decisions are compared with what is stored, in one look-up.
    BATCH = 500

    def __init__(self, policy_path: str, payment_link: str | None = None, *, full: bool = False) -> None:
        self.policy = load_dunning_policy(policy_path, payment_link)
        self.full = full
        self.policy_digest = hashlib.sha256(self.policy.model_dump_json().encode()).hexdigest()
        # Customers re-planned by the last decide (None: all of them); for reports and tests.
        self.replanned: int | None = None

    def decide(self, ctx: DecisionContext) -> Iterator[DecisionGroup]:
        store, conn = ctx.store, ctx.connection
        reads, marks = DunningPlanReads(store), RuleMarks(store)
        # Taken before anything is read: what changes from now on is the next plan's to read.
        started = now()
        mark = marks.get(conn, self.rule)
        full = (
            self.full
            or getattr(ctx, "full", False)
            or mark is None
            or mark.get("policy") != self.policy_digest
        )
        day = ctx.as_of.date()
        failed: set[str] = set()
        if reads_payment_behaviour(self.policy):
            # A courtesy notice only for customers likely to pay late reads every customer's paid
            # invoices: such a policy plans the whole book each cycle, as the planner reads it.
            self.replanned = None
            items = list(plan_from_store(self.policy, store, conn, ctx.as_of))
            last = store.last_operations(conn, OpType.COLLECTION_STATUS.value)
            yield from self._decisions(store, conn, self._set_aside_failed(ctx, items, failed), last, day)
            yield DecisionGroup(
                (), lambda tx: store.release_quarantined(conn, QUARANTINE_STREAM, keep=failed, conn=tx)
            )
            return
        if full:
            chosen: list[str] | None = None
            groups = all_groups(store, conn)
        else:
            assert mark is not None
            since = ts(datetime.fromisoformat(mark["read_from"]) - self.settle)
            # The latest calendar day anywhere on earth: a customer's day is in its own time zone.
            woken_by = (ctx.as_of.astimezone(UTC) + timedelta(hours=14)).date()
            chosen = sorted(reads.changed_customers(conn, since, woken_by, QUARANTINE_STREAM))
            groups = groups_of(reads, conn, chosen)
        self.replanned = None if chosen is None else len(chosen)
        lines = reads.history(conn, chosen)
        summaries = summarize_history(
            (h for h in (HistoryEntry.from_json(line) for line in lines) if h is not None), ctx.as_of
        )
        wakes: dict[str, date | None] = dict.fromkeys(chosen or ())
        # The whole book compares with every status queued so far; a few customers with their own.
        everything = store.last_operations(conn, OpType.COLLECTION_STATUS.value) if full else None
        for batch in _batches(groups, self.BATCH):
            items = []
            for group in batch:
                cid = group.customer.remote_id
                planned = list(plan_groups(self.policy, [group], summaries, ctx.as_of))
                wakes[cid] = next_replan_day(
                    self.policy, group.customer, group.invoices, summaries.get(cid), ctx.as_of, planned
                )
                items += self._set_aside_failed(ctx, planned, failed)
            last = everything if everything is not None else self._last_statuses(store, conn, items)
            yield from self._decisions(store, conn, items, last, day)
        if full:
            wakes = {cid: d for cid, d in wakes.items() if d is not None}

        def finish(tx: Any) -> None:
            # A customer planned whole this time (its record corrected) leaves quarantine; every
            # customer set aside was planned again above (``changed_customers`` names them).
            store.release_quarantined(conn, QUARANTINE_STREAM, keep=failed, conn=tx)
            if full:
                reads.forget_wakes(conn, conn=tx)
            reads.save_wakes(conn, wakes, conn=tx)
            marks.put(conn, self.rule, {"policy": self.policy_digest, "read_from": ts(started)}, conn=tx)

        # Stored with or after every decision above: only then may the next plan start from here.
        yield DecisionGroup((), finish)

    def _set_aside_failed(
        self, ctx: DecisionContext, items: list[PlannedAction | Any], failed: set[str]
    ) -> list[PlannedAction | Any]:
        """The items to decide on; a customer the planner could not plan is set aside instead."""
        kept = []
        for item in items:
            if isinstance(item, Skip) and item.skipped == SkipCode.PLANNING_FAILED:
                self._set_aside(ctx, item)
                failed.add(item.customer_id)
                continue
            kept.append(item)
        return kept

    @staticmethod
    def _last_statuses(
        store: StateStore, conn: str, items: list[PlannedAction | Any]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The newest status queued for each invoice these items would write, in one look-up."""
        targets = {(op.target_type.value, op.target_id) for item in items for op in to_operations(item)}
        if not targets:
            return {}
        return store.last_operations(conn, OpType.COLLECTION_STATUS.value, targets)

    @staticmethod
    def _decisions(
        store: StateStore,
        conn: str,
        items: list[PlannedAction | Any],
        last: dict[tuple[str, str], dict[str, Any]],
        day: date,
    ) -> Iterator[DecisionGroup]:
        known = planned_keys(store, [i.key for i in items if isinstance(i, PlannedAction)])
        # Only the plan is stored now; "reminded" reaches the ERP with the send.
        plans = [
            PlannedDunningAction(
                item.key, item.customer_id, item.send_at, item.channel.value, item.level, item.to_json()
            )
            for item in items
            if isinstance(item, PlannedAction) and item.key not in known  # else: stored already
        ]
        if plans:
            # The batch's new reminders in a few statements, not a round trip each.
            yield DecisionGroup([], lambda tx: store.record_dunning_actions(conn, plans, conn=tx))
        for item in items:
            if isinstance(item, PlannedAction):
                continue
            ops = [
                op.model_copy(update={"decided_on": day})
                for op in to_operations(item)
                if not same_status(last.get((op.target_type.value, op.target_id)), op)
            ]
            if ops:
                yield DecisionGroup(ops, None)

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


def load_dunning_policy(policy_path: str, payment_link: str | None = None) -> DunningPolicy:
    """The policy file, with the configuration's payment link (if any) in place of its own."""
    policy = load_policy(policy_path)
    if payment_link:
        policy = policy.model_copy(
            update={"payment": policy.payment.model_copy(update={"link": payment_link})}
        )
    return policy


_OPEN = (DocumentStatus.OPEN, DocumentStatus.PARTIALLY_PAID)


def _open_invoice(inv: Invoice) -> bool:
    return not inv.deleted and inv.status in _OPEN and inv.open_amount > 0


def _credit_payment(p: Payment) -> bool:
    return bool(p.customer_remote_id) and not p.deleted and p.unapplied_amount > 0


def all_groups(store: StateStore, conn: str) -> Iterator[CustomerGroup]:
    """Every customer with open invoices, its open credit memos and its payments with money left.

    Streams customers and invoices in customer order (a few open documents per customer held at a
    time); the open credit memos and unapplied payments, few in any book, are gathered first.
    """
    memos: dict[str, list[CreditMemo]] = defaultdict(list)
    for m in store.iter_records(conn, Stream.CREDIT_MEMOS):
        if isinstance(m, CreditMemo) and is_open_memo(m):
            memos[m.customer_remote_id].append(m)
    cash: dict[str, list[Payment]] = defaultdict(list)
    for p in store.iter_records(conn, Stream.PAYMENTS):
        if isinstance(p, Payment) and _credit_payment(p):
            cash[p.customer_remote_id or ""].append(p)
    invoices = store.iter_records(conn, Stream.INVOICES, order_by_customer=True)
    pending = next(invoices, None)
    for customer in store.iter_records(conn, Stream.CUSTOMERS):
        if not isinstance(customer, Customer):
            continue
        cid = customer.remote_id
        mine: list[Invoice] = []
        # Invoices of customers that are not stored (or sort before this one) are passed over.
        while isinstance(pending, Invoice) and (pending.customer_remote_id or "") <= cid:
            if pending.customer_remote_id == cid and _open_invoice(pending):
                mine.append(pending)
            pending = next(invoices, None)
        if mine:
            yield CustomerGroup(customer, mine, memos.get(cid, []), cash.get(cid, []))


def groups_of(reads: DunningPlanReads, conn: str, customer_ids: Sequence[str]) -> Iterator[CustomerGroup]:
    """The same groups as ``all_groups``, for these customers only."""
    for i in range(0, len(customer_ids), 1000):
        chunk = list(customer_ids[i : i + 1000])
        by: dict[str, dict[str, list[Any]]] = {}
        for stream in (Stream.INVOICES, Stream.CREDIT_MEMOS, Stream.PAYMENTS):
            found: dict[str, list[Any]] = defaultdict(list)
            for cid, data in reads.records_of(conn, stream.value, chunk, plannable=True):
                found[cid].append(record_from_json_text(stream.value, data))
            by[stream.value] = found
        customers = [
            record_from_json_text(Stream.CUSTOMERS.value, data)
            for _cid, data in reads.records_of(conn, Stream.CUSTOMERS.value, chunk)
        ]
        for customer in sorted(_only(Customer, customers), key=lambda c: c.remote_id):
            cid = customer.remote_id
            mine = [i for i in _only(Invoice, by["invoices"].get(cid, [])) if _open_invoice(i)]
            if not mine:
                continue
            memos = [m for m in _only(CreditMemo, by["credit_memos"].get(cid, [])) if is_open_memo(m)]
            cash = [p for p in _only(Payment, by["payments"].get(cid, [])) if _credit_payment(p)]
            yield CustomerGroup(customer, mine, memos, cash)


T = TypeVar("T")


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _only(kind: type[T], records: Iterable[Any]) -> list[T]:
    return [r for r in records if isinstance(r, kind)]
