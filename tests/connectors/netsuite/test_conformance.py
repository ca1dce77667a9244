"""The conformance kit against the NetSuite sandbox."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from connectors.base import Connector, ConnectorContext
from connectors.conformance import ConformanceTarget, conformance_tests
from connectors.netsuite import NetSuiteConnector, external_id_for
from mapping.models import Allocation, Operation, PaymentApplication, Stream, TargetType
from sandboxes.netsuite import NetSuiteSandbox

CONSUMER_SECRET = "conformance-consumer-secret-7c1e"
TOKEN_SECRET = "conformance-token-secret-41ad"
RECORD_TYPE = {
    Stream.CUSTOMERS: "customer",
    Stream.INVOICES: "invoice",
    Stream.CREDIT_MEMOS: "creditMemo",
    Stream.PAYMENTS: "customerPayment",
}


class NetSuiteTarget(ConformanceTarget):
    connector_name = "netsuite"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.sandbox = NetSuiteSandbox(
            seed="demo", consumer_secret=CONSUMER_SECRET, token_secret=TOKEN_SECRET
        )
        self.sandbox.start()
        self.secret = TOKEN_SECRET

    def make_connector(self) -> Connector:
        sb = self.sandbox
        settings = {
            "account": sb.account,
            "consumer_key": sb.consumer_key,
            "consumer_secret": CONSUMER_SECRET,
            "token_id": sb.token_id,
            "token_secret": self.secret,
            "wsdl_url": sb.wsdl_url,
            "endpoint": sb.url,
            "page_size": 10,
        }
        conn = NetSuiteConnector.create(settings, ConnectorContext("conformance", data_dir=self.workdir))
        assert isinstance(conn, NetSuiteConnector)
        conn.client.sleep = lambda seconds: None
        return conn

    def change_records(self, stream: Stream, n: int) -> list[str]:
        ids = self.sandbox.ids(RECORD_TYPE[stream])[:n]
        for rid in ids:
            self.sandbox.touch(RECORD_TYPE[stream], rid)
        return ids

    def existing_ids(self, stream: Stream) -> set[str]:
        return set(self.sandbox.ids(RECORD_TYPE[stream]))

    def change_records_at_one_time(self, stream: Stream) -> list[str]:
        ids = self.sandbox.ids(RECORD_TYPE[stream])
        if len(ids) <= 10:
            raise NotImplementedError  # fewer records than a page holds
        book = self.sandbox.book
        clock, instant = book.clock, book.clock()
        book.clock = lambda: instant  # a mass update: one lastModifiedDate for all
        try:
            for rid in ids:
                self.sandbox.touch(RECORD_TYPE[stream], rid)
        finally:
            book.clock = clock
        return ids

    def delete_record(self, stream: Stream) -> str:
        victim = self.sandbox.ids(RECORD_TYPE[stream])[-1]
        self.sandbox.delete(RECORD_TYPE[stream], victim)
        return victim

    def break_record(self, stream: Stream) -> tuple[str, str]:
        # Values SuiteTalk itself would never store; the connector names the canonical field.
        field, value, canonical = {
            Stream.INVOICES: ("tranDate", "2026-13-45", "issue_date"),
            Stream.CREDIT_MEMOS: ("total", "n/a", "total"),
            Stream.PAYMENTS: ("payment", "lots", "amount"),
        }.get(stream, (None, None, None))
        if field is None:
            raise NotImplementedError  # every customer field the map reads is optional or a reference
        victim = self.sandbox.ids(RECORD_TYPE[stream])[0]
        self.sandbox.touch(RECORD_TYPE[stream], victim, **{field: value})
        return victim, str(canonical)

    def throttle(self, retry_after: int) -> int | None:
        self.sandbox.exceed_concurrency(10_000)
        return None  # SuiteTalk's governance faults announce no wait

    def sample_operation(self) -> Operation:
        for rid in self.sandbox.ids("invoice"):
            rec = self.sandbox.record("invoice", rid)
            due = Decimal(rec.findtext("{*}amountRemaining") or "0")
            entity = rec.find("{*}entity")
            if due >= 10 and entity is not None:
                customer = entity.get("internalId", "")
                return PaymentApplication(
                    target_type=TargetType.CUSTOMER,
                    target_id=customer,
                    customer_remote_id=customer,
                    amount=Decimal("10.00"),
                    currency="USD",
                    date=date(2024, 5, 2),
                    reference="conformance",
                    allocations=[
                        Allocation(target_type=TargetType.INVOICE, target_id=rid, amount=Decimal("10.00"))
                    ],
                )
        raise AssertionError("no open invoice left in the sandbox")

    def effects(self, key: str) -> int:
        return len(self.sandbox.book.match(["customerPayment"], None, external_ids={external_id_for(key)}))

    def make_stale(self, op: Operation) -> None:
        record_type = "customer" if op.target_type is TargetType.CUSTOMER else "invoice"
        self.sandbox.touch(record_type, op.target_id)

    def secrets(self) -> list[str]:
        return [CONSUMER_SECRET, TOKEN_SECRET]

    def reject_auth(self) -> None:
        self.sandbox.token_secret = "rotated-by-the-admin"

    def cleanup(self) -> None:
        self.sandbox.stop()


TestNetSuiteConformance = conformance_tests(NetSuiteTarget)
