"""The conformance kit against the SAP S/4HANA sandbox."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from connectors.base import Connector, ConnectorContext, MemoryKeyValueStore
from connectors.conformance import ConformanceTarget, conformance_tests
from connectors.sap_s4hana import SapS4HanaConnector
from mapping.models import Invoice, Operation, Stream
from sandboxes.sap_s4hana.seed import post_payment
from sandboxes.sap_s4hana.server import S4Sandbox
from tests.conftest import SPECS
from tests.connectors.sap_s4hana.sap_support import dunning_key, reminder, settings_for

PASSWORD = "conformance-sap-password-5d2f"
PAGE_SIZE = 5
ITEMS = "A_OperationalAcctgDocItemCube"


class SapTarget(ConformanceTarget):
    connector_name = "sap-s4hana"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        if not (SPECS / "sap-s4hana").is_dir():
            pytest.skip(f"SAP's EDMX and WSDL not found under {SPECS}; set ARBRIDGE_SPECS")
        self.sandbox = S4Sandbox(seed="demo", specs=SPECS, users={"ARBRIDGE_COMM": PASSWORD}).start()
        self.state = MemoryKeyValueStore()

    def make_connector(self) -> Connector:
        return SapS4HanaConnector.create(
            # Small pages, so every stream spans several and the kit's resumes fall inside them.
            settings_for(self.sandbox, password=PASSWORD, page_size=PAGE_SIZE),
            ConnectorContext("conformance", state=self.state, data_dir=self.workdir),
        )

    def existing_ids(self, stream: Stream) -> set[str]:
        book = self.sandbox.book
        if stream is Stream.CUSTOMERS:
            return {key[0] for key in book.tables["A_CustomerCompany"]}
        wanted: set[str] = set()
        for row in book.tables["A_OperationalAcctgDocItemCube"].values():
            if row["FinancialAccountType"] != "D":
                continue
            if row["DebitCreditCode"] == "S":
                kind = Stream.INVOICES
            elif row["AccountingDocumentType"] == "DZ":
                kind = Stream.PAYMENTS
            else:
                kind = Stream.CREDIT_MEMOS
            if kind is stream:
                wanted.add(
                    "/".join(
                        row[k]
                        for k in (
                            "CompanyCode",
                            "FiscalYear",
                            "AccountingDocument",
                            "AccountingDocumentItem",
                            "Customer",
                        )
                    )
                )
        return wanted

    def change_records(self, stream: Stream, n: int) -> list[str]:
        book = self.sandbox.book
        if stream is Stream.CUSTOMERS:
            keys = sorted(book.tables["A_Customer"])[:n]
            for key in keys:
                # A clerk renames the customer in the business partner app.
                name = book.tables["A_Customer"][key]["CustomerName"]
                book.update("A_Customer", key, {"CustomerName": f"{name} (new)"})
            return [k[0] for k in keys]
        conn = self.make_connector()
        ids = [r.remote_id for p in conn.read(stream, None) for r in p.records][:n]
        for rid in ids:
            cc, year, doc, item, _ = rid.split("/")
            # Changed with FB02: a new item text, and the document's change date.
            book.update(
                "A_OperationalAcctgDocItemCube",
                (cc, year, doc, item),
                {"DocumentItemText": "changed by a clerk", "LastChangeDate": book.today()},
            )
        return ids

    def change_records_at_one_time(self, stream: Stream) -> list[str]:
        book = self.sandbox.book
        if stream is Stream.CUSTOMERS:
            # Mass maintenance of customers: every account's name changes in one run.
            for key in sorted(book.tables["A_Customer"]):
                name = book.tables["A_Customer"][key]["CustomerName"]
                book.update("A_Customer", key, {"CustomerName": f"{name} (mass change)"})
            return sorted(self.existing_ids(stream))
        if stream is Stream.CREDIT_MEMOS:
            # A rebate settlement run: a credit memo for every customer, all entered at one instant.
            return self._rebate_run()
        # Mass change of line items (FBL5N): one new item text on every item, one change date.
        ids = sorted(self.existing_ids(stream))
        for rid in ids:
            book.update(
                ITEMS, _item_key(rid), {"DocumentItemText": "mass change", "LastChangeDate": book.today()}
            )
        return ids

    def _rebate_run(self) -> list[str]:
        book = self.sandbox.book
        before = self.existing_ids(Stream.CREDIT_MEMOS)
        for customer, company_code in sorted(book.tables["A_CustomerCompany"]):
            post_payment(
                book,
                customer,
                company_code,
                Decimal("25.00"),
                book.today(),
                assignment=f"REBATE{customer}",
                document_type="DG",
            )
        return sorted(self.existing_ids(Stream.CREDIT_MEMOS) - before)

    def delete_record(self, stream: Stream) -> str:
        if stream is Stream.CUSTOMERS:
            # SAP never deletes a customer: it is marked for deletion (an inactive customer, still
            # listed) and archived only once nothing of it is open (A_Customer is not deletable).
            raise NotImplementedError
        book = self.sandbox.book
        # A clerk reverses an open document posted by mistake (FB08): SAP voids, never deletes.
        victim = next(
            rid
            for rid in sorted(self.existing_ids(stream))
            if not book.tables[ITEMS][_item_key(rid)]["IsCleared"]
        )
        company_code, year, document, _ = _item_key(victim)
        book.reverse(company_code, year, document)
        return victim

    def break_record(self, stream: Stream) -> tuple[str, str]:
        if stream is Stream.CUSTOMERS:
            # Every customer SAP holds maps: the name falls back to the customer number, the rest
            # is optional.
            raise NotImplementedError
        # SAP's currency keys are up to five characters and need not be ISO codes (USDN: US
        # dollars with five decimals); a document posted in one cannot become canonical money.
        victim = sorted(self.existing_ids(stream))[0]
        self.sandbox.book.tables[ITEMS][_item_key(victim)]["TransactionCurrency"] = "USDN"
        return victim, "TransactionCurrency"

    def throttle(self, retry_after: int) -> int | None:
        self.sandbox.overload()
        return None  # API management's Spike Arrest answer announces no wait

    def sample_operation(self) -> Operation:
        conn = self.make_connector()
        invoice = next(
            r
            for p in conn.read(Stream.INVOICES, None)
            for r in p.records
            if isinstance(r, Invoice) and r.open_amount > 0
        )
        return reminder(invoice, level=2)

    def effects(self, key: str) -> int:
        # Status updates carry no key in SAP: every PATCH the sandbox applied counts.
        return sum(1 for w in self.sandbox.writes_log if w["entity_set"] == "A_CustomerDunning")

    def make_stale(self, op: Operation) -> None:
        # A dunning clerk reassigns the record in SAP: its ETag changes.
        self.sandbox.book.update("A_CustomerDunning", dunning_key(op.target_id), {"DunningClerk": "02"})

    def secrets(self) -> list[str]:
        return [PASSWORD]

    def reject_auth(self) -> None:
        self.sandbox.revoke_credentials()

    def cleanup(self) -> None:
        self.sandbox.stop()


def _item_key(remote_id: str) -> tuple[str, str, str, str]:
    company_code, year, document, item, _ = remote_id.split("/")
    return company_code, year, document, item


TestSapConformance = conformance_tests(SapTarget)
