"""B1's UpdateDate holds the day only: changes late in a day, or in the watermark's second, are not lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors.base import Cursor
from mapping.models import Stream
from sandboxes.sap_business_one import ServiceLayerSandbox
from tests.connectors.sap_business_one.b1_target import connector_for


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _ids(connector, stream: Stream, cursor: Cursor | None) -> tuple[list[str], Cursor | None]:
    pages = list(connector.read(stream, cursor))
    return [r.remote_id for p in pages for r in p.records], pages[-1].cursor


def test_invoices_changed_at_23_59_are_read_by_the_cycle_after_midnight() -> None:
    clock = Clock(datetime(2026, 11, 2, 21, 0, tzinfo=UTC))
    with ServiceLayerSandbox(seed="demo", throttle=False, clock=clock, zone="Europe/Berlin") as b1:
        connector = connector_for(b1, page_size=4, time_zone="Europe/Berlin")
        _, cursor = _ids(connector, Stream.INVOICES, None)  # the evening sync, 22:00 in Berlin
        late = datetime(2026, 11, 2, 22, 59, 40, tzinfo=UTC)  # 23:59:40 in Berlin, same B1 day
        b1.touch("Invoices", 3, late, Comments="credit hold")
        b1.touch("Invoices", 7, late, Comments="credit hold")
        clock.now = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)  # 00:30 the next day in Berlin
        changed, cursor = _ids(connector, Stream.INVOICES, cursor)
        assert sorted(changed) == ["3", "7"]
        b1.touch("Invoices", 5, clock.now, Comments="next day")
        changed, _ = _ids(connector, Stream.INVOICES, cursor)
        assert changed == ["5"]


def test_a_record_stamped_in_the_same_second_as_the_last_one_read_is_not_skipped() -> None:
    clock = Clock(datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    with ServiceLayerSandbox(seed="demo", throttle=False, clock=clock) as b1:
        connector = connector_for(b1, page_size=3, overlap_minutes=0)
        b1.touch("Invoices", 9, clock.now)
        _, cursor = _ids(connector, Stream.INVOICES, None)
        b1.touch("Invoices", 2, clock.now)  # same second, smaller key, committed after the read
        changed, _ = _ids(connector, Stream.INVOICES, cursor)
        assert changed == ["2"]


def test_a_record_without_an_update_time_changed_later_that_day_is_read_again() -> None:
    clock = Clock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    with ServiceLayerSandbox(seed="demo", throttle=False, clock=clock) as b1:
        connector = connector_for(b1, page_size=50)
        b1.touch("Invoices", 4, clock.now)
        b1.company.tables["Invoices"][4]["UpdateTime"] = None  # a row an old release wrote
        clock.now += timedelta(hours=8)
        b1.touch("Invoices", 6, clock.now)
        _, cursor = _ids(connector, Stream.INVOICES, None)
        unchanged, cursor = _ids(connector, Stream.INVOICES, cursor)
        assert unchanged == []
        b1.company.tables["Invoices"][4]["Comments"] = "edited"
        b1.company.tables["Invoices"][4]["_version"] += 1  # B1 changed it and left UpdateTime empty
        changed, _ = _ids(connector, Stream.INVOICES, cursor)
        assert changed == ["4"]


def local_stamp(record: dict) -> datetime:
    return datetime.fromisoformat(f"{record['UpdateDate'][:10]}T{record['UpdateTime']}")


def test_a_long_first_read_keeps_its_cursor_small_and_the_next_read_repeats_nothing() -> None:
    import json

    with ServiceLayerSandbox(seed="large", invoices=1000, throttle=False) as b1:
        connector = connector_for(b1, page_size=50)
        pages = list(connector.read(Stream.INVOICES, None))
        assert sum(len(p.records) for p in pages) == 1000
        # The versions remembered are those within the overlap of where the read stands, not
        # every record read so far (a million-record first read would carry them all).
        remembered = [len(json.loads(p.cursor.value)["seen"]) for p in pages[:-1] if p.cursor]
        newest = max(local_stamp(r) for r in b1.company.tables["Invoices"].values())
        recent = sum(
            1
            for r in b1.company.tables["Invoices"].values()
            if newest - local_stamp(r) <= timedelta(minutes=10)
        )
        assert len(remembered) == 19 and recent < 200
        assert max(remembered) <= recent and sorted(remembered)[9] <= 2, remembered
        again, _ = _ids(connector, Stream.INVOICES, pages[-1].cursor)
        assert again == []
