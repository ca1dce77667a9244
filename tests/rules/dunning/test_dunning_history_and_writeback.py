"""History makes reruns idempotent and stays small; decisions are written back to the invoices."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from mapping.models import CollectionStatus, TargetType
from rules.dunning import HistoryEntry, SkipCode, summarize_history, to_operations
from tests.rules.dunning.builders import (
    AS_OF,
    actions,
    as_history,
    customer,
    invoice,
    make_policy,
    run,
    skips,
)

TODAY = date(2026, 11, 23)


def test_second_run_on_the_same_day_with_history_plans_nothing() -> None:
    pol = make_policy(std__courtesy={"days_before_due": 5, "channels": ["email"]})
    custs = [customer("C1"), customer("C2", time_zone="America/Los_Angeles"), customer("C3")]
    invs = [
        invoice("1", TODAY - timedelta(days=30)),
        invoice("2", TODAY - timedelta(days=9), cid="C2", currency="USD"),
        invoice("3", TODAY + timedelta(days=2), cid="C3"),
    ]
    first = run(pol, custs, invs)
    assert len(actions(first)) == 3
    history = as_history(first)
    for hours in (0, 2, 9):
        again = run(pol, custs, invs, history=history, as_of=AS_OF + timedelta(hours=hours))
        assert actions(again) == []
        assert {s.skipped for s in skips(again)} == {SkipCode.ALREADY_CONTACTED_TODAY}


def test_history_skip_lines_are_ignored_and_action_lines_are_read() -> None:
    skip_line = {"customer_id": "C1", "invoice_ids": ["1"], "skipped": "disputed", "reason": "…"}
    assert HistoryEntry.from_json(skip_line) is None
    [action] = actions(run(make_policy(), [customer()], [invoice("1", TODAY - timedelta(days=8))]))
    entry = HistoryEntry.from_json(action.to_json())
    assert entry is not None
    assert (entry.kind, entry.level, entry.channel, entry.at) == ("action", 1, "email", AS_OF)


def test_history_summary_grows_with_invoices_not_with_events() -> None:
    events = [
        HistoryEntry(
            kind="action",
            customer_id="C1",
            at=AS_OF - timedelta(days=i),
            currency="EUR",
            level=1 + i % 3,
            channel="email",
            invoice_ids=("1", "2"),
        )
        for i in range(20_000)
    ] + [
        HistoryEntry(
            kind="payment",
            customer_id="C1",
            due_date=date(2020, 1, 1) + timedelta(days=i),
            paid_date=date(2020, 1, 1) + timedelta(days=i + i % 10),
        )
        for i in range(5_000)
    ]
    summary = summarize_history(events, AS_OF)["C1"]
    assert set(summary.invoice_levels) == {"1", "2"}
    assert summary.invoice_levels["1"] == (3, AS_OF - timedelta(days=2))  # highest level, its latest time
    assert len(summary.contacts["email"]) == 91  # only the caps' 90-day horizon is kept
    assert len(summary.recent) == 3
    assert summary.payments == 5_000


def test_write_back_sets_level_status_and_next_action_date_on_each_invoice() -> None:
    invs = [invoice("1", TODAY - timedelta(days=30)), invoice("2", TODAY - timedelta(days=10))]
    [action] = actions(run(make_policy(), [customer()], invs))
    ops = to_operations(action)
    assert [op.target_id for op in ops] == ["1", "2"]
    for op in ops:
        assert op.target_type == TargetType.INVOICE
        assert op.collection_status == CollectionStatus.REMINDED
        assert op.dunning_level == 1
        # Level 2 needs 21 days overdue (the oldest is already 30) and 10 days' gap.
        assert op.next_action_date == TODAY + timedelta(days=10)
        assert op.reason == action.reason
    assert ops[0].content() != ops[1].content()


def test_final_level_writes_its_escalated_status_and_no_next_date() -> None:
    inv = invoice("1", TODAY - timedelta(days=60), dunning_level=2)
    [action] = actions(run(make_policy(), [customer()], [inv]))
    [op] = to_operations(action)
    assert (op.collection_status, op.dunning_level, op.next_action_date) == (
        CollectionStatus.ESCALATED,
        3,
        None,
    )


def test_pauses_write_back_the_status_that_names_them_and_waits_write_nothing() -> None:
    invs = [
        invoice("1", TODAY - timedelta(days=30), disputed=True),
        invoice("2", TODAY - timedelta(days=30), promise_to_pay_date=TODAY + timedelta(days=3)),
        invoice("3", TODAY - timedelta(days=30), dunning_block=True),
        invoice("4", TODAY - timedelta(days=3), currency="USD"),
    ]
    results = skips(run(make_policy(), [customer()], invs))
    written = {
        op.target_id: (op.collection_status, op.next_action_date) for s in results for op in to_operations(s)
    }
    assert written == {
        "1": (CollectionStatus.DISPUTED, None),
        "2": (CollectionStatus.PROMISED, TODAY + timedelta(days=4)),
        "3": (CollectionStatus.ON_HOLD, None),
    }
    [wait] = [s for s in results if s.skipped == SkipCode.WAITING_FOR_DAYS_OVERDUE]
    assert to_operations(wait) == []


def test_payment_history_feeds_average_days_late_and_trend() -> None:
    events = [
        HistoryEntry(
            kind="payment",
            customer_id="C1",
            due_date=date(2026, m, 1),
            paid_date=date(2026, m, 1 + late),
            amount=Decimal("10"),
        )
        for m, late in [(1, 0), (2, 2), (3, 4), (4, 10), (5, 12), (6, 14)]
    ] + [
        HistoryEntry(
            kind="promise",
            customer_id="C1",
            promised_date=date(2026, 6, 1),
            kept=False,
            at=datetime(2026, 5, 20, tzinfo=UTC),
        )
    ]
    summary = summarize_history(events)["C1"]
    assert summary.average_days_late == Decimal(42) / 6
    assert summary.trend_days == Decimal(12) - Decimal(2)  # last three average 12, earlier three 2
    assert summary.broken_promises == 1
