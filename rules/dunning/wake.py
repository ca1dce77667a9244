"""The next day a customer's dunning plan may change although none of its records does.

The planner's output depends on its inputs and on the day: an invoice enters the courtesy window or
falls due, a level's days overdue are reached, a wait between levels or a pause ends, a contact
leaves a channel's cap. A planner that re-plans only the customers whose records changed must also
re-plan, on that day, the customers whose plan changes by itself. This module names the day.

Every date the planner compares today against is a candidate; the earliest one after today is the
day to plan again. A candidate too many only costs one more re-plan of that customer, a missing one
would be a reminder not sent: when in doubt, a date is added.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from mapping.models import Customer, Invoice
from rules.dunning.contact import zone_for
from rules.dunning.history import CustomerHistory
from rules.dunning.planner import PlannedAction, Skip, SkipCode
from rules.dunning.policy import Channel, DunningPolicy

__all__ = ["next_replan_day"]


def next_replan_day(
    policy: DunningPolicy,
    customer: Customer,
    invoices: Sequence[Invoice],
    history: CustomerHistory | None,
    as_of: datetime,
    planned: Iterable[PlannedAction | Skip],
) -> date | None:
    """The customer's first local day after ``as_of``'s on which its plan may differ by itself.

    Args:
        policy: the policy the plan was made with.
        customer: the customer.
        invoices: its invoices (closed ones give no date).
        history: its history summary, if any.
        as_of: when the plan was made.
        planned: what the planner made of the customer at ``as_of``.

    Returns:
        The day, in the customer's time zone, or None when nothing but a change of its records or
        history can change its plan.
    """
    zone = zone_for(customer.time_zone, policy.default_time_zone)
    today = as_of.astimezone(zone).date()
    _, pol = policy.policy_for(customer)
    levels = pol.levels
    courtesy = pol.courtesy.days_before_due if pol.courtesy else None
    hist = history or CustomerHistory()
    days: list[date | None] = []
    for inv in invoices:
        if inv.deleted or inv.open_amount <= 0:
            continue
        due = inv.due_date or _plus(inv.issue_date, pol.default_terms_days)
        if due is None:
            continue  # a date beyond the calendar: the planner sets the customer aside
        days.append(_plus(due, 1))
        if courtesy is not None:
            days.append(_plus(due, -courtesy))
        days.extend(_plus(due, level.days_overdue) for level in levels)
        promise = hist.promise_for(inv)
        if promise is not None:
            days.append(_plus(promise, 1))
        disputed = hist.dispute_until(inv.remote_id)
        if disputed is not None:
            days.append(_plus(disputed, 1))
    for at in (*hist.last_contact_at.values(), *hist.last_level_at.values()):
        day = at.astimezone(zone).date()
        days.append(_plus(day, 1))
        days.extend(_plus(day, level.min_gap_days) for level in levels)
    periods = {cap.period_days for ch in Channel for cap in policy.caps_for(ch)}
    for moments in hist.contacts.values():
        for at in moments:
            day = at.astimezone(zone).date()
            days.extend(_plus(day, p) for p in periods)
            days.extend(_plus(day, p + 1) for p in periods)
    for item in planned:
        if isinstance(item, PlannedAction):
            days.append(_plus(today, 1))
            days.append(item.next_action_date)
            continue
        days.append(item.until)
        if item.skipped in (SkipCode.NO_ALLOWED_CHANNEL, SkipCode.PLANNING_FAILED):
            # A channel's cap frees up as its contacts age; a failure may be gone tomorrow.
            days.append(_plus(today, 1))
    later = [d for d in days if d is not None and d > today]
    return min(later) if later else None


def _plus(day: date, days: int) -> date | None:
    """``day`` moved by ``days``, or None past the calendar's end (a record's impossible date)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return None
