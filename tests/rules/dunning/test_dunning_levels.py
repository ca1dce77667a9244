"""Levels, gaps, no skipping, final level, courtesy notice, segments, determinism."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from mapping.models import CollectionStatus
from rules.dunning import SkipCode
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


def test_first_level_is_sent_once_the_oldest_invoice_reaches_its_days_overdue() -> None:
    results = run(make_policy(), [customer()], [invoice("1", TODAY - timedelta(days=7))])
    [action] = actions(results)
    assert action.level == 1
    assert action.level_name == "first reminder"
    assert action.invoice_ids == ("1",)
    assert "7 days overdue (level 1 from 7)" in action.reason


def test_nothing_is_sent_before_the_first_level_is_due() -> None:
    results = run(make_policy(), [customer()], [invoice("1", TODAY - timedelta(days=6))])
    assert actions(results) == []
    [skip] = skips(results)
    assert skip.skipped == SkipCode.WAITING_FOR_DAYS_OVERDUE
    assert skip.until == TODAY + timedelta(days=1)
    assert "6 days overdue" in skip.reason


def test_second_level_waits_for_the_minimum_gap() -> None:
    pol = make_policy()
    inv = invoice("1", TODAY - timedelta(days=30))
    first_day = AS_OF - timedelta(days=5)
    history = as_history(run(pol, [customer()], [inv], as_of=first_day))
    assert [a.level for a in actions(run(pol, [customer()], [inv], as_of=first_day))] == [1]

    results = run(pol, [customer()], [inv], history=history)
    assert actions(results) == []
    [skip] = skips(results)
    assert skip.skipped == SkipCode.WAITING_FOR_GAP
    assert "5 days ago" in skip.reason and "at least 10 days" in skip.reason
    assert skip.until == TODAY + timedelta(days=5)


def test_second_level_follows_once_the_gap_has_passed() -> None:
    pol = make_policy()
    inv = invoice("1", TODAY - timedelta(days=30))
    history = as_history(run(pol, [customer()], [inv], as_of=AS_OF - timedelta(days=10)))
    [action] = actions(run(pol, [customer()], [inv], history=history))
    assert action.level == 2
    assert "10 days since level 1 (minimum 10)" in action.reason


def test_a_customer_never_skips_a_level() -> None:
    pol = make_policy()
    # 100 days overdue: every level's days_overdue is met, yet the customer starts at level 1 …
    inv = invoice("1", TODAY - timedelta(days=100))
    history: list = []
    levels = []
    day = AS_OF
    for _ in range(40):
        results = run(pol, [customer()], [inv], history=history, as_of=day)
        for a in actions(results):
            levels.append((a.level, (day - AS_OF).days))
        history += as_history(results)
        day += timedelta(days=1)
    # … and climbs one level at a time, each after its minimum gap (10, then 14 days).
    assert levels == [(1, 0), (2, 10), (3, 24)]


def test_final_level_is_not_repeated() -> None:
    pol = make_policy()
    inv = invoice("1", TODAY - timedelta(days=90), dunning_level=3)
    results = run(pol, [customer()], [inv])
    assert actions(results) == []
    [skip] = skips(results)
    assert skip.skipped == SkipCode.FINAL_LEVEL_REACHED


def test_level_written_in_the_erp_counts_when_history_is_missing() -> None:
    pol = make_policy()
    # The ERP says level 1 was sent; with no history its date is taken as due date + 7 days.
    inv = invoice("1", TODAY - timedelta(days=25), dunning_level=1)
    [action] = actions(run(pol, [customer()], [inv]))
    assert action.level == 2
    inv_recent = invoice("1", TODAY - timedelta(days=12), dunning_level=1)
    [skip] = skips(run(pol, [customer()], [inv_recent]))
    assert skip.skipped == SkipCode.WAITING_FOR_DAYS_OVERDUE


def test_broken_promise_escalates_without_waiting() -> None:
    pol = make_policy()
    due = TODAY - timedelta(days=20)
    # Level 1 went out 13 days ago; then the customer promised to pay by 18 November and did not.
    # Without the broken promise, level 2 would wait until the invoice is 21 days overdue.
    earlier = as_history(run(pol, [customer()], [invoice("1", due)], as_of=AS_OF - timedelta(days=13)))
    inv_promised = invoice("1", due, promise_to_pay_date=TODAY - timedelta(days=5))
    assert skips(run(pol, [customer()], [invoice("1", due)], history=earlier))[0].skipped == (
        SkipCode.WAITING_FOR_DAYS_OVERDUE
    )
    [action] = actions(run(pol, [customer()], [inv_promised], history=earlier))
    assert action.level == 2
    assert "promise to pay broken for INV-1 (by 2026-11-18)" in action.reason
    # Once escalated for the broken promise, the ordinary waits apply again.
    later = earlier + as_history([action])
    results = run(pol, [customer()], [inv_promised], history=later, as_of=AS_OF + timedelta(days=1))
    assert actions(results) == []
    assert skips(results)[0].skipped == SkipCode.WAITING_FOR_DAYS_OVERDUE


def test_courtesy_reminder_goes_out_before_the_due_date_once() -> None:
    pol = make_policy(std__courtesy={"days_before_due": 3, "channels": ["email"], "template": "courtesy"})
    inv = invoice("1", TODAY + timedelta(days=3))
    [action] = actions(run(pol, [customer()], [inv]))
    assert action.level == 0
    assert action.template == "courtesy"
    assert action.status == CollectionStatus.CURRENT
    assert action.fees == 0 and action.interest == 0
    history = as_history([action])
    again = run(pol, [customer()], [inv], history=history, as_of=AS_OF + timedelta(days=1))
    assert actions(again) == []
    too_early = run(pol, [customer()], [invoice("2", TODAY + timedelta(days=4))])
    assert too_early == []


def test_segment_chooses_the_policy_by_customer_attributes() -> None:
    gentle = {"levels": [{"days_overdue": 30, "channels": ["email"]}]}
    risky = {"levels": [{"days_overdue": 1, "channels": ["email"]}]}
    pol = make_policy(
        policies={**make_policy().model_dump(mode="json")["policies"], "gentle": gentle, "risky": risky},
        segments=[
            {"name": "key accounts", "policy": "gentle", "when": {"tags_any": ["key-account"]}},
            {"name": "risky", "policy": "risky", "when": {"risk_score_min": "70", "country_in": ["de"]}},
        ],
    )
    due = TODAY - timedelta(days=10)
    custs = [
        customer("A", tags=["key-account"], risk_score=90, country="DE"),
        customer("B", risk_score=75, country="DE"),
        customer("C", risk_score=75, country="FR"),
    ]
    invs = [invoice("a", due, cid="A"), invoice("b", due, cid="B"), invoice("c", due, cid="C")]
    out = {r.customer_id: r for r in run(pol, custs, invs)}
    assert out["A"].skipped == SkipCode.WAITING_FOR_DAYS_OVERDUE  # type: ignore[union-attr]
    assert out["B"].policy == "risky"  # type: ignore[union-attr]
    assert out["C"].policy == "std"  # type: ignore[union-attr]


def test_plan_is_deterministic_for_a_given_as_of() -> None:
    pol = make_policy()
    custs = [customer("C1"), customer("C2", time_zone="America/New_York")]
    invs = [
        invoice("1", TODAY - timedelta(days=30)),
        invoice("2", TODAY - timedelta(days=8), cid="C2", currency="USD"),
    ]
    first = [json.dumps(r.to_json()) for r in run(pol, custs, invs)]
    second = [json.dumps(r.to_json()) for r in run(pol, list(reversed(custs)), list(reversed(invs)))]
    assert sorted(first) == sorted(second)
    assert first == [json.dumps(r.to_json()) for r in run(pol, custs, invs)]


def test_action_key_is_stable_and_differs_per_day() -> None:
    pol = make_policy()
    inv = invoice("1", TODAY - timedelta(days=8))
    [a] = actions(run(pol, [customer()], [inv]))
    [b] = actions(run(pol, [customer()], [inv], as_of=AS_OF + timedelta(hours=3)))
    [c] = actions(run(pol, [customer()], [inv], as_of=datetime(2026, 11, 24, 10, tzinfo=UTC)))
    assert a.key == b.key != c.key
