"""Shared helpers of the SAP S/4HANA connector tests: a sandbox and a connector pointed at it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from connectors.base import ConnectorContext, KeyValueStore, MemoryKeyValueStore
from connectors.sap_s4hana import SapS4HanaConnector
from mapping.models import (
    Allocation,
    CollectionStatus,
    CollectionStatusUpdate,
    Invoice,
    PaymentApplication,
    Stream,
    TargetType,
)
from sandboxes.sap_s4hana.server import S4Sandbox

BANK_GL = "11001020"


def settings_for(sap: S4Sandbox, **overrides: Any) -> dict[str, Any]:
    """Connection settings as an admin writes them for the sandbox."""
    user, password = next(iter(sap.users.items()))
    settings: dict[str, Any] = {
        "base_url": sap.base_url,
        "username": user,
        "password": password,
        "company_codes": ["1010", "1710", "4510"],
        "bank_gl_account": BANK_GL,
        "page_size": 10,
    }
    settings.update(overrides)
    return settings


def connector_for(sap: S4Sandbox, state: KeyValueStore | None = None, **overrides: Any) -> SapS4HanaConnector:
    conn = SapS4HanaConnector.create(
        settings_for(sap, **overrides), ConnectorContext("sap-test", state=state or MemoryKeyValueStore())
    )
    assert isinstance(conn, SapS4HanaConnector)
    return conn


def open_invoices(conn: SapS4HanaConnector) -> list[Invoice]:
    found = [r for p in conn.read(Stream.INVOICES, None) for r in p.records]
    return [r for r in found if isinstance(r, Invoice) and r.open_amount > 0]


def reminder(invoice: Invoice, level: int = 2, day: date | None = None) -> CollectionStatusUpdate:
    return CollectionStatusUpdate(
        target_type=TargetType.INVOICE,
        target_id=invoice.remote_id,
        collection_status=CollectionStatus.REMINDED,
        dunning_level=level,
        decided_on=day or date(2026, 12, 1),
    )


def payment_for(invoice: Invoice, amount: Decimal | None = None) -> PaymentApplication:
    paid = amount if amount is not None else invoice.open_amount
    return PaymentApplication(
        target_type=TargetType.CUSTOMER,
        target_id=invoice.customer_remote_id,
        customer_remote_id=invoice.customer_remote_id,
        amount=paid,
        currency=invoice.currency,
        date=date(2026, 12, 2),
        reference="bank line 4711",
        allocations=[Allocation(target_type=TargetType.INVOICE, target_id=invoice.remote_id, amount=paid)],
    )


def dunning_key(invoice_id: str) -> tuple[str, str, str]:
    parts = invoice_id.split("/")
    return parts[4], parts[0], ""
