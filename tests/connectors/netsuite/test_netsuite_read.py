"""Reading: paging, the overlap window, deletions."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from connectors.netsuite import NetSuiteConnector
from mapping.models import DocumentStatus, Invoice, Payment, Stream
from sandboxes.netsuite import NetSuiteSandbox


def test_search_pages_with_search_more_with_id(
    sandbox: NetSuiteSandbox, make_connector: Callable[..., NetSuiteConnector]
) -> None:
    conn = make_connector(page_size=10)
    pages = list(conn.read(Stream.INVOICES, None))
    ids = [r.remote_id for p in pages for r in p.records]
    assert sorted(ids) == sorted(sandbox.ids("invoice"))
    assert len(pages) == 5  # 48 invoices at 10 a page
    assert sandbox.calls("search") == 1 and sandbox.calls("searchMoreWithId") == 4
    assert [p.cursor.resumable for p in pages if p.cursor] == [False] * 4 + [True]


def test_first_read_maps_invoices_and_payment_applications(connector: NetSuiteConnector) -> None:
    invoices = [r for p in connector.read(Stream.INVOICES, None) for r in p.records]
    payments = [r for p in connector.read(Stream.PAYMENTS, None) for r in p.records]
    assert all(isinstance(i, Invoice) and i.currency in {"USD", "EUR", "GBP"} for i in invoices)
    paid = {a.target_id for p in payments if isinstance(p, Payment) for a in p.allocations}
    by_id = {i.remote_id: i for i in invoices if isinstance(i, Invoice)}
    assert paid and all(by_id[i].status in (DocumentStatus.PAID, DocumentStatus.PARTIALLY_PAID) for i in paid)
    assert all(by_id[i].open_amount < by_id[i].total for i in paid)


def test_overlap_window_does_not_repeat_records(
    sandbox: NetSuiteSandbox, connector: NetSuiteConnector
) -> None:
    first = list(connector.read(Stream.CUSTOMERS, None))
    cursor = first[-1].cursor
    customer = sandbox.ids("customer")[3]
    sandbox.touch("customer", customer, phone="(555) 0199-0000")
    second = list(connector.read(Stream.CUSTOMERS, cursor))
    assert [r.remote_id for p in second for r in p.records] == [customer]
    # Nothing changed since: the overlap window re-reads the same record, which is not delivered again.
    third = list(connector.read(Stream.CUSTOMERS, second[-1].cursor))
    assert [r for p in third for r in p.records] == []
    assert sandbox.calls("search") == 3


def test_record_changed_twice_inside_the_window_is_delivered_twice(
    sandbox: NetSuiteSandbox, connector: NetSuiteConnector
) -> None:
    cursor = list(connector.read(Stream.INVOICES, None))[-1].cursor
    invoice = sandbox.ids("invoice")[0]
    sandbox.touch("invoice", invoice, memo="first change")
    cursor = list(connector.read(Stream.INVOICES, cursor))[-1].cursor
    sandbox.touch("invoice", invoice, memo="second change")
    again = [r for p in connector.read(Stream.INVOICES, cursor) for r in p.records]
    assert [(r.remote_id, getattr(r, "memo", None)) for r in again] == [(invoice, "second change")]


def test_get_deleted_becomes_soft_delete(sandbox: NetSuiteSandbox, connector: NetSuiteConnector) -> None:
    cursor = list(connector.read(Stream.INVOICES, None))[-1].cursor
    victim = sandbox.ids("invoice")[5]
    sandbox.delete("invoice", victim)
    pages = list(connector.read(Stream.INVOICES, cursor))
    deleted = [r for p in pages for r in p.records if r.deleted]
    assert [r.remote_id for r in deleted] == [victim]
    assert isinstance(deleted[0], Invoice) and deleted[0].open_amount == Decimal(0)
    assert sandbox.calls("getDeleted") == 1
    later = list(connector.read(Stream.INVOICES, pages[-1].cursor))
    assert [r for p in later for r in p.records] == []


def test_first_read_skips_get_deleted(sandbox: NetSuiteSandbox, connector: NetSuiteConnector) -> None:
    list(connector.read(Stream.CUSTOMERS, None))
    assert sandbox.calls("getDeleted") == 0
