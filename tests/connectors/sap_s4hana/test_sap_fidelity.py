"""Fidelity: what the connector and the sandbox use exists in SAP's EDMX and WSDL, and SAP's clients agree."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import requests
from lxml import etree

from connectors.base import OutboundOp
from connectors.sap_s4hana import connector as sap_connector
from connectors.sap_s4hana import items
from sandboxes.sap_s4hana.edmx import EDMX_FILES, load_service
from sandboxes.sap_s4hana.server import S4Sandbox
from sandboxes.sap_s4hana.soap import SFIN, load_schema, wsdl_path
from tests.connectors.sap_s4hana.sap_support import connector_for, open_invoices, payment_for


def test_every_property_the_connector_reads_or_writes_is_declared_in_saps_edmx(specs_dir: Path) -> None:
    cube = load_service("API_OPLACCTGDOCITEMCUBE_SRV", specs_dir).entity_sets["A_OperationalAcctgDocItemCube"]
    bp = load_service("API_BUSINESS_PARTNER", specs_dir)
    assert set(items.ITEM_FIELDS) <= set(cube.entity_type.properties)
    assert set(sap_connector.ITEM_KEYS) == set(cube.entity_type.keys)
    assert set(sap_connector.CUSTOMER_FIELDS) <= set(bp.entity_sets["A_Customer"].entity_type.properties)
    company = bp.entity_sets["A_CustomerCompany"].entity_type
    assert {"PaymentTerms", "DeletionIndicator", "PaymentBlockingReason", "CustomerAccountNote"} <= set(
        company.properties
    )
    assert company.properties["CustomerAccountNote"].updatable
    dunning = bp.entity_sets["A_CustomerDunning"].entity_type
    assert dunning.keys == ["Customer", "CompanyCode", "DunningArea"]
    for name in ("DunningLevel", "DunningBlock", "LastDunnedOn"):
        assert dunning.properties[name].updatable
    assert (
        bp.entity_sets["A_Customer"].entity_type.navigations["to_CustomerCompany"].target_set
        == "A_CustomerCompany"
    )
    assert company.navigations["to_CustomerDunning"].target_set == "A_CustomerDunning"


def test_the_sandbox_serves_saps_own_metadata_byte_for_byte(sap: S4Sandbox, specs_dir: Path) -> None:
    session = requests.Session()
    session.auth = next(iter(sap.users.items()))
    for service, filename in EDMX_FILES.items():
        served = session.get(sap.odata_url(service) + "$metadata", timeout=10)
        assert served.status_code == 200
        assert served.content == (specs_dir / "sap-s4hana" / "edmx" / filename).read_bytes()


def test_captured_journal_entry_requests_and_confirmations_validate_against_saps_schema(
    sap: S4Sandbox, specs_dir: Path
) -> None:
    conn = connector_for(sap)
    invoice = open_invoices(conn)[0]
    [result] = conn.write([OutboundOp("pay-schema", payment_for(invoice))])
    assert result.ok
    schema = load_schema(str(wsdl_path(specs_dir)))
    assert conn.journal.sent, "the connector sent no SOAP request"
    for envelope in conn.journal.sent:
        body = etree.fromstring(envelope).find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
        request = body[0]
        assert request.tag == f"{{{SFIN}}}JournalEntryBulkCreateRequest"
        schema.validate(request)
        entry = request.find("JournalEntryCreateRequest/JournalEntry")
        assert entry.findtext("DocumentReferenceID").startswith("AR")
        assert request.findtext("JournalEntryCreateRequest/MessageHeader/ID") == "pay-schema"
    answer = sap.journal.handle(sap.journal.received[-1], "ARBRIDGE_COMM")
    schema.validate(etree.fromstring(answer).find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0])


def test_pyodata_pointed_at_the_sandbox_reads_customers_and_items_unchanged(sap: S4Sandbox) -> None:
    import pyodata
    from pyodata.v2.model import Config, PolicyIgnore

    session = requests.Session()
    session.auth = next(iter(sap.users.items()))
    config = Config(default_error_policy=PolicyIgnore(), retain_null=True)
    bp = pyodata.Client(sap.odata_url("API_BUSINESS_PARTNER"), session, config=config)
    cube = pyodata.Client(sap.odata_url("API_OPLACCTGDOCITEMCUBE_SRV"), session, config=config)

    customers = (
        bp.entity_sets.A_Customer.get_entities().expand("to_CustomerCompany/to_CustomerDunning").execute()
    )
    assert len(customers) == len(sap.book.tables["A_Customer"])
    for customer in customers:
        row = sap.book.tables["A_Customer"][(customer.Customer,)]
        assert customer.CustomerName == row["CustomerName"]
        assert customer.etag == sap.book.etag("A_Customer", (customer.Customer,))
        for company in customer.to_CustomerCompany:
            dunning = company.to_CustomerDunning[0]
            stored = sap.book.tables["A_CustomerDunning"][(customer.Customer, company.CompanyCode, "")]
            assert dunning.DunningLevel == stored["DunningLevel"]
            assert dunning.etag == sap.book.etag(
                "A_CustomerDunning", (customer.Customer, company.CompanyCode, "")
            )

    rows = cube.entity_sets.A_OperationalAcctgDocItemCube.get_entities().count(inline=True).execute()
    assert rows.total_count == len(sap.book.tables["A_OperationalAcctgDocItemCube"])
    for item in rows:
        key = (item.CompanyCode, item.FiscalYear, item.AccountingDocument, item.AccountingDocumentItem)
        stored = sap.book.tables["A_OperationalAcctgDocItemCube"][key]
        # pyodata hands Edm.Decimal over as the JSON string SAP wrote (three decimals).
        assert Decimal(item.AmountInTransactionCurrency) == stored["AmountInTransactionCurrency"]
        assert item.PostingDate == stored["PostingDate"].replace(tzinfo=UTC)
        assert item.IsCleared is stored["IsCleared"]
        assert isinstance(item.NetDueDate, datetime)
