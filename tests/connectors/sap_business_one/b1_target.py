"""A Service Layer sandbox and a connector configured for it, shared by the connector's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.base import ConnectorContext, MemoryKeyValueStore
from connectors.conformance import ConformanceTarget
from connectors.sap_business_one import SapBusinessOneConnector, SapBusinessOneSettings
from connectors.sap_business_one.fields import user_fields
from mapping.models import CollectionStatus, CollectionStatusUpdate, Operation, Stream, TargetType
from sandboxes.sap_business_one import ServiceLayerSandbox

PASSWORD = "SENTINEL-b1-password-5d1e"
TRANSFER_ACCOUNT = "_SYS00000000103"
SETS = {
    Stream.CUSTOMERS: "BusinessPartners",
    Stream.INVOICES: "Invoices",
    Stream.CREDIT_MEMOS: "CreditNotes",
    Stream.PAYMENTS: "IncomingPayments",
}


def settings_for(sandbox: ServiceLayerSandbox, **extra: Any) -> dict[str, Any]:
    return {
        "service_url": sandbox.service_root,
        "company_db": sandbox.company_db,
        "username": sandbox.user,
        "password": sandbox.password,
        "transfer_account": TRANSFER_ACCOUNT,
        **extra,
    }


def create_fields(sandbox: ServiceLayerSandbox) -> None:
    """What ``arbridge setup sap-business-one`` creates, put straight into the sandbox company."""
    for field in user_fields(SapBusinessOneSettings.model_validate(settings_for(sandbox))):
        sandbox.company.add_udf(field.body())


def connector_for(
    sandbox: ServiceLayerSandbox, state: MemoryKeyValueStore | None = None, **extra: Any
) -> SapBusinessOneConnector:
    made = SapBusinessOneConnector.create(
        settings_for(sandbox, **extra), ConnectorContext("b1-sandbox", state=state or MemoryKeyValueStore())
    )
    assert isinstance(made, SapBusinessOneConnector)
    return made


class SapBusinessOneTarget(ConformanceTarget):
    """A fresh sandbox company per test, its fields created, pages of three records."""

    connector_name = "sap-business-one"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.sandbox = ServiceLayerSandbox(seed="demo", users={"manager": PASSWORD}).start()
        create_fields(self.sandbox)
        self.state = MemoryKeyValueStore()
        self.invoice = min(self.sandbox.company.tables["Invoices"])

    def make_connector(self) -> SapBusinessOneConnector:
        return connector_for(self.sandbox, self.state, page_size=3)

    def _keys(self, stream: Stream) -> list[Any]:
        rows = self.sandbox.company.tables[SETS[stream]]
        if stream is Stream.CUSTOMERS:
            return sorted(k for k, r in rows.items() if r["CardType"] == "cCustomer")
        return sorted(rows)

    def existing_ids(self, stream: Stream) -> set[str]:
        return {str(k) for k in self._keys(stream)}

    def _change(self, stream: Stream, keys: list[Any], when: Any = None) -> list[str]:
        for key in keys:
            if stream is Stream.PAYMENTS:
                self.sandbox.company.cancel_payment(key)
            else:
                self.sandbox.touch(SETS[stream], key, when, Comments="edited in B1")
        return [str(k) for k in keys]

    def change_records(self, stream: Stream, n: int) -> list[str]:
        return self._change(stream, self._keys(stream)[:n])

    def change_records_at_one_time(self, stream: Stream) -> list[str]:
        when = self.sandbox.clock()
        return self._change(stream, self._keys(stream)[:5], when)

    def delete_record(self, stream: Stream) -> str:
        if stream is Stream.CUSTOMERS:
            raise NotImplementedError  # B1 keeps a business partner with documents; it is never deleted
        key = self._keys(stream)[-1]
        if stream is Stream.PAYMENTS:
            self.sandbox.company.cancel_payment(key)
        else:
            self.sandbox.touch(SETS[stream], key, Cancelled="tYES", DocumentStatus="bost_Close")
        return str(key)

    def break_record(self, stream: Stream) -> tuple[str, str]:
        key = self._keys(stream)[0]
        if stream is Stream.CUSTOMERS:
            self.sandbox.touch("BusinessPartners", key, CardName=None)
            return str(key), "CardName"
        if stream is Stream.PAYMENTS:
            self.sandbox.company.tables["IncomingPayments"][key]["DocDate"] = "31/12/2026"
            self.sandbox.company.cancel_payment(key)  # B1 changes a payment only by cancelling it
            return str(key), "DocDate"
        self.sandbox.touch(SETS[stream], key, DocDate="31/12/2026")
        return str(key), "DocDate"

    def throttle(self, retry_after: float) -> int | None:
        self.sandbox.busy_for(3600, retry_after)
        return int(retry_after)

    def sample_operation(self) -> Operation:
        record = self.sandbox.company.tables["Invoices"][self.invoice]
        return CollectionStatusUpdate(
            target_type=TargetType.INVOICE,
            target_id=str(self.invoice),
            base_version=self.sandbox.company.etag("Invoices", record),
            collection_status=CollectionStatus.ESCALATED,
            dunning_level=2,
        )

    def effects(self, key: str) -> int:
        return len(self.sandbox.patches.get(("Invoices", self.invoice), []))

    def make_stale(self, op: Operation) -> None:
        self.sandbox.touch("Invoices", int(op.target_id), Comments="changed by a B1 user")

    def secrets(self) -> list[str]:
        return [PASSWORD]

    def reject_auth(self) -> None:
        self.sandbox.revoke()

    def cleanup(self) -> None:
        self.sandbox.stop()
