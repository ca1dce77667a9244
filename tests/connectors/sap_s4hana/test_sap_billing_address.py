"""An S/4HANA customer's dunning letter can be posted: its address comes from its business partner.

S/4HANA keeps postal addresses on the business partner (A_BusinessPartnerAddress of
API_BUSINESS_PARTNER), numbered like the customer by default; the connector reads them once per
page of customers and writes the street as the customer's country writes it.
"""

from __future__ import annotations

from connectors.sap_s4hana import SapS4HanaConnector
from mapping.models import Customer, PostalAddress, Stream, TargetType
from sandboxes.sap_s4hana.seed import add_customer
from sandboxes.sap_s4hana.server import S4Sandbox
from tests.connectors.sap_s4hana.sap_support import connector_for


def customers(conn: SapS4HanaConnector) -> dict[str, Customer]:
    return {
        r.remote_id: r
        for p in conn.read(Stream.CUSTOMERS, None)
        for r in p.records
        if isinstance(r, Customer)
    }


def test_a_customers_letter_address_is_its_business_partners_address(sap: S4Sandbox) -> None:
    add_customer(sap.book, "17100901", "Golden Gate Bikes Inc.", ["1710"])
    add_customer(sap.book, "10100901", "Elbe Werkzeuge GmbH", ["1010"])
    sap.book.update(
        "A_BusinessPartnerAddress", ("10100901", "1"), {"StreetName": "Am Sandtorkai", "HouseNumber": "5"}
    )
    found = customers(connector_for(sap))

    us, de = found["17100901"].billing_address, found["10100901"].billing_address
    assert us is not None and de is not None and us.is_postable() and de.is_postable()
    # An American address puts the house number first, a German one after the street.
    assert us.printed_lines(home_country="US") == ["93 Market Street", "San Francisco, CA 94105"]
    assert de == PostalAddress(
        line1="Am Sandtorkai 5", city="Hamburg", region="HH", postal_code="20457", country="DE"
    )
    assert de.printed_lines(home_country="DE") == ["Am Sandtorkai 5", "20457 Hamburg"]


def test_a_customer_without_an_address_has_none_and_re_reading_one_customer_keeps_its_address(
    sap: S4Sandbox,
) -> None:
    add_customer(sap.book, "10100902", "Ohne Anschrift AG", ["1010"], address=False)
    conn = connector_for(sap)

    assert customers(conn)["10100902"].billing_address is None
    again = conn.fetch(TargetType.CUSTOMER, "10100001")
    assert (
        isinstance(again, Customer) and again.billing_address == customers(conn)["10100001"].billing_address
    )
    assert again.billing_address is not None and again.billing_address.line1 == "Hafenstrasse 71"
