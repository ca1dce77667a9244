"""Every worker's scheduler puts a moment in the same cycle, so the queue can keep one job per cycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from config import Schedule
from engine.workers import cycle_start

NOW = datetime(2026, 11, 23, 14, 7, 31, tzinfo=UTC)


def test_every_moment_of_an_interval_cycle_maps_to_its_start() -> None:
    every_15m = Schedule(interval=timedelta(minutes=15))
    start = cycle_start(every_15m, "acme-qbo", NOW)
    assert start <= NOW < start + timedelta(minutes=15)
    for seconds in (0, 1, 299, 899):
        assert cycle_start(every_15m, "acme-qbo", start + timedelta(seconds=seconds)) == start
    assert cycle_start(every_15m, "acme-qbo", start + timedelta(minutes=15)) == start + timedelta(minutes=15)


def test_connections_sharing_an_interval_start_at_different_seconds() -> None:
    hourly = Schedule(interval=timedelta(hours=1))
    starts = {cycle_start(hourly, f"company-{i}", NOW).timestamp() % 3600 for i in range(20)}
    assert len(starts) >= 18  # spread over the hour, not all at :00


def test_a_cron_cycle_starts_at_the_last_time_named_in_its_time_zone() -> None:
    weekdays_6am_berlin = Schedule(cron="0 6 * * 1-5", timezone="Europe/Berlin")
    # Monday 14:07 UTC is 15:07 in Berlin (CET): today's 06:00 Berlin, 05:00 UTC, is the current cycle.
    assert cycle_start(weekdays_6am_berlin, "acme", NOW) == datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    sunday = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert cycle_start(weekdays_6am_berlin, "acme", sunday) == datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
