"""Where an incremental read of B1 starts: a watermark of UpdateDate + UpdateTime + key, with an overlap.

B1 stamps a change in two fields: ``UpdateDate`` holds the day only (``2026-11-02T00:00:00Z``:
midnight, in the server's local time whatever the ``Z`` says) and ``UpdateTime`` the time of day
(``HH:MM:SS``, a separate column, ``UpdateTS`` in the database). A filter on ``UpdateDate`` alone
would either re-read a whole day every cycle or, compared as a time, lose everything changed later
on the day of the last read. So:

- records are read in the order (UpdateDate, UpdateTime, key), each page asked for with a keyset
  filter "after the last record delivered", so a page boundary inside a run of equal times loses
  nothing and records changing while a read pages do not shift the pages (B1's own next links
  count by ``$skip``);
- the next read starts at the newest (day, time) delivered minus ``overlap`` (a long transaction
  commits after its stamp), plus the clock's step back when daylight saving time ended in
  between; repeats inside the overlap are dropped by each record's version;
- a record whose UpdateTime is empty (rows of old releases) is read again on every read of its
  day, and dropped as a repeat while its version is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connectors.odata import literal

__all__ = ["SEEN_MAX", "Mark", "Watermark", "after", "since", "stamp_of"]

SEEN_MAX = 20_000


@dataclass(frozen=True, order=True)
class Mark:
    """A position in (UpdateDate, UpdateTime, key) order; an empty time sorts first in its day."""

    day: str
    time: str | None
    key: Any

    def sort_key(self) -> tuple[str, bool, str, Any]:
        return (self.day, self.time is not None, self.time or "", self.key)

    def as_json(self) -> list[Any]:
        return [self.day, self.time, self.key]

    @classmethod
    def from_json(cls, data: Any) -> Mark | None:
        if not isinstance(data, list) or len(data) != 3:
            return None
        return cls(str(data[0]), None if data[1] is None else str(data[1]), data[2])


def stamp_of(raw: dict[str, Any], key_field: str) -> Mark:
    """The record's position: its update day, time and key."""
    day = str(raw.get("UpdateDate") or "")[:10]
    when = raw.get("UpdateTime")
    return Mark(day, str(when)[:8] if when else None, raw.get(key_field))


def local_time(mark: Mark, zone: ZoneInfo) -> datetime:
    """The record's change as an aware time: the day and time in the B1 server's zone."""
    day = date.fromisoformat(mark.day)
    clock = time.fromisoformat(mark.time) if mark.time else time(0)
    return datetime.combine(day, clock, tzinfo=zone)


def after(mark: Mark, key_field: str) -> str:
    """``$filter`` for records strictly after ``mark`` in (UpdateDate, UpdateTime, key) order."""
    day, key = literal(mark.day), literal(mark.key)
    if mark.time is None:
        same_day = f"(UpdateTime ne null or {key_field} gt {key})"
    else:
        t = literal(mark.time)
        same_day = f"(UpdateTime gt {t} or (UpdateTime eq {t} and {key_field} gt {key}))"
    return f"(UpdateDate gt {day} or (UpdateDate eq {day} and {same_day}))"


def since(start: tuple[str, str]) -> str:
    """``$filter`` for records changed at or after ``start`` (day, time), or on that day without a time."""
    day, clock = literal(start[0]), literal(start[1])
    return f"(UpdateDate gt {day} or (UpdateDate eq {day} and (UpdateTime ge {clock} or UpdateTime eq null)))"


@dataclass
class Watermark:
    """One stream's incremental state: the newest change delivered and the versions seen near it."""

    newest: Mark | None = None
    seen: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Watermark:
        return cls(Mark.from_json(data.get("newest")), dict(data.get("seen") or {}))

    def as_json(self) -> dict[str, Any]:
        return {"newest": self.newest.as_json() if self.newest else None, "seen": self.seen}

    def start(
        self, overlap: timedelta, zone: ZoneInfo, now: datetime | None = None
    ) -> tuple[str, str] | None:
        """The (day, time) the next read starts at: the newest change less the overlap (None: read all)."""
        if self.newest is None:
            return None
        newest = local_time(self.newest, zone)
        back = overlap
        current = (now or datetime.now(UTC)).astimezone(zone)
        step = (newest.utcoffset() or timedelta(0)) - (current.utcoffset() or timedelta(0))
        if step > timedelta(0):  # the clocks went back since: that hour's stamps repeat
            back += step
        start = newest - back
        return start.strftime("%Y-%m-%d"), start.strftime("%H:%M:%S")

    def is_new(self, key: Any, version: str) -> bool:
        return self.seen.get(str(key)) != version

    def delivered(self, mark: Mark, version: str) -> None:
        if self.newest is None or mark.sort_key() > self.newest.sort_key():
            self.newest = Mark(mark.day, mark.time, mark.key)
        self.seen[str(mark.key)] = f"{mark.day}|{mark.time}|{version}"

    def prune(self, overlap: timedelta, zone: ZoneInfo) -> None:
        """Forget versions the next read cannot return again (changed before its start)."""
        start = self.start(overlap, zone)
        if start is not None:
            self._keep_from(start)

    def passed(self, position: Mark, overlap: timedelta, zone: ZoneInfo) -> None:
        """Forget, while a read goes on, the versions it has passed by more than the overlap.

        Neither this read (it goes on after ``position``) nor the next (it starts at the newest
        change less the overlap, and ``position`` is at most that newest) returns them again; so a
        cursor stays small through a long first read instead of growing with every record.
        """
        if not position.day:
            return  # a record without an update day (rejected by the read) says nothing of time
        start = Watermark(position).start(overlap, zone)
        if start is not None:
            self._keep_from(start)

    def _keep_from(self, start: tuple[str, str]) -> None:
        kept = {}
        for key, stamp in self.seen.items():
            day, clock = stamp.split("|", 2)[:2]
            if day > start[0] or (day == start[0] and (clock == "None" or clock >= start[1])):
                kept[key] = stamp
        if len(kept) > SEEN_MAX:
            kept = dict(sorted(kept.items(), key=lambda kv: kv[1])[-SEEN_MAX:])
        self.seen = kept

    def version_of(self, key: Any) -> str | None:
        stamp = self.seen.get(str(key))
        return stamp.split("|", 2)[2] if stamp else None
