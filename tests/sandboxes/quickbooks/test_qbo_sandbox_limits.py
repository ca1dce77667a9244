"""Throttling, concurrency, injected failures, batch semantics and CDC."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import requests
from qbo_sandbox_support import Api, FakeClock, fault_of

from sandboxes.quickbooks import QuickBooksSandbox

NS = "{http://schema.intuit.com/finance/v3}"


def test_over_the_rate_limit_answers_429_with_an_xml_3001_fault_even_to_json_clients(
    clock: FakeClock, specs_dir: Path
) -> None:
    seconds = [1000.0]
    with QuickBooksSandbox(clock=clock, specs=specs_dir, throttle_clock=lambda: seconds[0]) as sandbox:
        api = Api(sandbox)
        sandbox.set_throttle(3)
        statuses = [api.query("SELECT * FROM Customer MAXRESULTS 1").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        throttled = api.query("SELECT * FROM Customer MAXRESULTS 1")
        assert throttled.headers["Content-Type"].startswith("application/xml")
        assert throttled.headers["Retry-After"] == "60"
        root = ET.fromstring(throttled.content)
        error = root.find(f"{NS}Fault/{NS}Error")
        assert root.find(f"{NS}Fault").get("type") == "SERVICE"
        assert error is not None and error.get("code") == "3001"
        assert "ThrottleExceeded" in (error.findtext(f"{NS}Message") or "")
        seconds[0] += 61
        assert api.query("SELECT * FROM Customer MAXRESULTS 1").status_code == 200


def test_quickbooks_throttles_by_default_at_500_a_minute_per_company(
    clock: FakeClock, specs_dir: Path
) -> None:
    seconds = [1000.0]
    with QuickBooksSandbox(clock=clock, specs=specs_dir, throttle_clock=lambda: seconds[0]) as sandbox:
        api = Api(sandbox)
        statuses = []
        for _ in range(52):
            statuses += [api.query("SELECT * FROM Term").status_code for _ in range(10)]
            seconds[0] += 1.0  # ten a second stays under the per-second limit
        assert statuses.count(200) == 500
        assert set(statuses[500:]) == {429}
        seconds[0] += 60
        assert api.query("SELECT * FROM Term").status_code == 200


def test_more_than_ten_requests_in_one_second_are_throttled(clock: FakeClock, specs_dir: Path) -> None:
    seconds = [1000.0]
    with QuickBooksSandbox(clock=clock, specs=specs_dir, throttle_clock=lambda: seconds[0]) as sandbox:
        api = Api(sandbox)
        statuses = [api.query("SELECT * FROM Term").status_code for _ in range(11)]
        assert statuses == [200] * 10 + [429]
        seconds[0] += 1.0
        assert api.query("SELECT * FROM Term").status_code == 200


def test_a_benchmark_turns_throttling_off(clock: FakeClock, specs_dir: Path) -> None:
    with QuickBooksSandbox(clock=clock, specs=specs_dir, throttle=False) as sandbox:
        api = Api(sandbox)
        assert {api.query("SELECT * FROM Term").status_code for _ in range(30)} == {200}


def test_a_burst_of_150_parallel_clients_each_gets_an_answer_not_a_reset(
    clock: FakeClock, specs_dir: Path
) -> None:
    with QuickBooksSandbox(clock=clock, specs=specs_dir) as sandbox, ThreadPoolExecutor(150) as pool:
        api = Api(sandbox)
        headers = dict(api.http.headers)
        url = api.url("companyinfo/1")
        answers = list(pool.map(lambda _: requests.get(url, headers=headers, timeout=60), range(150)))
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 429}
    assert 10 <= statuses.count(200) < 150, "throttled like QuickBooks, never reset"


def test_more_concurrent_requests_than_allowed_get_429(clock: FakeClock) -> None:
    with QuickBooksSandbox(clock=clock, max_concurrent=1) as sandbox:
        api = Api(sandbox)
        gate = threading.Event()
        original = sandbox.run_query

        def slow_query(text: str) -> dict[str, object]:
            gate.wait(5)
            return original(text)

        sandbox.run_query = slow_query  # type: ignore[method-assign]
        first: list[int] = []
        worker = threading.Thread(target=lambda: first.append(api.query("SELECT * FROM Term").status_code))
        worker.start()
        for _ in range(100):
            if sandbox.in_flight:
                break
            threading.Event().wait(0.01)
        second = requests.get(api.url("companyinfo/1"), headers=dict(api.http.headers))
        gate.set()
        worker.join()
        assert second.status_code == 429
        assert first == [200]


def test_fail_next_injects_server_errors_then_recovers(api: Api, sandbox: QuickBooksSandbox) -> None:
    sandbox.fail_next(2, status=503)
    assert api.query("SELECT * FROM Term").status_code == 503
    failed = api.query("SELECT * FROM Term")
    assert fault_of(failed)["type"] == "SystemFault"
    assert api.query("SELECT * FROM Term").status_code == 200


def test_requests_log_records_method_path_requestid_and_status(api: Api, sandbox: QuickBooksSandbox) -> None:
    api.post("Customer", {"DisplayName": "Logged Ltd"}, requestid="abc-1")
    entry = sandbox.requests_log[-1]
    assert entry["method"] == "POST"
    assert entry["path"].endswith("/customer")
    assert entry["requestid"] == "abc-1"
    assert entry["query"]["minorversion"] == "75"
    assert entry["status"] == 200


def test_batch_items_fail_one_by_one_without_failing_the_batch(api: Api) -> None:
    invoice = api.rows("SELECT * FROM Invoice MAXRESULTS 1", "Invoice")[0]
    body = {
        "BatchItemRequest": [
            {
                "bId": "ok",
                "operation": "update",
                "Invoice": {
                    "Id": invoice["Id"],
                    "SyncToken": invoice["SyncToken"],
                    "sparse": True,
                    "PrivateNote": "b1",
                },
            },
            {
                "bId": "stale",
                "operation": "update",
                "Invoice": {
                    "Id": invoice["Id"],
                    "SyncToken": invoice["SyncToken"],
                    "sparse": True,
                    "PrivateNote": "b2",
                },
            },
            {"bId": "bad", "operation": "create", "Customer": {"DisplayName": "X", "Nickname": "y"}},
            {"bId": "q", "Query": "SELECT * FROM Term"},
        ]
    }
    response = api.http.post(api.url("batch"), json=body)
    assert response.status_code == 200
    items = {item["bId"]: item for item in response.json()["BatchItemResponse"]}
    assert items["ok"]["Invoice"]["PrivateNote"] == "b1"
    assert items["stale"]["Fault"]["Error"][0]["code"] == "5010"
    assert items["bad"]["Fault"]["Error"][0]["code"] == "2010"
    assert len(items["q"]["QueryResponse"]["Term"]) == 4


def test_batch_larger_than_the_limit_is_refused_whole(api: Api) -> None:
    body = {"BatchItemRequest": [{"bId": str(i), "Query": "SELECT * FROM Term"} for i in range(31)]}
    response = api.http.post(api.url("batch"), json=body)
    assert response.status_code == 400
    assert "Fault" in response.json()


def test_cdc_returns_changes_since_a_time_including_deleted_records(
    api: Api, sandbox: QuickBooksSandbox, clock: FakeClock
) -> None:
    clock.advance(hours=1)
    since = (clock.now - timedelta(minutes=1)).isoformat()
    customer = sandbox.touch("Customer", "1")
    invoice = next(
        i for i in api.rows("SELECT * FROM Invoice MAXRESULTS 200", "Invoice") if not i["LinkedTxn"]
    )
    api.post("Invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]}, operation="delete")
    response = api.http.get(
        api.url("cdc"), params={"entities": "Customer,Invoice,Payment", "changedSince": since}
    )
    assert response.status_code == 200
    responses = response.json()["CDCResponse"][0]["QueryResponse"]
    assert [r["Id"] for r in responses[0]["Customer"]] == [customer["Id"]]
    deleted = responses[1]["Invoice"][0]
    assert deleted["status"] == "Deleted"
    assert deleted["Id"] == invoice["Id"]
    assert set(deleted) == {"domain", "status", "Id", "MetaData"}
    assert responses[2] == {}


def test_cdc_further_back_than_30_days_is_refused(api: Api, clock: FakeClock) -> None:
    since = (clock.now - timedelta(days=31)).isoformat()
    response = api.http.get(api.url("cdc"), params={"entities": "Invoice", "changedSince": since})
    assert response.status_code == 400
    assert fault_of(response)["code"] == "4001"


def test_cdc_answers_at_most_1000_objects_oldest_first(clock: FakeClock) -> None:
    with QuickBooksSandbox(clock=clock, seed="large", records=1500) as sandbox:
        api = Api(sandbox)
        since = (clock.now - timedelta(days=29, hours=23)).isoformat()
        response = api.http.get(api.url("cdc"), params={"entities": "Invoice", "changedSince": since})
        invoices = response.json()["CDCResponse"][0]["QueryResponse"][0]["Invoice"]
        assert len(invoices) == 1000
        assert [r["Id"] for r in invoices[:3]] == ["1", "2", "3"]


def test_large_seed_pages_through_100k_invoices_cheaply(clock: FakeClock) -> None:
    with QuickBooksSandbox(clock=clock, seed="large", records=100_000) as sandbox:
        api = Api(sandbox)
        assert api.query("SELECT COUNT(*) FROM Invoice").json()["QueryResponse"]["totalCount"] == 100_000
        last = api.rows(
            "SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime >= '2000-01-01' "
            "ORDERBY Metadata.LastUpdatedTime STARTPOSITION 99001 MAXRESULTS 1000",
            "Invoice",
        )
        assert len(last) == 1000
        assert last[-1]["Id"] == "100000"
