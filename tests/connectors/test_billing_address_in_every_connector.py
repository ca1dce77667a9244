"""Every connector brings the customer's billing address, so a dunning letter can be posted."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import responses
import yaml

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


ERP_CONNECTORS = sorted(entry_points(group="arbridge.connectors"), key=lambda e: e.name)


def test_the_address_check_below_reaches_every_erp_connector() -> None:
    # An installation whose entry points are missing would otherwise check nothing.
    assert {e.name for e in ERP_CONNECTORS} >= {
        "csv",
        "quickbooks",
        "netsuite",
        "business_central",
        "sap-s4hana",
        "sap-business-one",
        "dynamics-gp",
    }


@pytest.mark.parametrize("entry", ERP_CONNECTORS, ids=[e.name for e in ERP_CONNECTORS])
def test_every_connector_maps_the_customers_billing_address(entry: Any) -> None:
    mapping = Path(inspect.getfile(entry.load())).with_name("mapping.yaml")
    customers = yaml.safe_load(mapping.read_text())["streams"]["customers"]["fields"]
    assert "billing_address" in customers, f"{entry.name}: {mapping} maps no billing_address"


def test_business_central_customer_card_address_becomes_the_letters_address() -> None:
    from connectors.business_central.connector import MAPPING_FILE

    # A customer as API v2.0 answers it (APIV2Customers.Page.al); blank fields come as "".
    entity = {
        "id": "5d115c9c-44e3-ea11-bb43-000d3a2feca1",
        "displayName": "Adatum Corporation",
        "addressLine1": "192 Market Square",
        "addressLine2": "",
        "city": "Atlanta",
        "state": "GA",
        "country": "US",
        "postalCode": "30303",
        "blocked": "_x0020_",
        "lastModifiedDateTime": "2026-10-01T08:00:00Z",
    }
    found = FieldMap.load(MAPPING_FILE).to_record(Stream.CUSTOMERS, entity)
    assert isinstance(found, Customer)
    assert found.billing_address == PostalAddress(
        line1="192 Market Square", city="Atlanta", region="GA", postal_code="30303", country="US"
    )


def test_sap_business_one_bill_to_header_becomes_the_letters_address() -> None:
    from connectors.sap_business_one.connector import MAPPING_FILE

    # A BusinessPartner's header as B1 keeps it from the default bill-to row; no state in Germany.
    entity = {
        "CardCode": "C20000",
        "CardName": "Kessler Bäckerei GmbH",
        "Address": "Lindenstraße 12",
        "Block": "",
        "BillToBuildingFloorRoom": "Hinterhaus",
        "ZipCode": "10969",
        "City": "Berlin",
        "County": "",
        "BillToState": "",
        "Country": "DE",
        "Valid": "tYES",
    }
    found = FieldMap.load(MAPPING_FILE).to_record(
        Stream.CUSTOMERS, entity, remote_modified_at=datetime(2026, 10, 1, tzinfo=UTC)
    )
    assert isinstance(found, Customer) and found.billing_address is not None
    assert found.billing_address.printed_lines(home_country="DE") == [
        "Lindenstraße 12",
        "Hinterhaus",
        "10969 Berlin",
    ]


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
