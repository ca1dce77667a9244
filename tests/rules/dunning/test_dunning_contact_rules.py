"""The local contact window (zones, weekends, holidays, daylight saving) and per-channel caps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from rules.dunning import Channel, DunningPolicy, HistoryEntry, SkipCode
from tests.rules.dunning.builders import AS_OF, actions, customer, invoice, make_policy, run, skips

WINDOW = {"start": "08:00", "end": "21:00", "channels": ["email", "call"]}


def _send_at(as_of: datetime, zone: str = "Europe/Berlin", channels: list[str] | None = None) -> datetime:
    pol = make_policy(
        contact_window=WINDOW,
        std__levels=[{"days_overdue": 1, "channels": channels or ["email"]}],
    )
    due = as_of.date() - timedelta(days=10)
    [action] = actions(run(pol, [customer(time_zone=zone)], [invoice("1", due)], as_of=as_of))
    return action.send_at


def test_message_inside_the_window_goes_at_once() -> None:
    assert _send_at(AS_OF) == AS_OF  # 11:00 in Berlin


def test_message_before_the_window_waits_for_its_start_in_the_customers_zone() -> None:
    # 05:00 UTC is 06:00 in Berlin: wait until 08:00 CET = 07:00 UTC.
    assert _send_at(datetime(2026, 11, 23, 5, 0, tzinfo=UTC)) == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    # The same instant is 00:00 in New York: 08:00 EST = 13:00 UTC.
    got = _send_at(datetime(2026, 11, 23, 5, 0, tzinfo=UTC), zone="America/New_York")
    assert got == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def test_message_after_the_window_waits_for_the_next_business_day() -> None:
    # Friday 27 November, 21:30 in Berlin: Saturday and Sunday are skipped, Monday 08:00 CET.
    friday_late = datetime(2026, 11, 27, 20, 30, tzinfo=UTC)
    assert _send_at(friday_late) == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def test_weekend_planning_sends_on_monday_morning() -> None:
    saturday_noon = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
    assert _send_at(saturday_noon) == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def test_window_follows_daylight_saving_time() -> None:
    # Berlin leaves summer time on Sunday 25 October 2026.
    # Friday 23 October, 05:00 UTC = 07:00 CEST → 08:00 CEST = 06:00 UTC.
    assert _send_at(datetime(2026, 10, 23, 5, 0, tzinfo=UTC)) == datetime(2026, 10, 23, 6, 0, tzinfo=UTC)
    # Saturday 24 October → Monday 26 October 08:00 CET = 07:00 UTC.
    assert _send_at(datetime(2026, 10, 24, 10, 0, tzinfo=UTC)) == datetime(2026, 10, 26, 7, 0, tzinfo=UTC)
    # New York leaves summer time on Sunday 1 November: Friday 20:59 EDT is inside, 21:01 is not.
    assert _send_at(datetime(2026, 10, 31, 0, 59, tzinfo=UTC), "America/New_York") == datetime(
        2026, 10, 31, 0, 59, tzinfo=UTC
    )
    assert _send_at(datetime(2026, 10, 31, 1, 1, tzinfo=UTC), "America/New_York") == datetime(
        2026, 11, 2, 13, 0, tzinfo=UTC
    )


def test_window_start_in_the_spring_forward_gap_is_moved_past_it() -> None:
    pol = make_policy(
        contact_window={"start": "02:30", "end": "21:00", "days": ["sun"], "channels": ["email"]},
        std__levels=[{"days_overdue": 1, "channels": ["email"]}],
    )
    # Berlin springs forward on Sunday 29 March 2026 from 02:00 to 03:00: 02:30 does not exist.
    as_of = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    [action] = actions(run(pol, [customer()], [invoice("1", date(2026, 3, 1))], as_of=as_of))
    assert action.send_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST


def test_holidays_are_skipped() -> None:
    pol = make_policy(
        contact_window={**WINDOW, "holidays": ["2026-12-24", "2026-12-25"]},
        std__levels=[{"days_overdue": 1, "channels": ["email"]}],
    )
    as_of = datetime(2026, 12, 23, 21, 0, tzinfo=UTC)  # Wednesday 22:00 in Berlin
    [action] = actions(run(pol, [customer()], [invoice("1", date(2026, 12, 1))], as_of=as_of))
    assert action.send_at == datetime(2026, 12, 28, 7, 0, tzinfo=UTC)  # Monday after Christmas


def test_letters_are_not_held_to_the_contact_window() -> None:
    saturday_night = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
    assert _send_at(saturday_night, channels=["letter"]) == saturday_night


def test_missing_time_zone_uses_the_policy_default() -> None:
    as_of = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    assert _send_at(as_of, zone="Not/AZone") == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def _calls(n: int, days_ago: float) -> list[HistoryEntry]:
    return [
        HistoryEntry(
            kind="action",
            customer_id="C1",
            at=AS_OF - timedelta(days=days_ago, minutes=i),
            currency="GBP",
            level=1,
            channel="call",
            invoice_ids=("old",),
        )
        for i in range(n)
    ]


def _call_policy(channels: list[str]) -> DunningPolicy:
    return make_policy(
        caps=[{"channel": "call", "max": 7, "period_days": 7}],
        std__levels=[{"days_overdue": 1, "channels": channels}],
    )


def test_seven_calls_in_seven_days_cap_falls_back_to_the_next_channel() -> None:
    pol = _call_policy(["call", "email"])
    [action] = actions(run(pol, [customer()], [invoice("1", date(2026, 11, 1))], history=_calls(7, 2)))
    assert action.channel == Channel.EMAIL
    assert "call cap reached (7 of at most 7 in 7 days): fell back to email" in action.reason


def test_call_cap_reached_with_no_other_channel_is_a_skip() -> None:
    pol = _call_policy(["call"])
    results = run(pol, [customer()], [invoice("1", date(2026, 11, 1))], history=_calls(7, 6.9))
    assert actions(results) == []
    [skip] = skips(results)
    assert skip.skipped == SkipCode.NO_ALLOWED_CHANNEL
    assert "call cap reached" in skip.reason


def test_calls_older_than_the_cap_period_do_not_count() -> None:
    pol = _call_policy(["call"])
    history = _calls(6, 3) + _calls(10, 7.5)
    [action] = actions(run(pol, [customer()], [invoice("1", date(2026, 11, 1))], history=history))
    assert action.channel == Channel.CALL
    assert action.recipient == "+49 30 1234567"


def test_cap_counts_contacts_planned_in_the_same_run() -> None:
    pol = make_policy(
        caps=[{"channel": "email", "max": 1, "period_days": 7}],
        std__levels=[{"days_overdue": 1, "channels": ["email", "letter"]}],
    )
    invs = [invoice("1", date(2026, 11, 1)), invoice("2", date(2026, 11, 1), currency="USD")]
    got = {a.currency: a.channel for a in actions(run(pol, [customer()], invs))}
    assert got == {"EUR": Channel.EMAIL, "USD": Channel.LETTER}
