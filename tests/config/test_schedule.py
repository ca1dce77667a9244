"""Schedules: an interval in the notation admins write, or a cron expression in a time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from config import Schedule, format_duration, parse_duration


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ({"interval": "30s"}, "every 30s"),
        ({"interval": "15m"}, "every 15m"),
        ({"interval": "2h"}, "every 2h"),
        ({"interval": "1d"}, "every 1d"),
        ({"interval": "1h30m"}, "every 1h30m"),
        ({"interval": 90}, "every 1m30s"),
        ({"interval": "300"}, "every 5m"),
        ({"cron": "*/15 * * * *"}, "cron '*/15 * * * *' (UTC)"),
        ({"cron": "0 6 * * 1-5", "timezone": "Europe/Berlin"}, "cron '0 6 * * 1-5' (Europe/Berlin)"),
    ],
    ids=lambda v: str(v),
)
def test_interval_and_cron_schedules(written: dict[str, object], expected: str) -> None:
    assert Schedule.model_validate(written).describe() == expected


def test_interval_schedule_runs_one_interval_after_the_last_start() -> None:
    start = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    assert Schedule.model_validate({"interval": "15m"}).next_run(start) == start + timedelta(minutes=15)


def test_cron_runs_in_its_time_zone() -> None:
    # 06:00 in Berlin on a Monday in winter is 05:00 UTC; Friday noon UTC → next Monday.
    schedule = Schedule.model_validate({"cron": "0 6 * * 1-5", "timezone": "Europe/Berlin"})
    friday_noon = datetime(2024, 1, 5, 12, 0, tzinfo=UTC)
    assert schedule.next_run(friday_noon) == datetime(2024, 1, 8, 5, 0, tzinfo=UTC)
    # and in summer time it is 04:00 UTC
    summer_friday = datetime(2024, 7, 5, 12, 0, tzinfo=UTC)
    assert schedule.next_run(summer_friday) == datetime(2024, 7, 8, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ({}, "expected exactly one of 'interval'"),
        ({"interval": "5m", "cron": "* * * * *"}, "expected exactly one of 'interval'"),
        ({"interval": "5 minutes"}, "expected a duration like 30s, 15m"),
        ({"interval": 0}, "at least one second"),
        ({"interval": True}, "expected a duration"),
        ({"cron": "*/15 * * *"}, "five-field cron"),
        ({"cron": "61 * * * *"}, "five-field cron"),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "IANA time zone"),
        ({"every": "5m"}, "Extra inputs are not permitted"),
    ],
    ids=lambda v: str(v),
)
def test_bad_schedules_say_what_is_accepted(written: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Schedule.model_validate(written)


def test_interval_round_trips_through_json_in_the_same_notation() -> None:
    schedule = Schedule.model_validate({"interval": "1h30m"})
    dumped = schedule.model_dump(mode="json")
    assert dumped["interval"] == "1h30m"
    assert Schedule.model_validate(dumped) == schedule


def test_duration_helpers_agree() -> None:
    for text in ("45s", "15m", "2h", "1d", "1d2h3m4s"):
        assert format_duration(parse_duration(text)) == text
    assert parse_duration(" 2H ") == timedelta(hours=2)
