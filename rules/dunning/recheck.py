"""The last look before a planned communication goes out: does it still hold?

Between planning and sending, the next pull may bring a payment, a dispute, a credit memo or a
new e-mail address. A reminder listing an invoice that was paid an hour ago is the complaint every
collections team dreads, so the sender checks the action against the records as they are now and
sends only when nothing it states has changed. Otherwise the action is cancelled and the planner,
which sees the new state, plans afresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from mapping.models import CreditMemo, Customer, DocumentStatus, Invoice, Payment
from rules.dunning.credits import credit_lines, total_credit
from rules.dunning.planner import PlannedAction, memo_pending
from rules.dunning.policy import Channel

__all__ = ["why_not_send"]

_OPEN = (DocumentStatus.OPEN, DocumentStatus.PARTIALLY_PAID)


def why_not_send(
    action: PlannedAction,
    customer: Customer | None,
    invoices: Mapping[str, Invoice],
    today: date,
    credit_memos: Iterable[CreditMemo] = (),
    payments: Iterable[Payment] | None = None,
    open_invoice_ids: set[str] | None = None,
) -> str | None:
    """The reason the action must not be sent as planned, or ``None`` when it still holds.

    Args:
        action: the planned action.
        customer: the customer as stored now (``None``: no longer known).
        invoices: the listed invoices as stored now, by remote id (missing ones are gone).
        today: the customer's local day now (a promise to pay up to this day pauses the invoice).
        credit_memos: the customer's credit memos as stored now; an open one raised against a
            listed invoice pauses that invoice, as it does in the planner.
        payments: the customer's payments as stored now; given, the credits the action states
            (unapplied payments, open credit memos) must still be what they are.
        open_invoice_ids: the customer's open invoices now (which credit memos pause one of them
            rather than count as credit); the listed ones when not given.

    Returns:
        A sentence for the operator, or ``None``.
    """
    if customer is None or customer.deleted:
        return f"customer {action.customer_id} is no longer in the ERP"
    if customer.dunning_block:
        return f"a dunning block was set on customer {action.customer_id}"
    opted_out = {c.strip().lower() for c in customer.opt_out_channels}
    if action.channel.value in opted_out or "all" in opted_out:
        return f"the customer opted out of {action.channel.value}"
    if action.channel == Channel.EMAIL and (customer.email or "") != (action.recipient or ""):
        return "the customer's e-mail address changed"
    if action.channel == Channel.CALL and (customer.phone or "") != (action.recipient or ""):
        return "the customer's phone number changed"
    if action.channel == Channel.LETTER and action.recipient is not None:
        address = customer.billing_address
        if address is None or " / ".join(address.printed_lines()) != action.recipient:
            return "the customer's postal address changed"
    memos = list(credit_memos)
    if payments is not None:
        ids = open_invoice_ids if open_invoice_ids is not None else set(action.invoice_ids)
        now = total_credit(credit_lines(action.currency, memos, payments, ids))
        if now != action.credit_basis:
            return (
                f"the customer's unapplied payments and open credits are {now} {action.currency} now, "
                f"not {action.credit_basis}"
            )
    pending = {m.applies_to_invoice_id: m for m in memos if memo_pending(m)}
    for line in action.lines:
        inv = invoices.get(line.invoice_id)
        label = line.number or line.invoice_id
        if inv is None or inv.deleted or inv.status not in _OPEN or inv.open_amount <= 0:
            return f"invoice {label} is no longer open"
        if inv.open_amount != line.open_amount:
            return f"invoice {label} now has {inv.open_amount} {inv.currency} open, not {line.open_amount}"
        if inv.disputed:
            return f"invoice {label} is disputed now"
        if inv.dunning_block:
            return f"a dunning block was set on invoice {label}"
        if inv.promise_to_pay_date is not None and inv.promise_to_pay_date >= today:
            return f"the customer promised to pay invoice {label} by {inv.promise_to_pay_date.isoformat()}"
        memo = pending.get(line.invoice_id)
        if memo is not None:
            return (
                f"credit memo {memo.number or memo.remote_id} ({memo.open_amount} {memo.currency}) "
                f"is pending against invoice {label} now"
            )
    return None
