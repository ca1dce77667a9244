"""The query endpoint: Intuit's query language subset, paging, ordering, Active filtering, faults."""

from __future__ import annotations

from qbo_sandbox_support import Api, fault_of

from sandboxes.quickbooks import QuickBooksSandbox


def test_demo_company_has_customers_invoices_payments_and_credit_memos(api: Api) -> None:
    counts = {}
    for entity in ("Customer", "Invoice", "Payment", "CreditMemo"):
        response = api.query(f"SELECT COUNT(*) FROM {entity}")
        assert response.status_code == 200
        counts[entity] = response.json()["QueryResponse"]["totalCount"]
    assert counts["Customer"] == 22  # 25 minus three inactive ones, hidden by default
    assert counts["Invoice"] == 120
    assert counts["CreditMemo"] == 5
    assert counts["Payment"] > 40


def test_paging_with_startposition_and_maxresults_walks_every_invoice_once(api: Api) -> None:
    seen: list[str] = []
    start = 1
    while True:
        page = api.rows(f"select * from Invoice STARTPOSITION {start} MAXRESULTS 25", "Invoice")
        if not page:
            break
        assert len(page) <= 25
        seen.extend(row["Id"] for row in page)
        start += 25
    assert len(seen) == 120
    assert len(set(seen)) == 120


def test_query_response_reports_start_position_and_page_size(api: Api) -> None:
    body = api.query("SELECT * FROM Customer STARTPOSITION 3 MAXRESULTS 4").json()["QueryResponse"]
    assert body["startPosition"] == 3
    assert body["maxResults"] == 4
    assert len(body["Customer"]) == 4


def test_incremental_query_is_ordered_by_last_updated_time(api: Api) -> None:
    rows = api.rows(
        "SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime >= '2000-01-01T00:00:00Z' "
        "ORDERBY Metadata.LastUpdatedTime ASC MAXRESULTS 1000",
        "Invoice",
    )
    stamps = [row["MetaData"]["LastUpdatedTime"] for row in rows]
    from datetime import datetime

    parsed = [datetime.fromisoformat(s) for s in stamps]
    assert parsed == sorted(parsed)
    assert len(rows) == 120


def test_window_bounds_on_last_updated_time_select_only_the_window(
    api: Api, sandbox: QuickBooksSandbox
) -> None:
    rows = api.rows("SELECT * FROM Invoice ORDERBY Metadata.LastUpdatedTime MAXRESULTS 1000", "Invoice")
    low = rows[10]["MetaData"]["LastUpdatedTime"]
    high = rows[20]["MetaData"]["LastUpdatedTime"]
    window = api.rows(
        f"SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime > '{low}' "
        f"AND Metadata.LastUpdatedTime <= '{high}' ORDERBY Metadata.LastUpdatedTime",
        "Invoice",
    )
    assert [r["Id"] for r in window] == [r["Id"] for r in rows[11:21]]


def test_inactive_customers_only_come_back_when_the_query_asks_for_them(api: Api) -> None:
    default = api.rows("SELECT * FROM Customer MAXRESULTS 1000", "Customer")
    everyone = api.rows("SELECT * FROM Customer WHERE Active IN (true, false) MAXRESULTS 1000", "Customer")
    assert all(c["Active"] for c in default)
    assert len(everyone) == 25
    assert sum(1 for c in everyone if not c["Active"]) == 3


def test_lookup_by_id_list_and_doc_number(api: Api) -> None:
    first, second = (row["Id"] for row in api.rows("SELECT * FROM Invoice MAXRESULTS 2", "Invoice"))
    by_ids = api.rows(f"SELECT * FROM Invoice WHERE Id IN ('{first}', '{second}', '999999')", "Invoice")
    assert sorted(r["Id"] for r in by_ids) == sorted([first, second])
    doc = by_ids[0]["DocNumber"]
    by_doc = api.rows(f"SELECT * FROM Invoice WHERE DocNumber = '{doc}'", "Invoice")
    assert [r["Id"] for r in by_doc] == [by_ids[0]["Id"]]


def test_keywords_are_case_insensitive_and_post_body_queries_work(api: Api) -> None:
    lower = api.rows(
        "select * from customer where active = true orderby metadata.lastupdatedtime desc", "Customer"
    )
    assert lower
    response = api.http.post(
        api.url("query"),
        data="SELECT * FROM Customer MAXRESULTS 2",
        headers={"Content-Type": "application/text"},
    )
    assert response.status_code == 200
    assert len(response.json()["QueryResponse"]["Customer"]) == 2


def test_no_match_gives_an_empty_query_response(api: Api) -> None:
    body = api.query("SELECT * FROM Invoice WHERE DocNumber = 'nope'").json()
    assert body["QueryResponse"] == {}


def test_unparseable_query_is_a_query_parser_error(api: Api) -> None:
    response = api.query("SELEKT * FROM Invoice")
    assert response.status_code == 400
    error = fault_of(response)
    assert error["code"] == "4000"
    assert error["Detail"].startswith("QueryParserError")
    assert error["type"] == "ValidationFault"


def test_or_is_not_part_of_the_language(api: Api) -> None:
    response = api.query("SELECT * FROM Invoice WHERE Id = '1' OR Id = '2'")
    assert fault_of(response)["code"] == "4000"


def test_startposition_zero_is_rejected_like_quickbooks(api: Api) -> None:
    error = fault_of(api.query("SELECT * FROM Invoice STARTPOSITION 0"))
    assert error["code"] == "4001"
    assert "Min allowed value is 1" in error["Detail"]


def test_unknown_property_is_rejected(api: Api) -> None:
    assert fault_of(api.query("SELECT * FROM Invoice WHERE Colour = 'red'"))["code"] == "4001"


def test_maxresults_above_1000_is_refused_as_an_invalid_query_like_quickbooks(api: Api) -> None:
    error = fault_of(api.query("SELECT * FROM Invoice MAXRESULTS 1001"))
    assert (error["code"], error["Message"], error["type"]) == ("4001", "Invalid query", "ValidationFault")
    assert error["Detail"] == "QueryValidationError: value 1001 is too large. Max allowed value is 1000"
    assert len(api.rows("SELECT * FROM Invoice MAXRESULTS 1000", "Invoice")) == 120
