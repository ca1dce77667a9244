"""Reading: full pulls page at 1,000, incremental runs use CDC, faults are classified."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from qbo_fakes import FakeQbo, Sent, invoice, json_answer, make_connector, paged_query_handler

from connectors.base import Cursor
from connectors.errors import BadRecordError, ThrottledError, TransientError
from connectors.quickbooks.client import RateLimiter
from mapping.models import DocumentStatus, Invoice, Stream

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def _samples(specs_dir: Path) -> Path:
    return specs_dir / "quickbooks" / "samples" / "ruckus-quickbooks-ruby-xml"


def test_full_pull_pages_at_1000() -> None:
    rows = [invoice(n) for n in range(1, 2501)]
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.handlers["query"] = paged_query_handler("Invoice", rows)
        conn = make_connector(fake, now=NOW)
        pages = list(conn.read(Stream.INVOICES, None))

    # Each page re-anchors on the last time it delivered and re-reads that one boundary record.
    assert [len(p.records) for p in pages] == [1000, 999, 501]
    queries = fake.api_calls("query")
    assert len(queries) == 3
    for _n, sent in enumerate(queries):
        assert sent.params["minorversion"] == "75"
        assert "ORDERBY MetaData.LastUpdatedTime" in sent.body
        assert "MAXRESULTS 1000" in sent.body
    assert all(p.cursor is not None and p.cursor.resumable for p in pages)
    mid = json.loads(pages[0].cursor.value)  # type: ignore[union-attr]
    assert mid["mode"] == "query" and mid["since"] == rows[999]["MetaData"]["LastUpdatedTime"]
    final = json.loads(pages[-1].cursor.value)  # type: ignore[union-attr]
    assert final["mode"] == "cdc"
    assert {r.remote_id for p in pages for r in p.records} == {str(n) for n in range(1, 2501)}


def test_interrupted_full_pull_resumes_from_the_last_stored_page() -> None:
    rows = [invoice(n) for n in range(1, 1501)]
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.handlers["query"] = paged_query_handler("Invoice", rows)
        conn = make_connector(fake, now=NOW)
        first = next(iter(conn.read(Stream.INVOICES, None)))
        resumed = make_connector(fake, now=NOW)
        list(resumed.read(Stream.INVOICES, first.cursor))
    last = fake.api_calls("query")[-1].body
    assert f"MetaData.LastUpdatedTime >= '{rows[999]['MetaData']['LastUpdatedTime']}'" in last


def test_customer_pull_includes_inactive_customers_with_their_flag() -> None:
    rows = [
        {
            "Id": "1",
            "SyncToken": "0",
            "DisplayName": "Active Ltd",
            "Active": True,
            "MetaData": {"LastUpdatedTime": "2026-01-01T10:00:00-08:00"},
        },
        {
            "Id": "2",
            "SyncToken": "3",
            "DisplayName": "Gone Ltd (deleted)",
            "Active": False,
            "MetaData": {"LastUpdatedTime": "2026-01-02T10:00:00-08:00"},
        },
    ]
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.handlers["query"] = paged_query_handler("Customer", rows)
        pages = list(make_connector(fake, now=NOW).read(Stream.CUSTOMERS, None))
    assert "Active IN (true, false)" in fake.api_calls("query")[0].body
    by_id = {r.remote_id: r for r in pages[0].records}
    assert by_id["2"].status.value == "inactive" and not by_id["2"].deleted  # type: ignore[attr-defined]


def _cdc_cursor(since: datetime) -> Cursor:
    return Cursor(json.dumps({"mode": "cdc", "since": since.isoformat()}))


def _cdc_answer(objects: dict[str, list[dict[str, Any]]]) -> tuple[int, dict[str, str], str]:
    blocks = [{"QueryResponse": [{name: items} if items else {} for name, items in objects.items()]}]
    return json_answer({"CDCResponse": blocks, "time": NOW.isoformat()})


def test_incremental_uses_cdc_and_splits_a_full_window() -> None:
    since = NOW - timedelta(days=2)
    seen_since: list[datetime] = []

    def cdc(sent: Sent) -> tuple[int, dict[str, str], str]:
        changed = datetime.fromisoformat(sent.params["changedSince"])
        seen_since.append(changed)
        assert set(sent.params["entities"].split(",")) == {"Customer", "Invoice", "CreditMemo", "Payment"}
        if changed < NOW - timedelta(hours=12):
            # More changes than one answer holds: Intuit truncates at 1,000 objects.
            return _cdc_answer(
                {"Invoice": [invoice(n, updated=NOW - timedelta(hours=30)) for n in range(1000)]}
            )
        return _cdc_answer(
            {"Invoice": [invoice(n, updated=NOW - timedelta(hours=1)) for n in range(5000, 5010)]}
        )

    older = [invoice(n, updated=NOW - timedelta(hours=30, seconds=-n)) for n in range(1, 1201)]
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.handlers["cdc"] = cdc
        fake.handlers["query"] = paged_query_handler("Invoice", older)
        conn = make_connector(fake, now=NOW)
        pages = list(conn.read(Stream.INVOICES, _cdc_cursor(since)))

    # The window was halved until the newest part fit; the older part came through the query.
    assert seen_since[0] == since and len(seen_since) >= 2 and seen_since[-1] > since
    split = seen_since[-1]
    queries = fake.api_calls("query")
    assert len(queries) == 2
    assert f"MetaData.LastUpdatedTime >= '{since.strftime('%Y-%m-%dT%H:%M:%S+00:00')}'" in queries[0].body
    assert f"MetaData.LastUpdatedTime < '{split.strftime('%Y-%m-%dT%H:%M:%S+00:00')}'" in queries[0].body
    gap_pages, last = pages[:-1], pages[-1]
    assert sum(len(p.records) for p in gap_pages) == 1200
    # Gap pages are sorted, so their cursors resume (through CDC again) without losing deletions.
    for page in gap_pages:
        assert page.cursor is not None and page.cursor.resumable
        state = json.loads(page.cursor.value)
        assert (
            state["mode"] == "cdc" and state["since"] == page.records[-1].raw["MetaData"]["LastUpdatedTime"]
        )
    assert {r.remote_id for r in last.records} == {str(n) for n in range(5000, 5010)}
    assert last.cursor is not None and last.cursor.resumable
    assert json.loads(last.cursor.value)["mode"] == "cdc"
    assert sum(p.api_calls for p in pages) == len(fake.sent)


def test_one_cdc_answer_serves_every_stream_of_a_cycle() -> None:
    since = NOW - timedelta(hours=6)
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.handlers["cdc"] = lambda sent: _cdc_answer({"Invoice": [invoice(1)], "Customer": []})
        conn = make_connector(fake, now=NOW)
        for stream in Stream:
            list(conn.read(stream, _cdc_cursor(since)))
    assert len(fake.api_calls("cdc")) == 1


def test_cdc_deleted_invoice_becomes_soft_delete(specs_dir: Path) -> None:
    body = (_samples(specs_dir) / "invoice_changes.xml").read_text()
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.handlers["cdc"] = lambda sent: (200, {"Content-Type": "application/xml"}, body)
        pages = list(
            make_connector(fake, now=NOW).read(Stream.INVOICES, _cdc_cursor(NOW - timedelta(days=1)))
        )
    (record,) = [r for p in pages for r in p.records]
    assert isinstance(record, Invoice)
    assert record.remote_id == "39" and record.deleted and record.raw_status == "Deleted"
    assert record.remote_modified_at == datetime(2014, 12, 8, 19, 36, 24, tzinfo=UTC) + timedelta(hours=8)


def test_cursor_older_than_the_cdc_look_back_falls_back_to_the_query() -> None:
    since = NOW - timedelta(days=45)
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.handlers["query"] = paged_query_handler("Invoice", [invoice(1)])
        pages = list(make_connector(fake, now=NOW).read(Stream.INVOICES, _cdc_cursor(since)))
    assert fake.api_calls("cdc") == []
    assert "MetaData.LastUpdatedTime >=" in fake.api_calls("query")[0].body
    assert json.loads(pages[-1].cursor.value)["mode"] == "cdc"  # type: ignore[union-attr]


@pytest.mark.parametrize("fixture", ["too_many_requests_error.xml", "throttle_exceeded_error.xml"])
def test_throttle_fault_in_xml_is_classified_as_throttled(specs_dir: Path, fixture: str) -> None:
    body = (_samples(specs_dir) / fixture).read_text()
    status = 429 if "429" in body else 403
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        # JSON was asked for; Intuit still answers the throttle in XML.
        fake.handlers["query"] = lambda sent: (status, {"Content-Type": "application/xml"}, body)
        conn = make_connector(fake, now=NOW, throttle_retries=0)
        with pytest.raises(ThrottledError) as err:
            list(conn.read(Stream.INVOICES, None))
    assert err.value.erp_code == "3001"
    assert err.value.retry_after == 60
    assert fake.api_calls("query")[0].headers["Accept"] == "application/json"


def test_throttled_call_asking_for_a_short_wait_is_waited_out_and_retried() -> None:
    answers = [
        (
            429,
            {"Content-Type": "application/json", "Retry-After": "3"},
            json.dumps(
                {
                    "Fault": {
                        "Error": [
                            {
                                "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                                "code": "3001",
                            }
                        ],
                        "type": "SERVICE",
                    }
                }
            ),
        ),
        json_answer({"QueryResponse": {"Invoice": [invoice(1)]}}),
    ]
    waits: list[float] = []
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.handlers["query"] = lambda sent: answers.pop(0)
        pages = list(make_connector(fake, now=NOW, sleep=waits.append).read(Stream.INVOICES, None))
    assert waits == [3.0]
    assert len(pages[0].records) == 1


def test_throttled_call_asking_for_intuits_minute_goes_to_the_engine_at_once() -> None:
    fault = {"Fault": {"Error": [{"Message": "message=ThrottleExceeded", "code": "3001"}], "type": "SERVICE"}}
    waits: list[float] = []
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.handlers["query"] = lambda sent: (429, {"Content-Type": "application/json"}, json.dumps(fault))
        with pytest.raises(ThrottledError) as err:
            list(make_connector(fake, now=NOW, sleep=waits.append).read(Stream.INVOICES, None))
    assert err.value.retry_after == 60
    assert waits == [], "a minute is waited by the engine, where a shutdown can interrupt it"


@pytest.mark.parametrize(
    ("fixture", "status", "kind"),
    [("generic_error.xml", 500, TransientError), ("query_validation_error.xml", 400, BadRecordError)],
)
def test_intuit_faults_are_classified(specs_dir: Path, fixture: str, status: int, kind: type) -> None:
    body = (_samples(specs_dir) / fixture).read_text()
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.handlers["query"] = lambda sent: (status, {"Content-Type": "application/xml"}, body)
        with pytest.raises(kind):
            list(make_connector(fake, now=NOW).read(Stream.INVOICES, None))


def test_every_call_sends_the_minor_version_and_a_bearer_token() -> None:
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.handlers["query"] = paged_query_handler("Invoice", [invoice(1)])
        fake.handlers["cdc"] = lambda sent: _cdc_answer({"Invoice": []})
        fake.handlers["invoice"] = lambda sent: json_answer({"Invoice": invoice(1)})
        conn = make_connector(fake, now=NOW, minor_version=75)
        list(conn.read(Stream.INVOICES, None))
        list(conn.read(Stream.INVOICES, _cdc_cursor(NOW - timedelta(hours=1))))
        fetched = conn.fetch(conn_target("invoice"), "1")
    assert fetched is not None and fetched.remote_id == "1"
    assert fake.sent and all(s.params.get("minorversion") == "75" for s in fake.sent)
    assert all(re.fullmatch(r"Bearer at-\d+", s.headers["Authorization"]) for s in fake.sent)


def conn_target(name: str) -> Any:
    from mapping.models import TargetType

    return TargetType(name)


def test_invoice_status_and_collection_status_are_read_back() -> None:
    conn = make_connector(now=NOW, dunning_level_field_id="2")
    raw = invoice(
        5,
        Balance=40.0,
        CustomField=[
            {
                "DefinitionId": "1",
                "Name": "Collections Status",
                "Type": "StringType",
                "StringValue": "escalated · 2026-06-01",
            },
            {"DefinitionId": "2", "Name": "Dunning Level", "Type": "StringType", "StringValue": "2"},
        ],
    )
    record = conn.to_record(Stream.INVOICES, raw)
    assert isinstance(record, Invoice)
    assert record.status is DocumentStatus.PARTIALLY_PAID
    assert record.collection_status is not None and record.collection_status.value == "escalated"
    assert record.dunning_level == 2


def test_rate_limiter_never_lets_more_than_500_requests_into_a_minute() -> None:
    now = [0.0]
    stamps: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = RateLimiter(500, 10, clock=lambda: now[0], sleep=sleep)
    for _ in range(2000):
        with limiter:
            stamps.append(now[0])
    worst = max(sum(1 for t in stamps if start <= t < start + 60) for start in stamps)
    assert worst <= 500
    assert stamps[-1] < 300, "the limiter should still use most of the budget"


def test_rate_limiter_caps_requests_in_flight_at_10() -> None:
    import threading

    limiter = RateLimiter(10**6, 10, burst=10**5)
    inside = [0]
    peak = [0]
    lock = threading.Lock()
    gate = threading.Barrier(10, timeout=5)

    def call() -> None:
        with limiter:
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            with contextlib.suppress(threading.BrokenBarrierError):
                gate.wait()
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=call) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak[0] == 10
