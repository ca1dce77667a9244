"""Every connector brings the customer's billing address, so a dunning letter can be posted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import responses

from connectors.base import ConnectorContext
from connectors.csv import CsvConnector
from connectors.csv.sample import write_sample_exports
from mapping.fieldmap import FieldMap
from mapping.models import Customer, PostalAddress, Stream
from tests.connectors.quickbooks.qbo_fakes import FakeQbo, make_connector, paged_query_handler


def customers(pages: Iterator[Any]) -> dict[str, Customer]:
    return {r.remote_id: r for p in pages for r in p.records if isinstance(r, Customer)}


def test_quickbooks_bill_addr_becomes_the_letters_address() -> None:
    row = {
        "Id": "58",
        "SyncToken": "2",
        "DisplayName": "Cool Cars",
        "Active": True,
        "BillAddr": {
            "Id": "95",
            "Line1": "65 Ocean Dr.",
            "City": "Half Moon Bay",
            "CountrySubDivisionCode": "CA",
            "PostalCode": "94213",
            "Country": "USA",
        },
        "MetaData": {"LastUpdatedTime": "2026-01-01T10:00:00-08:00"},
    }
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.handlers["query"] = paged_query_handler("Customer", [row])
        found = customers(make_connector(fake).read(Stream.CUSTOMERS, None))
    address = found["58"].billing_address
    assert address == PostalAddress(
        line1="65 Ocean Dr.", city="Half Moon Bay", region="CA", postal_code="94213", country="USA"
    )
    assert address.printed_lines(home_country="USA") == ["65 Ocean Dr.", "Half Moon Bay, CA 94213"]


def test_a_quickbooks_customer_without_bill_addr_has_no_address() -> None:
    row = {
        "Id": "7",
        "DisplayName": "No Address Inc",
        "MetaData": {"LastUpdatedTime": "2026-01-01T10:00:00Z"},
    }
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.handlers["query"] = paged_query_handler("Customer", [row])
        found = customers(make_connector(fake).read(Stream.CUSTOMERS, None))
    assert found["7"].billing_address is None


def test_netsuite_default_address_becomes_the_letters_address() -> None:
    import connectors.netsuite.connector as netsuite

    # A Customer as SuiteTalk returns it (lists.relationships.xsd), through the connector's own map;
    # defaultAddress is a body field, so a search with bodyFieldsOnly brings it.
    record = {
        "internalId": "1001",
        "externalId": "CRM-4000",
        "companyName": "Acme Industrial Supply",
        "defaultAddress": "Acme Industrial Supply<br>100 Market St<br>Portland OR 97204<br>United States",
        "isInactive": "false",
        "lastModifiedDate": "2026-11-30T15:17:59.000-08:00",
    }
    found = FieldMap.load(netsuite.MAPPING).to_record(Stream.CUSTOMERS, record)
    assert isinstance(found, Customer) and found.billing_address is not None
    # NetSuite prints the addressee first; the rest are the lines of the envelope.
    assert found.billing_address.street_lines == [
        "Acme Industrial Supply",
        "100 Market St",
        "Portland OR 97204",
        "United States",
    ]
    assert found.billing_address.is_postable()


def test_csv_address_columns_become_the_letters_address(tmp_path: Path) -> None:
    folder = write_sample_exports(tmp_path / "exports")
    conn = CsvConnector.create({"folder": str(folder)}, ConnectorContext("harbor-lane"))
    found = customers(conn.read(Stream.CUSTOMERS, None))
    assert found["103"].billing_address == PostalAddress(
        line1="Bergmannstraße 14", city="Berlin", postal_code="10961", country="DE"
    )
    assert found["103"].billing_address.printed_lines() == ["Bergmannstraße 14", "10961 Berlin", "DE"]
    # A row whose address cells are empty has no address, not an empty one.
    assert found["107"].billing_address is None


def test_an_address_given_as_printed_text_keeps_its_lines() -> None:
    customer = Customer(
        remote_id="1",
        name="Müller GmbH",
        remote_modified_at=datetime(2026, 1, 1, tzinfo=UTC),
        billing_address="Müller GmbH\r\nIndustriestr. 5<br />D-70565 Stuttgart",
    )
    assert customer.billing_address is not None
    assert customer.billing_address.street_lines == ["Müller GmbH", "Industriestr. 5", "D-70565 Stuttgart"]
    assert json.loads(customer.model_dump_json())["billing_address"]["line3"] == "D-70565 Stuttgart"


def test_an_address_with_only_a_country_cannot_be_posted() -> None:
    assert not PostalAddress(country="DE").is_postable()
    assert not PostalAddress(line1="Hafenstr. 1").is_postable()
    assert PostalAddress(line1="Hafenstr. 1", postal_code="20457").is_postable()
