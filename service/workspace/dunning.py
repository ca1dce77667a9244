"""The Dunning page's reading and an admin's decisions on reminders in doubt or failed.

``decide`` is what ``arbridge dunning mark-sent`` and ``resend`` do: mark-sent records that the
reminder reached the customer (its invoices' statuses go to the ERP with the mark, in one
transaction), resend plans it again for the next cycle; both are audited with the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from engine.dunning_delivery import commit_sent
from rules.dunning import action_from_json
from store import StateStore
from store.dunning import NEEDS_DECISION, DunningActionRow, DunningActions

__all__ = ["DecisionError", "DunningBoard", "board", "decide"]


class DecisionError(ValueError):
    """A decision that cannot be carried out; the message says why."""


@dataclass
class DunningBoard:
    """One connection's reminders: what goes out today, what waits and why, what needs a person."""

    connection: str
    counts: dict[str, int]
    today: list[DunningActionRow] = field(default_factory=list)
    waiting: list[DunningActionRow] = field(default_factory=list)
    needs_decision: list[DunningActionRow] = field(default_factory=list)


def board(store: StateStore, connection: str, now: datetime, limit: int = 200) -> DunningBoard:
    """The reminders planned, waiting and in need of a decision (at most ``limit`` of each)."""
    book = DunningActions(store)
    end_of_day = datetime.combine(now.date() + timedelta(days=1), time(0), UTC)
    out = DunningBoard(connection, book.counts(connection))
    for row in book.with_status(connection, ["planned"], limit=limit * 2):
        retry_later = row.next_attempt_at is not None and row.next_attempt_at > now
        if row.send_at < end_of_day and not retry_later:
            out.today.append(row)
        else:
            out.waiting.append(row)
    out.today, out.waiting = out.today[:limit], out.waiting[:limit]
    out.needs_decision = book.with_status(connection, list(NEEDS_DECISION), limit=limit)
    return out


def decide(
    store: StateStore, key: str, *, resend: bool, by: str, note: str = "", now: datetime
) -> DunningActionRow:
    """Mark a reminder as sent, or send it again at the next cycle.

    Raises:
        DecisionError: no such reminder, or it is in a state that cannot be decided so.
    """
    book = DunningActions(store)
    row = book.get(key)
    if row is None:
        raise DecisionError(f"no dunning action {key}")
    allowed = ("in_doubt", "failed", "expired") if resend else ("planned", "in_doubt", "failed")
    if row.status not in allowed:
        raise DecisionError(
            f"{key} is {row.status}; only {' or '.join(allowed)} actions can be "
            + ("sent again" if resend else "marked as sent")
        )
    text = f"{'resend' if resend else 'marked as sent'} by {by}" + (f": {note}" if note else "")
    if resend:
        moved = book.resend(key, text)
    else:
        moved = commit_sent(
            store,
            row.connection,
            action_from_json(row.payload),
            lambda conn: book.mark_sent(key, text, conn=conn),
            decided_on=now.date(),
        )
    if not moved:
        raise DecisionError(f"{key} changed meanwhile; look again")
    store.audit(
        "dunning_resend" if resend else "dunning_marked_sent",
        connection=row.connection,
        subject=f"customer/{row.customer_id}",
        detail={"key": key, "was": row.status, "by": by, "note": note, "via": "workspace"},
    )
    return row
