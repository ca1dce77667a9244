"""Sending planned dunning communications from the daemon, exactly once across crashes.

After each cycle's decide step, every planned action whose send time has come is checked against
the freshly pulled records, rendered and handed to its channel, with each step committed to the
store first (see :mod:`store.dunning` for the states):

1. ``claim``: planned → sending, by this process. A crash now: certainly not sent.
2. ``commit``: just before the point of no return (SMTP ``DATA``, the file rename, the webhook
   POST). A crash after it: maybe sent.
3. ``sent`` with the channel's reference (the Message-ID, the file, the HTTP status), in one
   transaction with the collection status of its invoices for the ERP: "reminded" is written only
   for a reminder that went out.

Every channel carries the action key to the receiver: the e-mail's ``Message-ID`` is
``<{key}@{domain}>``, letters and call tasks are files named after the key, webhooks send an
``Idempotency-Key`` header. A run that finds an action ``sending`` whose process is gone:

* not committed → it never left: planned again;
* committed, on a letter, call task or webhook → sent again; the receiver recognises the key;
* committed, on e-mail → **in doubt**. An SMTP relay cannot be asked whether it has a message,
  so it is never resent automatically (a customer must not get a reminder twice); it waits for a
  person, who searches the relay's log for the Message-ID and then runs
  ``arbridge dunning mark-sent`` or ``arbridge dunning resend``.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine.dunning_decider import same_status
from engine.sync import DecisionContext
from mapping.models import CreditMemo, Customer, Invoice, Payment, Stream
from rules.dunning import (
    CallTaskSender,
    Channel,
    DunningPolicy,
    LetterSender,
    PlannedAction,
    Sender,
    SmtpEmailSender,
    SmtpSettings,
    WebhookSender,
    action_from_json,
    render,
    to_operations,
)
from rules.dunning.contact import zone_for
from rules.dunning.failures import SendFailure, classify_failure
from rules.dunning.recheck import why_not_send
from store import StateStore
from store.dunning import DunningActionRow, DunningActions

__all__ = [
    "IDEMPOTENT_CHANNELS",
    "DunningDelivery",
    "RetryPolicy",
    "commit_sent",
    "owner_is_gone",
    "process_owner",
    "senders_from_config",
]

log = logging.getLogger("arbridge.dunning")

# Channels whose receiver recognises a repeated key, so an interrupted send may be repeated.
IDEMPOTENT_CHANNELS = frozenset(
    cls.channel for cls in (SmtpEmailSender, LetterSender, CallTaskSender, WebhookSender) if cls.idempotent
)
# A claim this old from another machine is taken for abandoned (no send takes an hour).
CLAIM_LEASE = timedelta(hours=1)

_HOST = socket.gethostname()
_TOKEN = uuid.uuid4().hex[:12]


def process_owner() -> str:
    """This process as a claim owner: ``host/pid/token`` (the token tells a reused pid apart)."""
    return f"{_HOST}/{os.getpid()}/{_TOKEN}"


def owner_is_gone(owner: str | None, claimed_at: datetime | None, at: datetime) -> bool:
    """Whether the process that claimed an action can no longer be sending it.

    This process sends one action at a time, so its own earlier claims are abandoned; another
    process on this machine is gone when its pid is; one on another machine after ``CLAIM_LEASE``.
    """
    if owner is None or owner == process_owner():
        return True
    host, _, rest = owner.partition("/")
    pid_text, _, _token = rest.partition("/")
    if host == _HOST and pid_text.isdigit():
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, under another user
        return False
    return claimed_at is None or at - claimed_at > CLAIM_LEASE


def commit_sent(
    store: StateStore,
    connection: str,
    action: PlannedAction,
    mark: Any,
    *,
    decided_on: Any,
    run_id: str | None = None,
) -> bool:
    """Record that ``action`` reached the customer, with its invoices' statuses for the ERP: one transaction.

    Args:
        store: the state store.
        connection: the action's connection.
        action: the action the channel (or a person) confirmed.
        mark: moves the action's row to ``sent`` on the connection it is given; returns whether it did.
        decided_on: the day the statuses are decided (part of their idempotency keys).
        run_id: the cycle, for the audit log.

    Returns:
        Whether the row moved (False: another process settled it meanwhile, and nothing was queued).
    """
    last = DunningActions(store).last_statuses(connection, action.invoice_ids)
    ops = [
        op.model_copy(update={"decided_on": decided_on})
        for op in to_operations(action)
        # The other channel of the same level, or a resend, found the ERP showing it already.
        if not same_status(last.get(op.target_id), op)
    ]
    moved: list[bool] = []

    def record(conn: Any) -> None:
        moved.append(bool(mark(conn)))
        if not moved[-1]:
            raise _NotMoved

    try:
        store.commit_decision(
            connection, [(op, None) for op in ops], rule="dunning", run_id=run_id, record=record
        )
    except _NotMoved:
        return False
    return True


class _NotMoved(Exception):
    """The row was settled by someone else meanwhile: roll the status writes back with it."""


@dataclass(frozen=True)
class RetryPolicy:
    """Waits between tries after temporary failures: doubling from ``initial`` up to ``max``."""

    initial: timedelta = timedelta(minutes=5)
    max: timedelta = timedelta(hours=6)
    attempts: int = 12

    def wait(self, attempt: int) -> timedelta:
        """The wait after the ``attempt``-th try (1-based)."""
        return min(self.max, self.initial * (2 ** max(0, attempt - 1)))


def senders_from_config(channels: Any) -> dict[Channel, Sender]:
    """The channel senders a deployment's ``rules.dunning.channels`` section sets up."""
    out: dict[Channel, Sender] = {}
    email = getattr(channels, "email", None)
    if email is not None:
        settings = SmtpSettings.model_validate(
            {
                "host": email.host,
                "port": email.effective_port,
                "starttls": email.security == "starttls",
                "ssl": email.security == "ssl",
                "username": email.username,
                "password": email.password,
                "from": email.from_address,
                "reply_to": email.reply_to,
                "bcc": list(email.bcc),
                "timeout": email.timeout.total_seconds(),
                "messages_per_connection": email.messages_per_connection,
            }
        )
        out[Channel.EMAIL] = SmtpEmailSender(settings)
    letter = getattr(channels, "letter", None)
    if letter is not None:
        out[Channel.LETTER] = LetterSender(letter.dir)
    call = getattr(channels, "call", None)
    if call is not None:
        out[Channel.CALL] = CallTaskSender(call.dir)
    webhook = getattr(channels, "webhook", None)
    if webhook is not None:
        out[Channel.WEBHOOK] = WebhookSender(webhook.url, webhook.secret, webhook.timeout.total_seconds())
    return out


