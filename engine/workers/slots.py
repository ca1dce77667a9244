"""Which cycle a moment belongs to: the same answer in every process, so a cycle is queued once.

A connection's schedule cuts time into cycles. Every worker's scheduler asks for the start of the
cycle it is in and offers that start to the queue; the queue keeps one job per connection and
start, however many schedulers offered it.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter


def cycle_start(schedule: Any, connection: str, now: datetime) -> datetime:
    """The start of the cycle ``now`` falls in (timezone-aware, UTC).

    An interval schedule starts a cycle every ``interval``, at a fixed offset per connection, so
    that connections sharing an interval do not all hit the database and their ERPs in the same
    second. A cron schedule starts one at each time its expression names, in its time zone.
    """
    if now.tzinfo is None:
        raise ValueError("cycle_start needs a timezone-aware time")
    interval = getattr(schedule, "interval", None)
    if interval is not None:
        period = _seconds(interval)
        offset = stagger(connection, period)
        start = math.floor((now.timestamp() - offset) / period) * period + offset
        return datetime.fromtimestamp(start, UTC)
    zone = ZoneInfo(getattr(schedule, "timezone", None) or "UTC")
    previous: datetime = croniter(schedule.cron, now.astimezone(zone)).get_prev(datetime)
    return previous.astimezone(UTC)


def stagger(connection: str, period: float) -> float:
    """A connection's fixed offset within an interval, from its name: whole seconds below ``period``."""
    whole = max(1, int(period))
    return float(int.from_bytes(hashlib.sha256(connection.encode()).digest()[:8], "big") % whole)


def _seconds(interval: Any) -> float:
    seconds = interval.total_seconds() if isinstance(interval, timedelta) else float(interval)
    if seconds <= 0:
        raise ValueError("an interval schedule needs a positive interval")
    return float(seconds)
