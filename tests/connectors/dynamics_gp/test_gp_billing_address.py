"""A Dynamics GP customer's dunning letter can be posted: its primary address comes from RM00101."""

from __future__ import annotations

from connectors.dynamics_gp import DynamicsGpConnector
from mapping.models import Customer, PostalAddress, Stream
from sandboxes.dynamics_gp import GpSandbox
from tests.connectors.dynamics_gp.conftest import connector_for


def customers(connector: DynamicsGpConnector) -> dict[str, Customer]:
    return {
        r.remote_id: r
        for p in connector.read(Stream.CUSTOMERS, None)
        for r in p.records
        if isinstance(r, Customer)
    }


def test_a_customers_letter_goes_to_its_primary_address_in_gp(gp: GpSandbox, login: str) -> None:
    gp.execute(
        f"UPDATE {gp.t('RM00101')} SET \"ADDRESS1\" = 'Am Sandtorkai 5', \"ADDRESS2\" = '', "
        "\"CITY\" = 'Hamburg', \"STATE\" = '', \"ZIP\" = '20457' WHERE \"CUSTNMBR\" = 'BERLINER0001'"
    )
    found = customers(connector_for(gp, login))

    berliner, aaron = found["BERLINER0001"].billing_address, found["AARONFIT0001"].billing_address
    # GP pads its char columns; the letter carries the text, and an empty line is no line.
    assert berliner == PostalAddress(
        line1="Am Sandtorkai 5", city="Hamburg", postal_code="20457", country="Germany"
    )
    assert aaron is not None and aaron.is_postable()
    assert aaron.street_lines[1] == "Suite 200" and (aaron.city, aaron.region) == ("Redmond", "WA")


def test_a_customer_with_no_address_in_gp_has_none(gp: GpSandbox, login: str) -> None:
    gp.execute(
        f"UPDATE {gp.t('RM00101')} SET \"ADDRESS1\" = '', \"ADDRESS2\" = '', \"CITY\" = '', "
        "\"STATE\" = '', \"ZIP\" = '', \"COUNTRY\" = '' WHERE \"CUSTNMBR\" = 'ADAMPARK0001'"
    )
    assert customers(connector_for(gp, login))["ADAMPARK0001"].billing_address is None
