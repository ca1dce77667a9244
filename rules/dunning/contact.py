"""Contact rules: the customer's local contact window, business days, and time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rules.dunning.policy import WEEKDAYS, ContactWindow

__all__ = ["next_contact_time", "zone_for"]


@lru_cache(maxsize=1024)
def zone_for(name: str | None, default: str) -> ZoneInfo:
    """The IANA zone ``name``, or ``default`` when it is missing or unknown."""
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def _local(day: date, wall: time, zone: ZoneInfo) -> datetime:
    naive = datetime.combine(day, wall)
    # A wall time that does not exist (the hour skipped when clocks spring forward) is moved past the
    # gap by the round trip through UTC, so the result is always a real instant.
    return naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)


def next_contact_time(as_of: datetime, zone: ZoneInfo, window: ContactWindow) -> datetime:
    """The earliest instant at or after ``as_of`` inside the contact window in ``zone``.

    The window is read in the customer's wall-clock time, so it follows daylight-saving changes:
    08:00 in Berlin is 07:00 UTC in winter and 06:00 UTC in summer. Days not listed in
    ``window.days`` and the listed holidays are skipped.

    Args:
        as_of: the planning time (timezone-aware).
        zone: the customer's time zone.
        window: the contact window.

    Returns:
        The send time, in UTC.
    """
    local_now = as_of.astimezone(zone)
    allowed = {WEEKDAYS.index(d) for d in window.days}
    holidays = set(window.holidays)
    for offset in range(0, 400):
        day = local_now.date() + timedelta(days=offset)
        if day.weekday() not in allowed or day in holidays:
            continue
        start = _local(day, window.start, zone)
        end = _local(day, window.end, zone)
        if offset == 0:
            if local_now < start:
                return start.astimezone(UTC)
            if local_now < end:
                return as_of.astimezone(UTC)
            continue
        return start.astimezone(UTC)
    raise ValueError("the contact window allows no day in the next 400 days (check days and holidays)")
