"""The conformance kit against the QuickBooks sandbox, over real sockets; plus the sandbox round trips
the kit does not cover (CDC deletes, payment application, throttling, webhooks)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConnectorContext, MemoryKeyValueStore, OutboundOp
from connectors.conformance import ConformanceTarget, conformance_tests, quality_problems
from connectors.errors import ThrottledError
from connectors.quickbooks import QuickBooksConnector
from connectors.quickbooks.connector import ENTITY_OF_STREAM
from mapping.models import (
    Allocation,
    CollectionStatus,
    CollectionStatusUpdate,
    Operation,
    PaymentApplication,
    Stream,
    TargetType,
)
from sandboxes.quickbooks.server import QuickBooksSandbox

SECRET = "SENTINEL-qbo-client-secret-5d1e"


class QuickBooksTarget(ConformanceTarget):
    """A fresh sandbox company per test; the connection's state store outlives connector instances."""

    connector_name = "quickbooks"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.sandbox = QuickBooksSandbox(port=0, seed="demo", client_secret=SECRET).start()
        self.state = MemoryKeyValueStore()
        self.refresh_token = self.sandbox.issue_refresh_token()
        self.settings: dict[str, Any] = {
            "base_url": self.sandbox.base_url,
            "token_url": self.sandbox.token_url,
            "realm_id": self.sandbox.realm_id,
            "client_id": self.sandbox.client_id,
            "client_secret": SECRET,
            "refresh_token": self.refresh_token,
            "collection_status_field_id": "1",
            # Small pages, so the kit's resumes fall inside runs of records changed at one time.
            "page_size": 10,
        }
        self._invoice_id = sorted(self.sandbox.db["Invoice"], key=int)[0]
        self._start_token = int(self.sandbox.db["Invoice"][self._invoice_id]["SyncToken"])
        self._touches = 0

    def make_connector(self) -> QuickBooksConnector:
        connector = QuickBooksConnector.create(
            self.settings, ConnectorContext("qbo-sandbox", state=self.state)
        )
        assert isinstance(connector, QuickBooksConnector)
        return connector

    def change_records(self, stream: Stream, n: int) -> list[str]:
        entity = ENTITY_OF_STREAM[stream]
        ids = sorted(self.sandbox.db[entity], key=int)[:n]
        for ident in ids:
            self.sandbox.touch(entity, ident)
        return ids

    def existing_ids(self, stream: Stream) -> set[str]:
        return set(self.sandbox.db[ENTITY_OF_STREAM[stream]])

    def change_records_at_one_time(self, stream: Stream) -> list[str]:
        entity = ENTITY_OF_STREAM[stream]
        ids = sorted(self.sandbox.db[entity], key=int)
        if len(ids) <= 10:
            raise NotImplementedError  # the company has fewer records than a page holds
        company = self.sandbox.company
        clock, instant = company.clock, company.clock()
        company.clock = lambda: instant  # a batch job: every change carries one LastUpdatedTime
        try:
            for ident in ids[:25]:
                self.sandbox.touch(entity, ident)
        finally:
            company.clock = clock
        return ids[:25]

    def delete_record(self, stream: Stream) -> str:
        if stream is Stream.CUSTOMERS:
            raise NotImplementedError  # QuickBooks makes a customer inactive, never deletes it
        entity = ENTITY_OF_STREAM[stream]
        victim = sorted(self.sandbox.db[entity], key=int)[-1]
        current = self.sandbox.db[entity][victim]
        self.sandbox.company.save(
            entity, {"Id": victim, "SyncToken": current["SyncToken"]}, operation="delete"
        )
        return victim

    def break_record(self, stream: Stream) -> tuple[str, str]:
        # Stored behind the API's back: values Intuit's own validation would never let in.
        entity, field, value = {
            Stream.CUSTOMERS: ("Customer", "CurrencyRef", {"value": "DOLLARS"}),
            Stream.INVOICES: ("Invoice", "TxnDate", "2026-13-45"),
            Stream.CREDIT_MEMOS: ("CreditMemo", "TxnDate", "yesterday"),
            Stream.PAYMENTS: ("Payment", "TotalAmt", "lots"),
        }[stream]
        victim = sorted(self.sandbox.db[entity], key=int)[0]
        record = copy.deepcopy(self.sandbox.db[entity][victim])
        record[field] = value
        self.sandbox.company.put(entity, record, old_stamp=record["MetaData"]["LastUpdatedTime"])
        return victim, field

    def throttle(self, retry_after: int) -> int | None:
        self.sandbox.set_throttle(0)
        return 60  # Intuit's 429 always asks for a minute

    def sample_operation(self) -> Operation:
        current = self.sandbox.db["Invoice"][self._invoice_id]
        return CollectionStatusUpdate(
            target_type=TargetType.INVOICE,
            target_id=self._invoice_id,
            base_version=str(current["SyncToken"]),
            collection_status=CollectionStatus.ESCALATED,
            dunning_level=2,
            next_action_date=date(2026, 12, 1),
        )

    def effects(self, key: str) -> int:
        # Each applied update bumps the SyncToken once; touches made by make_stale are not effects.
        now = int(self.sandbox.db["Invoice"][self._invoice_id]["SyncToken"])
        return now - self._start_token - self._touches

    def make_stale(self, op: Operation) -> None:
        self.sandbox.touch("Invoice", op.target_id)
        self._touches += 1

    def secrets(self) -> list[str]:
        return [SECRET, self.refresh_token]

    def reject_auth(self) -> None:
        self.sandbox.revoke_tokens()

    def cleanup(self) -> None:
        self.sandbox.stop()


