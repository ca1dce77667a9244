"""A SAP Business One customer's dunning letter goes to its default bill-to address, not the ship-to.

B1 keeps a business partner's addresses in BPAddresses (CRD1) and copies the default bill-to row
(BilltoDefault) into the partner's header; the connector reads the header, so the Service Layer
read and the fast read over ODBC (OCRD) bring the same address.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config import default_config
from connectors.sap_business_one import SapBusinessOneConnector
from engine.runner import open_store, sync_connection
from mapping.models import Customer, PostalAddress, Stream, TargetType
from sandboxes.sap_business_one import ServiceLayerSandbox
from tests.connectors.netsuite.test_netsuite_letters import pdf_text
from tests.connectors.sap_business_one.b1_target import connector_for, create_fields, settings_for
from tests.engine.dunning_fixtures import POLICY


@pytest.fixture
def b1(specs_dir: Path) -> Iterator[ServiceLayerSandbox]:
    with ServiceLayerSandbox(seed="demo", specs=str(specs_dir), throttle=False) as sandbox:
        create_fields(sandbox)
        yield sandbox


def customers(conn: SapBusinessOneConnector) -> dict[str, Customer]:
    with conn:
        return {
            r.remote_id: r
            for p in conn.read(Stream.CUSTOMERS, None)
            for r in p.records
            if isinstance(r, Customer)
        }


def bill_to(street: str, zip_code: str, city: str, country: str, **more: Any) -> dict[str, Any]:
    return {
        "AddressName": "Head office",
        "AddressType": "bo_BillTo",
        "Street": street,
        "ZipCode": zip_code,
        "City": city,
        "Country": country,
        **more,
    }


def test_a_customers_letter_address_is_its_default_bill_to_not_its_ship_to(b1: ServiceLayerSandbox) -> None:
    found = customers(connector_for(b1))

    us = found["C23900"].billing_address
    assert us == PostalAddress(
        line1="2201 Westlake Avenue",
        line2="Suite 110",
        city="Seattle",
        region="WA",
        postal_code="98121",
        country="US",
    )
    assert us.printed_lines(home_country="US") == ["2201 Westlake Avenue", "Suite 110", "Seattle, WA 98121"]
    de = found["C20000"].billing_address
    assert de is not None and de.printed_lines(home_country="DE") == ["Lindenstraße 12", "10969 Berlin"]
    # The seed's ship-to rows name the goods entrance; no letter goes there.
    assert all("Goods receiving" not in str(c.billing_address) for c in found.values())


def test_a_new_default_bill_to_set_in_b1_is_read_and_a_partner_without_one_has_no_address(
    b1: ServiceLayerSandbox,
) -> None:
    moved = b1.company.tables["BusinessPartners"]["C40000"]
    b1.touch(
        "BusinessPartners",
        "C40000",
        BPAddresses=[*moved["BPAddresses"], bill_to("Am Sandtorkai 5", "20457", "Hamburg", "DE")],
        BilltoDefault="Head office",
    )
    b1.touch(
        "BusinessPartners",
        "C30000",
        BPAddresses=[],
        Address="",
        ZipCode="",
        City="",
        Country="",
        BillToBuildingFloorRoom="",
    )
    conn = connector_for(b1)
    found = customers(conn)

    assert found["C40000"].billing_address == PostalAddress(
        line1="Am Sandtorkai 5", city="Hamburg", postal_code="20457", country="DE"
    )
    assert found["C30000"].billing_address is None
    with conn:
        again = conn.fetch(TargetType.CUSTOMER, "C40000")
    assert isinstance(again, Customer) and again.billing_address == found["C40000"].billing_address


def test_a_b1_customers_letter_carries_its_bill_to_address(tmp_path: Path, b1: ServiceLayerSandbox) -> None:
    policy = tmp_path / "dunning-policy.yaml"
    policy.write_text(textwrap.dedent(POLICY).replace("channels: [email, letter]", "channels: [letter]"))
    letters = tmp_path / "letters"
    cfg = default_config(
        tmp_path / "state",
        overrides={
            "connections": [{"name": "b1", "connector": "sap-business-one", "settings": settings_for(b1)}],
            "rules": {
                "dunning": {
                    "enabled": True,
                    "policy": str(policy),
                    "channels": {"letter": {"dir": str(letters)}},
                }
            },
        },
    )
    store = open_store(cfg)
    report = sync_connection(cfg, cfg.connections[0], store)
    store.close()

    assert report.status == "ok", report
    covers = [json.loads(p.read_text()) for p in sorted(letters.glob("*.json"))]
    assert len(covers) >= 3, report
    partners = b1.company.tables["BusinessPartners"]
    for cover in covers:
        drawn = pdf_text((letters / f"{cover['key']}.pdf").read_bytes())
        partner = partners[cover["customer_id"]]
        at = drawn.index(partner["CardName"])
        row = next(a for a in partner["BPAddresses"] if a["AddressName"] == partner["BilltoDefault"])
        street = [row["Street"], *([row["BuildingFloorRoom"]] if row.get("BuildingFloorRoom") else [])]
        assert drawn[at + 1 : at + 1 + len(street)] == street, drawn[:12]
        # The place as the country writes it: "10969 Berlin", "Seattle, WA 98121", or London and
        # its postcode on lines of their own.
        place = " ".join(drawn[at + 1 + len(street) : at + 3 + len(street)])
        assert row["City"] in place and row["ZipCode"] in place, drawn[:12]
