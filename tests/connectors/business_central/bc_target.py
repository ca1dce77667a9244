"""A Business Central sandbox and a connector configured for it, shared by the connector's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from connectors.base import ConnectorContext, MemoryKeyValueStore
from connectors.business_central import BusinessCentralConnector
from connectors.conformance import ConformanceTarget
from mapping.models import CollectionStatus, CollectionStatusUpdate, Operation, Stream, TargetType
from sandboxes.business_central import BusinessCentralSandbox
from sandboxes.business_central.company import etag_of

KEY = "SENTINEL-bc-web-service-key-71c0"


def onprem_settings(sandbox: BusinessCentralSandbox, **extra: Any) -> dict[str, Any]:
    return {
        "deployment": "on_premises",
        "server_url": sandbox.onprem_api_url,
        "username": sandbox.web_service_user,
        "web_service_key": sandbox.web_service_key,
        "company": sandbox.company.name,
        **extra,
    }


class BusinessCentralTarget(ConformanceTarget):
    """A fresh sandbox company per test, reached through the on-premises layout (access key)."""

    connector_name = "business_central"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.sandbox = BusinessCentralSandbox(seed="demo", web_service_key=KEY, notification_delay=0).start()
        self.state = MemoryKeyValueStore()
        self.settings = onprem_settings(self.sandbox, page_size=40)
        entries = self.sandbox.company.entries.values()
        self.invoice = sorted((e for e in entries if e["documentType"] == "Invoice"), key=lambda e: e["id"])[
            0
        ]

    def make_connector(self) -> BusinessCentralConnector:
        made = BusinessCentralConnector.create(
            self.settings, ConnectorContext("bc-sandbox", state=self.state)
        )
        assert isinstance(made, BusinessCentralConnector)
        return made

    def existing_ids(self, stream: Stream) -> set[str]:
        c = self.sandbox.company
        if stream is Stream.CUSTOMERS:
            return set(c.customers)
        kinds = {"invoices": "Invoice", "credit_memos": "Credit_x0020_Memo", "payments": "Payment"}
        return {e["id"] for e in c.entries.values() if e["documentType"] == kinds[stream.value]}

    def change_records(self, stream: Stream, n: int) -> list[str]:
        c = self.sandbox.company
        if stream is Stream.CUSTOMERS:
            ids = sorted(c.customers)[:n]
            name = "customers"
        else:
            kind = {"invoices": "Invoice", "credit_memos": "Credit_x0020_Memo", "payments": "Payment"}[
                stream.value
            ]
            ids = sorted(e["id"] for e in c.entries.values() if e["documentType"] == kind)[:n]
            name = "customerLedgerEntries"
        for ident in ids:
            self.sandbox.touch(name, ident)
        return ids

    def sample_operation(self) -> Operation:
        return CollectionStatusUpdate(
            target_type=TargetType.INVOICE,
            target_id=self.invoice["id"],
            base_version=etag_of(self.invoice["_version"]),
            collection_status=CollectionStatus.ESCALATED,
            dunning_level=2,
        )

    def effects(self, key: str) -> int:
        # Every PATCH the sandbox applied to the entry; a refused one (412) is not an effect.
        return len(self.sandbox.patches.get(self.invoice["id"], []))

    def make_stale(self, op: Operation) -> None:
        self.sandbox.touch("customerLedgerEntries", op.target_id)

    def throttle(self, retry_after: int) -> int | None:
        # BC's sliding window, one request per ``retry_after`` seconds, that request already made:
        # every call from now on gets 429 with Retry-After of about ``retry_after``.
        self.sandbox.set_throttle(1, window=float(retry_after))
        requests.get(
            f"{self.sandbox.onprem_api_url}/v2.0/companies",
            auth=(self.sandbox.web_service_user, self.sandbox.web_service_key),
            timeout=10,
        )
        return retry_after

    def secrets(self) -> list[str]:
        return [KEY]

    def reject_auth(self) -> None:
        self.sandbox.revoke()

    def cleanup(self) -> None:
        self.sandbox.stop()
