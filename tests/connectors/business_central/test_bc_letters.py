"""A Business Central customer's dunning letter is addressed to the address BC holds for it.

The daemon pulls the BC sandbox (API v2.0 ``customers``: addressLine1, addressLine2, city, state,
postalCode, country), plans reminders sent by post, and drops the PDFs: each letter names the
customer, then the street lines and the place as the customer card has them.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import pytest
from fpdf import FPDF

from config import default_config
from engine.runner import open_store, sync_connection
from mapping.models import Customer, PostalAddress, Stream
from sandboxes.business_central import BusinessCentralSandbox
from tests.connectors.business_central.bc_target import KEY, BusinessCentralTarget, onprem_settings
from tests.connectors.netsuite.test_netsuite_letters import pdf_text
from tests.engine.dunning_fixtures import POLICY


def test_a_bc_customers_letter_carries_the_address_on_its_customer_card(tmp_path: Path) -> None:
    policy = tmp_path / "dunning-policy.yaml"
    # Reminders go by post: the first level's e-mail is left out.
    policy.write_text(textwrap.dedent(POLICY).replace("channels: [email, letter]", "channels: [letter]"))
    letters = tmp_path / "letters"
    with BusinessCentralSandbox(seed="demo", web_service_key=KEY, notification_delay=0) as bc:
        cfg = default_config(
            tmp_path / "state",
            overrides={
                "connections": [
                    {"name": "cronus", "connector": "business_central", "settings": onprem_settings(bc)}
                ],
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
        held = {c["id"]: c for c in bc.company.customers.values()}

    assert report.status == "ok", report
    covers = [json.loads(p.read_text()) for p in sorted(letters.glob("*.json"))]
    assert len(covers) >= 5, report
    for cover in covers:
        drawn = pdf_text((letters / f"{cover['key']}.pdf").read_bytes())
        card = held[cover["customer_id"]]
        # Which letter, and what was read of it, if the customer's name is not on it.
        assert card["displayName"] in drawn, (cover, drawn[:12])
        at = drawn.index(card["displayName"])
        street = [card["addressLine1"], *([card["addressLine2"]] if card.get("addressLine2") else [])]
        place = f"{card['city']}, {card['state']} {card['postalCode']}"
        assert drawn[at + 1 : at + 2 + len(street)] == [*street, place], drawn[:12]
    # The seed's second lines (suites, floors) reach the envelope too.
    assert any(held[c["customer_id"]].get("addressLine2") for c in covers)


def test_a_letter_whose_compressed_page_ends_in_a_carriage_return_is_read_whole() -> None:
    # About one page in 256 compresses to bytes ending in a carriage return (a letter names its
    # customer's random id, so which one varies from run to run); the letters above are read
    # with this reader, which must not take that byte for the line end before "endstream".
    for n in range(4096):
        name = f"Customer: {uuid.uuid5(uuid.NAMESPACE_OID, str(n))}"
        pdf = FPDF()
        pdf.add_page()
        pdf.set_font("helvetica", size=11)
        pdf.cell(text="Proseware, Inc.")
        pdf.ln()
        pdf.cell(text=name)
        drawn = bytes(pdf.output())
        if b"\r\nendstream" in drawn:
            break
    else:
        pytest.fail("no page of 4096 ended its compressed bytes in a carriage return")

    assert pdf_text(drawn) == ["Proseware, Inc.", name]


def test_a_changed_address_in_bc_reaches_arbridge_and_a_blank_one_is_no_address(tmp_path: Path) -> None:
    target = BusinessCentralTarget(tmp_path)
    try:
        company = target.sandbox.company
        moved, blank = sorted(company.customers)[:2]
        company.customers[moved].update(
            addressLine1="Hafenstrasse 71",
            addressLine2="",
            city="Hamburg",
            state="",
            postalCode="20457",
            country="DE",
        )
        company.stamp(company.customers[moved])
        for field in ("addressLine1", "addressLine2", "city", "state", "postalCode", "country"):
            company.customers[blank][field] = ""
        company.stamp(company.customers[blank])

        with target.make_connector() as conn:
            found = {
                r.remote_id: r
                for p in conn.read(Stream.CUSTOMERS, None)
                for r in p.records
                if isinstance(r, Customer)
            }
    finally:
        target.sandbox.stop()

    address = found[moved].billing_address
    assert address == PostalAddress(
        line1="Hafenstrasse 71", city="Hamburg", postal_code="20457", country="DE"
    )
    assert address.printed_lines(home_country="US") == ["Hafenstrasse 71", "20457 Hamburg", "DE"]
    assert found[blank].billing_address is None
