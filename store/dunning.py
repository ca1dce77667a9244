"""The sending state of planned dunning communications, kept in the ``dunning_actions`` table.

A communication moves through these states, each change committed before the next step:

* ``planned`` — decided, not sent yet. ``next_attempt_at`` is set when a retry waits, and to the
  send time itself when a person or a recovery asks for the send again: such an action is due at
  once and never expires;
* ``sending`` — claimed by one process (``claimed_by``), which then connects to the channel;
  ``committed_at`` is set just before the point of no return (the SMTP ``DATA``, the file rename,
  the webhook POST). A ``sending`` row left behind by a dead process without ``committed_at`` was
  certainly not delivered; with it, it may have been;
* ``sent`` — the channel accepted it (``reference``: Message-ID, file, HTTP status);
* ``failed`` — refused for good (the SMTP server's 5xx answer) or retried too often;
* ``in_doubt`` — an e-mail whose process died after the commit point: held for a person, never
  resent automatically;
* ``cancelled`` — not sent because its invoices changed since it was planned (left out of the
  planner's history, so the planner plans afresh);
* ``expired`` — not sent within the configured time after its send time (left out of the history
  too: the planner plans its level again).

Every update names the state it expects, so two processes never both move the same row.

A communication's collection status reaches the ERP only once its channel accepted it: ``sent`` is
committed in the same transaction as the status writes of its invoices (``StateStore.commit_decision``
with ``record=…sent``), so the ERP never shows "reminded" for a reminder that did not go out, and a
reminder that went out never lacks its status.

:class:`DunningCalls` keeps what a collector's call attempts achieved (``dunning_calls``): those are
not dunning actions, so they count against the call caps without reaching a level.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store import schema as t
from store.state import StateStore, StoreError, any_of, from_ts, now, ts

__all__ = ["NEEDS_DECISION", "OPEN_STATES", "DunningActionRow", "DunningActions", "DunningCalls"]

# States a person has to look at.
NEEDS_DECISION = ("in_doubt", "failed")
# States that still lead to a send by themselves.
OPEN_STATES = ("planned", "sending")


@dataclass(frozen=True, slots=True)
class DunningActionRow:
    """One planned communication and how far its sending got."""

    key: str
    connection: str
    customer_id: str
    send_at: datetime
    channel: str
    level: int
    payload: dict[str, Any]
    status: str
    created_at: datetime
    sent_at: datetime | None
    attempts: int
    next_attempt_at: datetime | None
    claimed_by: str | None
    claimed_at: datetime | None
    committed_at: datetime | None
    reference: str | None
    last_error: str | None
    detail: str | None

    @property
    def recipient(self) -> str | None:
        """The e-mail address or phone number the action was planned for."""
        value = self.payload.get("recipient")
        return None if value is None else str(value)


def _row(r: Any) -> DunningActionRow:
    return DunningActionRow(
        key=r.key,
        connection=r.connection,
        customer_id=r.customer_id,
        send_at=datetime.fromisoformat(r.send_at),
        channel=r.channel,
        level=int(r.level),
        payload=json.loads(r.payload),
        status=r.status,
        created_at=datetime.fromisoformat(r.created_at),
        sent_at=from_ts(r.sent_at),
        attempts=int(r.attempts or 0),
        next_attempt_at=from_ts(r.next_attempt_at),
        claimed_by=r.claimed_by,
        claimed_at=from_ts(r.claimed_at),
        committed_at=from_ts(r.committed_at),
        reference=r.reference,
        last_error=r.last_error,
        detail=r.detail,
    )


class DunningActions:
    """Reads and moves planned dunning communications in the state store."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.engine = store.engine

    # -- reading ----------------------------------------------------------------------------------

    def get(self, key: str) -> DunningActionRow | None:
        """The action with this key."""
        d = t.dunning_actions
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(d).where(d.c.key == key)).first()
        return None if row is None else _row(row)

    def find(self, prefix: str, connection: str | None = None) -> list[DunningActionRow]:
        """Actions whose key starts with ``prefix`` (a person types the first characters)."""
        d = t.dunning_actions
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        q = sa.select(d).where(d.c.key.like(f"{escaped}%", escape="\\")).order_by(d.c.key).limit(10)
        if connection:
            q = q.where(d.c.connection == connection)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def with_status(
        self, connection: str, statuses: Sequence[str], limit: int | None = None
    ) -> list[DunningActionRow]:
        """Actions in any of ``statuses``, by send time."""
        d = t.dunning_actions
        q = (
            sa.select(d)
            .where(d.c.connection == connection, d.c.status.in_(list(statuses)))
            .order_by(d.c.send_at, d.c.key)
        )
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def due(self, connection: str, at: datetime) -> list[DunningActionRow]:
        """Planned actions whose send time (and retry time, if any) has come, oldest first."""
        d = t.dunning_actions
        stamp = ts(at)
        q = (
            sa.select(d)
            .where(
                d.c.connection == connection,
                d.c.status == "planned",
                d.c.send_at <= stamp,
                sa.or_(d.c.next_attempt_at.is_(None), d.c.next_attempt_at <= stamp),
            )
            .order_by(d.c.send_at, d.c.key)
        )
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def counts(self, connection: str) -> dict[str, int]:
        """How many actions are in each state."""
        return self.store.dunning_counts(connection)

    # -- the sending protocol ---------------------------------------------------------------------

    def _move(
        self,
        key: str,
        expected: Iterable[str],
        owner: str | None = None,
        *,
        conn: Connection | None = None,
        **values: Any,
    ) -> bool:
        d = t.dunning_actions
        q = sa.update(d).where(d.c.key == key, d.c.status.in_(list(expected)))
        if owner is not None:
            q = q.where(d.c.claimed_by == owner)
        # The planner re-plans the customers whose history changed since its last plan.
        values.setdefault("changed_at", ts(now()))
        if conn is not None:
            return bool(conn.execute(q.values(**values)).rowcount)
        with self.engine.begin() as new:
            return bool(new.execute(q.values(**values)).rowcount)

    def last_statuses(self, connection: str, invoice_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The newest collection status queued for each invoice, not parked or dropped: what the ERP
        shows, or will."""
        o = t.outbox
        if not invoice_ids:
            return {}
        q = (
            sa.select(o.c.target_id, o.c.payload)
            .where(
                o.c.connection == connection,
                o.c.op_type == "collection_status",
                o.c.target_type == "invoice",
                o.c.target_id.in_(list(invoice_ids)),
                o.c.status.not_in(("parked", "dropped")),
            )
            .order_by(o.c.id)
        )
        with self.engine.connect() as conn:
            return {str(target): json.loads(payload) for target, payload in conn.execute(q)}

    def claim(self, key: str, owner: str) -> bool:
        """Take a planned action for sending; False when another process took it first."""
        d = t.dunning_actions
        return self._move(
            key,
            ["planned"],
            status="sending",
            claimed_by=owner,
            claimed_at=ts(now()),
            committed_at=None,
            attempts=d.c.attempts + 1,
        )

    def commit(self, key: str, owner: str) -> None:
        """Record that the send is about to pass its point of no return.

        Raises:
            StoreError: the claim was lost (another process took the action over); the send must
                stop here, before anything reaches the customer.
        """
        if not self._move(key, ["sending"], owner, committed_at=ts(now())):
            raise StoreError(f"dunning action {key} is no longer claimed by this process")

    def sent(
        self, key: str, reference: str, note: str | None = None, *, conn: Connection | None = None
    ) -> bool:
        """The channel accepted the communication (on ``conn``: with the status writes it brings).

        Returns:
            Whether the row moved (False: it was already sent).
        """
        values: dict[str, Any] = {"status": "sent", "sent_at": ts(now()), "reference": reference[:2000]}
        values["last_error"] = None
        if note:
            values["detail"] = note[:2000]
        # Whatever another process concluded meanwhile (in doubt, say), this one knows it was sent.
        return self._move(key, ["sending", "in_doubt", "planned", "failed"], conn=conn, **values)

    def retry(self, key: str, owner: str | None, error: str, at: datetime) -> None:
        """A temporary failure: back to planned, tried again from ``at``."""
        self._move(
            key,
            ["sending"],
            owner,
            status="planned",
            next_attempt_at=ts(at),
            last_error=error[:2000],
            claimed_by=None,
            committed_at=None,
        )

    def fail(
        self, key: str, error: str, expected: Sequence[str] = ("sending",), *, conn: Connection | None = None
    ) -> None:
        """Refused for good, with the reason (an SMTP server's answer, a template error)."""
        self._move(key, expected, conn=conn, status="failed", last_error=error[:2000], claimed_by=None)

    def in_doubt(self, key: str, error: str, *, conn: Connection | None = None) -> None:
        """An e-mail that may or may not have reached the relay: held for a person."""
        self._move(key, ["sending"], conn=conn, status="in_doubt", last_error=error[:2000], claimed_by=None)

    def release(self, key: str, note: str) -> None:
        """A send interrupted where sending again is safe: planned again, right away."""
        d = t.dunning_actions
        self._move(
            key,
            ["sending"],
            status="planned",
            # Due again at once, and never expired: it was on its way already.
            next_attempt_at=d.c.send_at,
            claimed_by=None,
            committed_at=None,
            detail=note[:2000],
        )

    def cancel(self, key: str, reason: str, *, conn: Connection | None = None) -> bool:
        """Not sent because it no longer holds; the planner may plan it afresh."""
        return self._move(key, ["planned"], conn=conn, status="cancelled", last_error=reason[:2000])

    def expire(self, key: str, reason: str, *, conn: Connection | None = None) -> bool:
        """Not sent because it is too late now."""
        return self._move(key, ["planned"], conn=conn, status="expired", last_error=reason[:2000])

    # -- a person's decisions ----------------------------------------------------------------------

    def resend(self, key: str, note: str, *, conn: Connection | None = None) -> bool:
        """Send an in-doubt, failed or expired action (again) on the next run."""
        d = t.dunning_actions
        return self._move(
            key,
            ["in_doubt", "failed", "expired"],
            conn=conn,
            status="planned",
            attempts=0,
            # Due at once, and never expired: a person asked for it.
            next_attempt_at=d.c.send_at,
            claimed_by=None,
            committed_at=None,
            detail=note[:2000],
        )

    def mark_sent(self, key: str, note: str, *, conn: Connection | None = None) -> bool:
        """Record that an action did reach the customer (checked by a person): never sent again.

        Also for a planned one, e.g. after a store was restored from a backup older than its send.
        """
        return self._move(
            key,
            ["planned", "in_doubt", "failed"],
            conn=conn,
            status="sent",
            sent_at=ts(now()),
            claimed_by=None,
            detail=note[:2000],
        )


class DunningCalls:
    """What collectors' call attempts achieved, per connection and customer."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.engine = store.engine

    def record(
        self,
        connection: str,
        customer_id: str,
        *,
        at: datetime,
        outcome: str,
        invoice_ids: Sequence[str] = (),
        promised_date: date | None = None,
        until: date | None = None,
        note: str | None = None,
        recorded_by: str | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Keep one call attempt's outcome (on ``conn``: with what it brings, such as an audit entry)."""
        row = {
            "connection": connection,
            "customer_id": customer_id,
            "at": ts(at),
            "outcome": outcome,
            "invoice_ids": json.dumps(list(invoice_ids)),
            "promised_date": promised_date.isoformat() if promised_date else None,
            "until": until.isoformat() if until else None,
            "note": note[:2000] if note else None,
            "recorded_by": recorded_by,
            "recorded_at": ts(now()),
        }
        if conn is not None:
            conn.execute(sa.insert(t.dunning_calls).values(**row))
            return
        with self.engine.begin() as new:
            new.execute(sa.insert(t.dunning_calls).values(**row))

    def history(self, connection: str, customer_id: str | None = None) -> Iterator[dict[str, Any]]:
        """The call outcomes as history lines (``kind: call``), oldest first."""
        c = t.dunning_calls
        q = sa.select(c).where(c.c.connection == connection).order_by(c.c.at, c.c.id)
        if customer_id is not None:
            q = q.where(c.c.customer_id == customer_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        for r in rows:
            yield _call_line(r)


class DunningPlanReads:
    """What the dunning planner reads when it re-plans only some customers.

    ``changed_customers`` names the customers whose records, history or calls changed since a
    moment, and those whose re-plan day has come; the other reads fetch those customers' records
    and history along the ``(connection, customer)`` indexes, never the whole book.
    """

    # Ids per ``IN`` list: far below SQLite's and PostgreSQL's bind-parameter limits.
    CHUNK = 500

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.engine = store.engine

    def changed_customers(
        self, connection: str, since: str, woken_by: date, quarantine_stream: str | None = None
    ) -> set[str]:
        """Customers with a record, planned action or call changed at or after ``since`` (a stored
        timestamp) or a status write parked or dropped since, whose re-plan day is ``woken_by`` or
        earlier, or set aside in quarantine under ``quarantine_stream``."""
        r, d, c, w, qt = t.records, t.dunning_actions, t.dunning_calls, t.dunning_wake, t.quarantine
        out: set[str] = set()
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(r.c.stream, r.c.remote_id, r.c.customer_remote_id).where(
                    r.c.connection == connection, r.c.changed_at >= since
                )
            )
            for stream, remote_id, customer in rows:
                if stream == "customers":
                    out.add(str(remote_id))
                elif customer:
                    out.add(str(customer))
            for q in (
                sa.select(d.c.customer_id).where(d.c.connection == connection, d.c.changed_at >= since),
                sa.select(c.c.customer_id).where(c.c.connection == connection, c.c.recorded_at >= since),
                sa.select(w.c.customer_id).where(
                    w.c.connection == connection, w.c.wake_on <= woken_by.isoformat()
                ),
                sa.select(qt.c.remote_id).where(
                    qt.c.connection == connection,
                    qt.c.stream == (quarantine_stream or ""),
                    qt.c.remote_id.is_not(None),
                ),
            ):
                out.update(str(x) for (x,) in conn.execute(q))
            # A status write parked or dropped since: what the ERP will show is the one before it,
            # so the customer's pauses are decided again. Read in two steps: as one statement,
            # SQLite (which keeps no statistics) walked every invoice of the book and every write
            # to an invoice to find the few given up.
            o = t.outbox
            given_up = conn.execute(
                sa.select(o.c.target_type, o.c.target_id).where(
                    o.c.connection == connection,
                    o.c.op_type == "collection_status",
                    o.c.status.in_(["parked", "dropped"]),
                    o.c.finished_at >= since,
                )
            )
            invoices = sorted({str(target) for kind, target in given_up if kind == "invoice"})
            for i in range(0, len(invoices), self.CHUNK):
                # ``deleted`` is read so that SQLite finds the invoices along the primary key, not
                # along ``ix_records_customer``, which holds the other two columns read.
                owners = sa.select(r.c.customer_remote_id, r.c.deleted).where(
                    r.c.connection == connection,
                    r.c.stream == "invoices",
                    any_of(self.store.dialect, r.c.remote_id, invoices[i : i + self.CHUNK]),
                )
                out.update(str(customer) for customer, _ in conn.execute(owners) if customer)
        return out

    def records_of(
        self, connection: str, stream: str, customer_ids: Sequence[str], *, plannable: bool = False
    ) -> list[tuple[str, str]]:
        """``(customer id, record JSON)`` of the customers' records in ``stream``, not deleted ones;
        for ``customers`` the customers' own records.

        ``plannable`` leaves out, in the database, the invoices whose status says they are settled
        and the payments with nothing unapplied: what the planner would set aside after reading
        them (it still checks what it is given).
        """
        r = t.records
        key = r.c.remote_id if stream == "customers" else r.c.customer_remote_id
        out: list[tuple[str, str]] = []
        query = sa.select(key, r.c.data).where(
            r.c.connection == connection, r.c.stream == stream, r.c.deleted.is_(False)
        )
        # Each field is read once a row: the database parses the record's JSON for each reading
        # (on PostgreSQL most of the statement's time), and a field it lacks counts as plannable.
        if plannable and stream == "invoices":
            status = sa.func.coalesce(self._json_field("status"), "open")
            query = query.where(status.in_(["open", "partially_paid"]))
        elif plannable and stream == "payments":
            left = sa.func.coalesce(self._json_field("unapplied_amount"), "1")
            query = query.where(sa.cast(left, sa.Numeric) > 0)
        with self.engine.connect() as conn:
            for i in range(0, len(customer_ids), self.CHUNK):
                rows = conn.execute(
                    query.where(any_of(self.store.dialect, key, customer_ids[i : i + self.CHUNK])).order_by(
                        key, r.c.remote_id
                    )
                )
                out.extend((str(cid), str(data)) for cid, data in rows)
        return out

    def _json_field(self, name: str) -> Any:
        """A top-level field of a record's JSON, as text (NULL when the record has none)."""
        data = t.records.c.data
        if self.store.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import JSON

            return sa.cast(data, JSON)[name].astext
        return sa.func.json_extract(data, f"$.{name}")

    def history(self, connection: str, customer_ids: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """The planner's history lines (planned actions, then call outcomes) of these customers or of
        all: cancelled and expired actions left out, failed ones marked (as ``dunning_history``)."""
        d, c = t.dunning_actions, t.dunning_calls
        chunks: list[list[str] | None] = (
            [None]
            if customer_ids is None
            else [list(customer_ids[i : i + self.CHUNK]) for i in range(0, len(customer_ids), self.CHUNK)]
        )
        for chunk in chunks:
            actions = sa.select(d.c.payload, d.c.status).where(
                d.c.connection == connection, d.c.status.not_in(["cancelled", "expired"])
            )
            calls = sa.select(c).where(c.c.connection == connection)
            if chunk is not None:
                actions = actions.where(any_of(self.store.dialect, d.c.customer_id, chunk))
                calls = calls.where(any_of(self.store.dialect, c.c.customer_id, chunk))
            with self.engine.connect() as conn:
                planned = conn.execute(actions.order_by(d.c.send_at, d.c.key)).all()
                called = conn.execute(calls.order_by(c.c.at, c.c.id)).all()
            for payload, status in planned:
                data = json.loads(payload)
                if status == "failed":
                    data["outcome"] = "failed"
                yield data
            for row in called:
                yield _call_line(row)

    def save_wakes(
        self, connection: str, wakes: dict[str, date | None], *, conn: Connection | None = None
    ) -> None:
        """Remember each customer's next re-plan day (None: only a change re-plans it)."""
        if not wakes:
            return
        stamp = ts(now())
        rows = [
            {
                "connection": connection,
                "customer_id": cid,
                "wake_on": day.isoformat() if day else None,
                "planned_at": stamp,
            }
            for cid, day in wakes.items()
        ]
        with self.store._tx(conn) as c:
            for i in range(0, len(rows), 1000):
                self.store._upsert(
                    c,
                    t.dunning_wake,
                    rows[i : i + 1000],
                    ["connection", "customer_id"],
                    ["wake_on", "planned_at"],
                )

    def forget_wakes(self, connection: str, *, conn: Connection | None = None) -> None:
        """Drop every re-plan day of the connection (a full re-plan writes them all again)."""
        w = t.dunning_wake
        with self.store._tx(conn) as c:
            c.execute(sa.delete(w).where(w.c.connection == connection))


def _call_line(r: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "kind": "call",
        "customer_id": r.customer_id,
        "at": r.at,
        "outcome": r.outcome,
        "invoice_ids": json.loads(r.invoice_ids),
    }
    if r.promised_date:
        line["promised_date"] = r.promised_date
    if r.until:
        line["until"] = r.until
    if r.note:
        line["note"] = r.note
    return line


def planned_keys(store: StateStore, keys: Sequence[str]) -> set[str]:
    """Which of these dunning actions are stored and still stand (not cancelled, not expired)."""
    if not keys:
        return set()
    d = t.dunning_actions
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(d.c.key).where(
                any_of(store.dialect, d.c.key, keys), d.c.status.not_in(["cancelled", "expired"])
            )
        )
        return {str(k) for (k,) in rows}
