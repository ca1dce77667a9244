"""A collector's call outcome logged from the worklist: what ``arbridge dunning call`` records.

The same checks (a promise needs its date, a dispute its invoices, only open invoices of the
customer), the same row in ``dunning_calls`` and the same ``dunning_call`` audit entry in one
transaction, so the planner honours it at its next cycle exactly as a call recorded at the
command line: a promise pauses the invoices until the day after its date, a dispute until its
``until`` day (30 days by default), and the next cycle writes "promised" or "disputed" to the ERP.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from mapping.models import Customer, Invoice, Note, Stream, TargetType
from store import StateStore
from store.dunning import DunningCalls

__all__ = ["OUTCOMES", "CallError", "log_call"]

OUTCOMES = ("reached", "no_answer", "promise", "dispute")
DISPUTE_DAYS = 30


class CallError(ValueError):
    """A call outcome that cannot be recorded; the message says what to fix."""


def log_call(
    store: StateStore,
    connection: str,
    customer_id: str,
    *,
    outcome: str,
    at: datetime,
    by: str,
    invoices: Sequence[str] = (),
    promised_date: date | None = None,
    until: date | None = None,
    note: str = "",
    note_to_erp: bool = False,
) -> str:
    """Record one call's outcome and audit it with the user; returns what was recorded, in words.

    With ``note_to_erp`` (the connection writes back and its connector writes notes), the call is
    also queued as a note on the customer in the ERP, in the same transaction.

    Raises:
        CallError: an unknown outcome or customer, a promise without its date, a dispute without
            its invoices, or an invoice that is not one of the customer's open ones.
    """
    if outcome not in OUTCOMES:
        raise CallError(f"unknown outcome {outcome!r}: expected one of {', '.join(OUTCOMES)}")
    if outcome == "promise" and promised_date is None:
        raise CallError("a promise needs the day the customer will pay by")
    if outcome == "dispute" and not invoices:
        raise CallError("a dispute needs the invoice(s) it is about")
    if outcome not in ("promise", "dispute") and (promised_date or until):
        raise CallError("a promise date or a dispute's end belongs to a promise or a dispute")
    if not isinstance(store.get_record(connection, Stream.CUSTOMERS, customer_id), Customer):
        raise CallError(f"no customer {customer_id} in {connection}")
    records = store.customer_records(connection, Stream.INVOICES, customer_id)
    open_ids = {
        i.remote_id for i in records if isinstance(i, Invoice) and not i.deleted and i.open_amount > 0
    }
    unknown = [i for i in invoices if i not in open_ids]
    if unknown:
        raise CallError(
            f"{', '.join(unknown)}: not an open invoice of customer {customer_id} in {connection}"
        )
    named = (list(invoices) or sorted(open_ids)) if outcome == "promise" else list(invoices)
    if outcome == "dispute" and until is None:
        until = at.date() + timedelta(days=DISPUTE_DAYS)
    said = {
        "reached": "reached",
        "no_answer": "not reached",
        "promise": f"promised to pay {', '.join(named)} by {promised_date}",
        "dispute": f"disputes {', '.join(named)}; left out of reminders until {until}",
    }[outcome]
    detail = {
        "outcome": outcome,
        "invoice_ids": named,
        "promised_date": promised_date.isoformat() if promised_date else None,
        "until": until.isoformat() if until else None,
        "by": by,
        "note": note,
        "via": "workspace",
    }
    with store.transaction() as conn:
        DunningCalls(store).record(
            connection,
            customer_id,
            at=at,
            outcome=outcome,
            invoice_ids=named,
            promised_date=promised_date,
            until=until,
            note=note or None,
            recorded_by=by,
            conn=conn,
        )
        if note_to_erp:
            text = f"Call {at.date().isoformat()} by {by}: {said}." + (f" {note}" if note else "")
            op = Note(
                target_type=TargetType.CUSTOMER, target_id=customer_id, text=text[:4000], decided_on=at.date()
            )
            detail["erp_note"] = store.enqueue(connection, [op], conn=conn)[0]
        store.audit(
            "dunning_call", connection=connection, subject=f"customer/{customer_id}", detail=detail, conn=conn
        )
    return said + ("; a note goes to the ERP at the next cycle" if note_to_erp else "")
