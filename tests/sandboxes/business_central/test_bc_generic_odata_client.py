"""An OData v4 client nobody here wrote (``odatapy``) reads the BC sandbox's ``$metadata`` and pages
through customers, posted invoices and the extension's ledger entries, typed by that metadata.

Proof that the sandbox speaks OData v4 the way a stock client expects (service root, ``$metadata``
as CSDL, ``Prefer: odata.maxpagesize``, ``@odata.nextLink``), not just the way arbridge's own
client reads it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import odatapy.client as odatapy_client
import pytest

from sandboxes.business_central import BusinessCentralSandbox


@pytest.fixture(scope="module")
def bc() -> Iterator[BusinessCentralSandbox]:
    with BusinessCentralSandbox(seed="demo", notification_delay=0) as sandbox:
        yield sandbox


def _client(bc: BusinessCentralSandbox, route: str) -> Any:
    transport = odatapy_client.HttpxTransport(
        auth=odatapy_client.BasicAuth(bc.web_service_user, bc.web_service_key)
    )
    return odatapy_client.EdmEnabledODataClient(
        f"{bc.onprem_api_url}/{route}", transport, odata_version="4.0"
    )


def _values(entity: Any) -> dict[str, Any]:
    return {p.name: p.value for p in entity.properties}


def _pages(client: Any, entity_set: str, company: str, size: int) -> list[list[dict[str, Any]]]:
    uri = client.uri().append_entity_set_segment("companies").append_key_segment(uuid.UUID(company))
    uri = uri.append_navigation_segment(entity_set)
    return [[_values(e) for e in page.entities] for page in client.iter_pages(uri, max_page_size=size)]


def test_a_stock_odata_client_reads_the_metadata_of_both_apis(bc: BusinessCentralSandbox) -> None:
    standard = _client(bc, "v2.0").get_edm()
    assert {"customers", "salesInvoices", "customerPaymentJournals"} <= {
        s.name for s in standard.entity_container.entity_sets
    }
    extension = _client(bc, "arbridge/collections/v1.0").get_edm()
    ledger = extension.entity_container.get_entity_set("customerLedgerEntries")
    assert ledger is not None
    entry = ledger.entity_type
    assert {"remainingAmount", "dueDate", "collectionStatus", "dunningLevel"} <= set(entry.property_names)
    assert list(entry.key_predicate_names) == ["id"]


def test_a_stock_odata_client_pages_through_customers_and_invoices(bc: BusinessCentralSandbox) -> None:
    client = _client(bc, "v2.0")
    company = bc.company.id
    pages = _pages(client, "customers", company, 7)
    assert len(pages) == -(-len(bc.company.customers) // 7) and all(len(p) <= 7 for p in pages)
    ids = [str(c["id"]) for page in pages for c in page]
    assert sorted(ids) == sorted(bc.company.customers)

    invoices = [i for page in _pages(client, "salesInvoices", company, 40) for i in page]
    assert len(invoices) == len(bc.company.invoices)
    # Values are read by the metadata: money as Decimal; due dates are Edm.Date in ISO form.
    sample = invoices[0]
    assert isinstance(sample["totalAmountIncludingTax"], Decimal)
    due = client.get_edm().entity_container.get_entity_set("salesInvoices").entity_type
    assert "Edm.Date" in str(due.get_structural_property("dueDate").type)
    assert date.fromisoformat(str(sample["dueDate"])) == bc.company.invoices[str(sample["id"])]["dueDate"]

    extension = _client(bc, "arbridge/collections/v1.0")
    entries = [e for page in _pages(extension, "customerLedgerEntries", company, 100) for e in page]
    assert sorted(str(e["id"]) for e in entries) == sorted(bc.company.entries)
    assert all(
        Decimal(str(e["remainingAmount"])) == bc.company.entries[str(e["id"])]["remainingAmount"]
        for e in entries
    )