TestQuickBooksConformance = conformance_tests(QuickBooksTarget)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[QuickBooksTarget]:
    made = QuickBooksTarget(tmp_path)
    try:
        yield made
    finally:
        made.cleanup()


def test_quality_checklist_is_complete() -> None:
    path = Path(__file__).resolve().parents[3] / "connectors" / "quickbooks" / "quality.yaml"
    assert quality_problems(path) == []


def test_sandbox_deleted_invoice_arrives_as_a_soft_delete_through_cdc(target: QuickBooksTarget) -> None:
    connector = target.make_connector()
    pages = list(connector.read(Stream.INVOICES, None))
    cursor = pages[-1].cursor
    victim = next(
        r
        for p in pages
        for r in p.records
        if r.raw.get("Balance") == r.raw.get("TotalAmt")  # unpaid: deletable
    )
    target.sandbox.company.save(
        "Invoice", {"Id": victim.remote_id, "SyncToken": victim.version}, operation="delete"
    )
    changed = [r for p in target.make_connector().read(Stream.INVOICES, cursor) for r in p.records]
    assert [(r.remote_id, r.deleted) for r in changed] == [(victim.remote_id, True)]


def test_sandbox_payment_application_creates_a_linked_payment_once(target: QuickBooksTarget) -> None:
    connector = target.make_connector()
    invoices = [r for p in connector.read(Stream.INVOICES, None) for r in p.records]
    open_invoice = next(r for r in invoices if r.open_amount > 0 and not r.deleted)  # type: ignore[attr-defined]
    amount = Decimal(str(open_invoice.open_amount))  # type: ignore[attr-defined]
    op = OutboundOp(
        "qbo-sandbox/payment_application/customer/test-1",
        PaymentApplication(
            target_type=TargetType.CUSTOMER,
            target_id=open_invoice.customer_remote_id,  # type: ignore[attr-defined]
            customer_remote_id=open_invoice.customer_remote_id,  # type: ignore[attr-defined]
            amount=amount,
            currency=open_invoice.currency,  # type: ignore[attr-defined]
            date=date(2026, 5, 3),
            reference="LOCKBOX 0042",
            allocations=[
                Allocation(target_type=TargetType.INVOICE, target_id=open_invoice.remote_id, amount=amount)
            ],
        ),
    )
    [result] = connector.write([op])
    assert result.ok, result.error
    found = target.make_connector().find_written(op)
    assert found is not None and found.ok and found.remote_id == result.remote_id
    paid = target.make_connector().fetch(TargetType.INVOICE, open_invoice.remote_id)
    assert paid is not None and paid.open_amount == 0  # type: ignore[attr-defined]
    [again] = target.make_connector().write([op])
    assert again.ok and again.remote_id == result.remote_id, "the requestid replay returns the first payment"


def test_sandbox_throttling_reaches_the_engine_with_intuits_minute(target: QuickBooksTarget) -> None:
    target.sandbox.set_throttle(0)
    waits: list[float] = []
    connector = QuickBooksConnector(
        QuickBooksConnector.settings_model.model_validate(target.settings),
        ConnectorContext("qbo-sandbox", state=target.state),
        sleep=waits.append,
    )
    with pytest.raises(ThrottledError) as caught:
        list(connector.read(Stream.CUSTOMERS, None))
    assert caught.value.retry_after == 60.0 and waits == []
    target.sandbox.set_throttle(None)
    assert list(connector.read(Stream.CUSTOMERS, None))[-1].records