class DunningDelivery:
    """Sends the due dunning actions of one connection (a ``Deliverer`` of the sync engine)."""

    name = "dunning"

    def __init__(
        self,
        policy: DunningPolicy,
        senders: Mapping[Channel, Sender],
        *,
        template_dirs: tuple[Path, ...] = (),
        retry: RetryPolicy | None = None,
        expire_after: timedelta = timedelta(days=3),
    ) -> None:
        """Create the deliverer.

        Args:
            policy: the dunning policy (the creditor's details and the default time zone).
            senders: one sender per configured channel; actions on other channels wait.
            template_dirs: the administrator's template folders, searched first.
            retry: waits and tries after temporary failures.
            expire_after: how late an action may still be sent.
        """
        self.policy = policy
        self.senders = dict(senders)
        self.template_dirs = template_dirs
        self.retry = retry or RetryPolicy()
        self.expire_after = expire_after
        self.owner = process_owner()

    # -- one run ------------------------------------------------------------------------------------

    def deliver(self, ctx: DecisionContext) -> dict[str, int]:
        """Recover abandoned sends, then send every action due at ``ctx.as_of``.

        Returns:
            Counts by outcome: ``sent``, ``duplicate`` (the receiver already had it), ``retry``,
            ``failed``, ``in_doubt``, ``cancelled``, ``expired``, ``waiting`` (channel not
            configured or down in this run).
        """
        book = DunningActions(ctx.store)
        counts: Counter[str] = Counter()
        self.recover(ctx, book, counts)
        down: dict[Channel, str] = {}
        try:
            for row in book.due(ctx.connection, ctx.as_of):
                if ctx.stop.is_set():
                    break
                channel = Channel(row.channel)
                if channel not in self.senders or channel in down:
                    counts["waiting"] += 1
                    continue
                failure = self._send_one(ctx, book, row, counts)
                if failure is not None and failure.channel_down:
                    down[channel] = failure.message
                    log.warning(
                        "%s channel unavailable, its other messages wait for the next run: %s",
                        channel.value,
                        failure.message,
                        extra={
                            "connection": ctx.connection,
                            "run_id": ctx.run_id,
                            "event": "dunning_channel_down",
                        },
                    )
        finally:
            for sender in self.senders.values():
                close = getattr(sender, "close", None)
                if close is not None:
                    close()
        return {k: v for k, v in counts.items() if v}

    def recover(self, ctx: DecisionContext, book: DunningActions, counts: Counter[str]) -> None:
        """Settle the actions a dead process left ``sending`` (see the module docstring)."""
        for row in book.with_status(ctx.connection, ["sending"]):
            if not owner_is_gone(row.claimed_by, row.claimed_at, ctx.as_of):
                continue
            channel = Channel(row.channel)
            if row.committed_at is None:
                book.release(row.key, "the previous send stopped before anything left; sending again")
                continue
            if channel in IDEMPOTENT_CHANNELS:
                book.release(
                    row.key, f"the previous send was interrupted; the {channel.value} receiver knows the key"
                )
                continue
            sender = self.senders.get(Channel.EMAIL)
            message_id = sender.message_id(row.key) if isinstance(sender, SmtpEmailSender) else row.key
            message = (
                "the process stopped after handing the message to the SMTP server and before the server "
                f"confirmed it; search the relay's log for {message_id}, then run 'arbridge dunning "
                f"mark-sent -c FILE {row.key}' if it is there or 'arbridge dunning resend -c FILE {row.key}'"
            )
            with ctx.store.transaction() as conn:
                book.in_doubt(row.key, message, conn=conn)
                self._audit(ctx, "dunning_in_doubt", row, {"error": message}, conn=conn)
            counts["in_doubt"] += 1
            log.error(
                "dunning e-mail %s is in doubt: %s",
                row.key,
                message,
                extra={"connection": ctx.connection, "key": row.key, "event": "dunning_in_doubt"},
            )

    def _send_one(
        self, ctx: DecisionContext, book: DunningActions, row: DunningActionRow, counts: Counter[str]
    ) -> SendFailure | None:
        if row.next_attempt_at is None and ctx.as_of - row.send_at > self.expire_after:
            late = (
                f"not sent within {self.expire_after} of its send time {row.send_at.isoformat()}; "
                "dropped rather than sent late"
            )
            with ctx.store.transaction() as conn:
                expired = book.expire(row.key, late, conn=conn)
                if expired:
                    self._audit(ctx, "dunning_expired", row, {"reason": late}, conn=conn)
            if expired:
                counts["expired"] += 1
            return None
        action = action_from_json(row.payload)
        customer, invoices = self._records(ctx.store, ctx.connection, action)
        zone = zone_for(customer.time_zone if customer else None, self.policy.default_time_zone)
        memos = ctx.store.customer_records(ctx.connection, Stream.CREDIT_MEMOS, action.customer_id)
        payments = ctx.store.customer_records(ctx.connection, Stream.PAYMENTS, action.customer_id)
        everything = ctx.store.customer_records(ctx.connection, Stream.INVOICES, action.customer_id)
        reason = why_not_send(
            action,
            customer,
            invoices,
            ctx.as_of.astimezone(zone).date(),
            [m for m in memos if isinstance(m, CreditMemo)],
            payments=[p for p in payments if isinstance(p, Payment)],
            open_invoice_ids={
                i.remote_id
                for i in everything
                if isinstance(i, Invoice) and not i.deleted and i.open_amount > 0
            },
        )
        if reason is not None:
            if self._cancel(ctx, book, row, reason):
                counts["cancelled"] += 1
                log.info(
                    "dunning %s not sent: %s",
                    row.key,
                    reason,
                    extra={"connection": ctx.connection, "key": row.key, "event": "dunning_cancelled"},
                )
            return None
        assert customer is not None  # why_not_send refuses a missing customer
        if action.channel == Channel.LETTER and not action.address:
            reason = "no postal address: a letter without one cannot be posted"
            if self._cancel(ctx, book, row, reason):
                counts["cancelled"] += 1
            return None
        try:
            rendered = render(
                action,
                customer,
                invoices.values(),
                sender=self.policy.sender,
                template_dirs=self.template_dirs,
            )
        except Exception as exc:  # a template error fails this action, not the daemon
            book.fail(row.key, f"could not render the message: {type(exc).__name__}: {exc}", ("planned",))
            counts["failed"] += 1
            return None
        if not book.claim(row.key, self.owner):
            return None  # another process took it
        committed = False

        def commit() -> None:
            nonlocal committed
            book.commit(row.key, self.owner)
            committed = True

        sender = self.senders[action.channel]
        try:
            receipt = sender.send(action, rendered, before_commit=commit)
        except Exception as exc:
            failure = classify_failure(action.channel, exc, committed=committed)
            self._failed(ctx, book, row, failure, counts)
            return failure

        def sent(conn: Any) -> bool:
            # The mark, the invoices' statuses and the audit entry: one transaction.
            moved = book.sent(row.key, receipt.reference, conn=conn)
            if moved:
                detail = {"reference": receipt.reference, "duplicate": receipt.duplicate}
                self._audit(ctx, "dunning_sent", row, detail, conn=conn)
            return moved

        commit_sent(ctx.store, ctx.connection, action, sent, decided_on=ctx.as_of.date(), run_id=ctx.run_id)
        counts["duplicate" if receipt.duplicate else "sent"] += 1
        log.info(
            "dunning level %s sent by %s to %s",
            action.level,
            action.channel.value,
            action.recipient or customer.remote_id,
            extra={"connection": ctx.connection, "key": row.key, "event": "dunning_sent"},
        )
        return None

    def _failed(
        self,
        ctx: DecisionContext,
        book: DunningActions,
        row: DunningActionRow,
        failure: SendFailure,
        counts: Counter[str],
    ) -> None:
        attempt = row.attempts + 1  # the claim counted this try
        extra = {"connection": ctx.connection, "key": row.key}
        if failure.outcome == "in_doubt":
            with ctx.store.transaction() as conn:
                book.in_doubt(row.key, failure.message, conn=conn)
                self._audit(ctx, "dunning_in_doubt", row, {"error": failure.message}, conn=conn)
            counts["in_doubt"] += 1
            log.error("dunning e-mail %s is in doubt: %s", row.key, failure.message, extra=extra)
        elif failure.outcome == "retry" and attempt < self.retry.attempts:
            wait = self.retry.wait(attempt)
            book.retry(row.key, self.owner, failure.message, ctx.as_of + wait)
            counts["retry"] += 1
            log.warning("dunning %s: %s; next try in %s", row.key, failure.message, wait, extra=extra)
        else:
            message = failure.message
            if failure.outcome == "retry":
                message = f"gave up after {attempt} tries: {message}"
            with ctx.store.transaction() as conn:
                book.fail(row.key, message, conn=conn)
                self._audit(ctx, "dunning_failed", row, {"error": message}, conn=conn)
            counts["failed"] += 1
            log.error("dunning %s failed: %s", row.key, message, extra=extra)

    @staticmethod
    def _records(
        store: StateStore, connection: str, action: PlannedAction
    ) -> tuple[Customer | None, dict[str, Invoice]]:
        customer = store.get_record(connection, Stream.CUSTOMERS, action.customer_id)
        invoices: dict[str, Invoice] = {}
        for invoice_id in action.invoice_ids:
            inv = store.get_record(connection, Stream.INVOICES, invoice_id)
            if isinstance(inv, Invoice):
                invoices[invoice_id] = inv
        return (customer if isinstance(customer, Customer) else None), invoices

    @classmethod
    def _cancel(cls, ctx: DecisionContext, book: DunningActions, row: DunningActionRow, reason: str) -> bool:
        """Cancel a planned action with its audit entry, in one transaction; False if it moved on."""
        with ctx.store.transaction() as conn:
            cancelled = book.cancel(row.key, reason, conn=conn)
            if cancelled:
                cls._audit(ctx, "dunning_cancelled", row, {"reason": reason}, conn=conn)
        return cancelled

    @staticmethod
    def _audit(
        ctx: DecisionContext, event: str, row: DunningActionRow, detail: dict[str, Any], *, conn: Any = None
    ) -> None:
        """The audit entry of an action's move, on the move's own transaction (``conn``)."""
        ctx.store.audit(
            event,
            connection=ctx.connection,
            run_id=ctx.run_id,
            subject=f"customer/{row.customer_id}",
            detail={"key": row.key, "channel": row.channel, "level": row.level, **detail},
            conn=conn,
        )
