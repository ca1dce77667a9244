"""One Business Central company held in memory: customers, posted documents, ledger entries, journals.

Records are dicts of typed values (``datetime``, ``date``, ``Decimal``, GUID strings). Each record
carries a row version: its ETag, bumped on every change, as BC's ``timestamp`` is. A customer is one
record seen through two pages (the standard ``customers`` and the extension's), so both pages give
it the same ETag, as BC does for one table row.

Posted documents are not kept twice: a posted sales invoice's ``remainingAmount`` and ``status``
come from its customer ledger entry, so posting a payment lowers both at once.
"""

from __future__ import annotations

import base64
import itertools
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sandboxes.business_central.errors import BcError, dialog, no_record

Clock = Callable[[], datetime]


def new_id() -> str:
    return str(uuid.uuid4())


def etag_of(version: int) -> str:
    """A weak ETag in BC's format: base64 of ``'<length>;<row version>;00;'``."""
    digits = str(version)
    return 'W/"' + base64.b64encode(f"'{len(digits)};{digits};00;'".encode()).decode() + '"'


@dataclass
class Company:
    """The data of one company and the business rules the API enforces on it."""

    clock: Clock
    name: str = "CRONUS USA, Inc."
    id: str = field(default_factory=new_id)
    currency: str = "USD"
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    credit_memos: dict[str, dict[str, Any]] = field(default_factory=dict)
    journals: dict[str, dict[str, Any]] = field(default_factory=dict)
    journal_lines: dict[str, dict[str, Any]] = field(default_factory=dict)
    applications: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    listeners: list[Callable[[str, str, str], None]] = field(default_factory=list)
    balances: dict[str, Decimal] = field(default_factory=dict)
    _versions: Iterator[int] = field(default_factory=lambda: itertools.count(4_000_000_000))
    _entry_numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _payment_numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1001))

    # ----------------------------------------------------------------- versions and time

    def stamp(self, record: dict[str, Any], *, when: datetime | None = None) -> None:
        """Mark ``record`` changed now: a new row version (ETag) and ``lastModifiedDateTime``."""
        record["_version"] = next(self._versions)
        record["lastModifiedDateTime"] = when or self.clock()

    def notify(self, entity_set: str, record_id: str, change: str) -> None:
        for listener in list(self.listeners):
            listener(entity_set, record_id, change)

    # ----------------------------------------------------------------- creating records (seed)

    def add_customer(self, when: datetime | None = None, **values: Any) -> dict[str, Any]:
        record = {
            "id": new_id(),
            "type": "Company",
            "blocked": "_x0020_",
            "balanceDue": Decimal(0),
            "creditLimit": Decimal(0),
            "taxLiable": False,
            "currencyCode": self.currency,
            "collectionStatus": "_x0020_",
            "dunningLevel": 0,
            "nextActionDate": None,
            "promiseToPayDate": None,
            "disputed": False,
            **values,
        }
        self.stamp(record, when=when)
        self.customers[record["id"]] = record
        return record

    def add_entry(
        self, customer: dict[str, Any], when: datetime | None = None, **values: Any
    ) -> dict[str, Any]:
        record = {
            "id": new_id(),
            "entryNumber": next(self._entry_numbers),
            "customerId": customer["id"],
            "customerNumber": customer["number"],
            "externalDocumentNumber": "",
            "description": "",
            "currencyCode": customer.get("currencyCode") or self.currency,
            "lastIssuedReminderLevel": 0,
            "onHold": "",
            "collectionStatus": "_x0020_",
            "dunningLevel": 0,
            "nextActionDate": None,
            "promiseToPayDate": None,
            "disputed": False,
            **values,
        }
        record["open"] = record["remainingAmount"] != 0
        self.stamp(record, when=when)
        self.entries[record["id"]] = record
        self.balances[customer["id"]] = (
            self.balances.get(customer["id"], Decimal(0)) + record["remainingAmount"]
        )
        return record

    def apply(self, entry: dict[str, Any], amount: Decimal, when: datetime | None = None) -> None:
        """Lower an open entry's remaining amount by ``amount`` (an application of money to it)."""
        entry["remainingAmount"] -= amount
        entry["open"] = entry["remainingAmount"] != 0
        self.balances[entry["customerId"]] = self.balances.get(entry["customerId"], Decimal(0)) - amount
        self.stamp(entry, when=when)

    def post_invoice(
        self,
        customer: dict[str, Any],
        number: str,
        posting: date,
        due: date,
        amount: Decimal,
        tax: Decimal = Decimal(0),
        when: datetime | None = None,
        **values: Any,
    ) -> dict[str, Any]:
        """A posted sales invoice and its customer ledger entry."""
        total = amount + tax
        entry = self.add_entry(
            customer,
            when=when,
            documentType="Invoice",
            documentNumber=number,
            postingDate=posting,
            dueDate=due,
            description=f"Invoice {number}",
            amount=total,
            remainingAmount=total,
        )
        invoice = {
            "id": new_id(),
            "number": number,
            "invoiceDate": posting,
            "postingDate": posting,
            "dueDate": due,
            "customerId": customer["id"],
            "customerNumber": customer["number"],
            "customerName": customer["displayName"],
            "billToName": customer["displayName"],
            "billToCustomerId": customer["id"],
            "billToCustomerNumber": customer["number"],
            "currencyCode": entry["currencyCode"],
            "pricesIncludeTax": False,
            "discountAmount": Decimal(0),
            "discountAppliedBeforeTax": True,
            "totalAmountExcludingTax": amount,
            "totalTaxAmount": tax,
            "totalAmountIncludingTax": total,
            "_entry": entry["id"],
            "_posted": True,
            **values,
        }
        self.stamp(invoice, when=when)
        self.invoices[invoice["id"]] = invoice
        entry["_invoice"] = invoice["id"]  # the way back, like the entry's Document No.
        return invoice

    def draft_invoice(
        self, customer: dict[str, Any], number: str, day: date, amount: Decimal
    ) -> dict[str, Any]:
        invoice = {
            "id": new_id(),
            "number": number,
            "invoiceDate": day,
            "postingDate": day,
            "dueDate": day,
            "customerId": customer["id"],
            "customerNumber": customer["number"],
            "customerName": customer["displayName"],
            "billToCustomerId": customer["id"],
            "billToCustomerNumber": customer["number"],
            "currencyCode": customer.get("currencyCode") or self.currency,
            "totalAmountExcludingTax": amount,
            "totalTaxAmount": Decimal(0),
            "totalAmountIncludingTax": amount,
            "_entry": None,
            "_posted": False,
        }
        self.stamp(invoice)
        self.invoices[invoice["id"]] = invoice
        return invoice

    def post_credit_memo(
        self,
        customer: dict[str, Any],
        number: str,
        posting: date,
        amount: Decimal,
        invoice: dict[str, Any] | None = None,
        when: datetime | None = None,
    ) -> dict[str, Any]:
        entry = self.add_entry(
            customer,
            when=when,
            documentType="Credit_x0020_Memo",
            documentNumber=number,
            postingDate=posting,
            dueDate=posting,
            description=f"Credit Memo {number}",
            amount=-amount,
            remainingAmount=-amount,
        )
        memo = {
            "id": new_id(),
            "number": number,
            "creditMemoDate": posting,
            "postingDate": posting,
            "dueDate": posting,
            "customerId": customer["id"],
            "customerNumber": customer["number"],
            "customerName": customer["displayName"],
            "billToCustomerId": customer["id"],
            "billToCustomerNumber": customer["number"],
            "currencyCode": entry["currencyCode"],
            "totalAmountExcludingTax": amount,
            "totalTaxAmount": Decimal(0),
            "totalAmountIncludingTax": amount,
            "invoiceId": invoice["id"] if invoice else None,
            "invoiceNumber": invoice["number"] if invoice else "",
            "_entry": entry["id"],
        }
        self.stamp(memo, when=when)
        self.credit_memos[memo["id"]] = memo
        return memo

    def add_journal(self, code: str, display_name: str) -> dict[str, Any]:
        journal = {
            "id": new_id(),
            "code": code,
            "displayName": display_name,
            "templateName": "CASHRCPT",
            "balancingAccountId": new_id(),
            "balancingAccountNumber": "10200",
        }
        self.stamp(journal)
        self.journals[journal["id"]] = journal
        return journal

    # ----------------------------------------------------------------- derived views

    def invoice_view(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """A sales invoice as the API shows it: status and remaining amount from its ledger entry."""
        view = dict(invoice)
        entry = self.entries.get(invoice["_entry"]) if invoice["_entry"] else None
        if entry is None:
            view["status"] = "Draft"
            view["remainingAmount"] = invoice["totalAmountIncludingTax"]
        else:
            view["remainingAmount"] = entry["remainingAmount"]
            view["status"] = "Paid" if entry["remainingAmount"] == 0 else "Open"
        return view

    def credit_memo_view(self, memo: dict[str, Any]) -> dict[str, Any]:
        view = dict(memo)
        entry = self.entries[memo["_entry"]]
        view["status"] = "Paid" if entry["remainingAmount"] == 0 else "Open"
        return view

    def customer_view(self, customer: dict[str, Any]) -> dict[str, Any]:
        view = dict(customer)
        view["balanceDue"] = self.balances.get(customer["id"], Decimal(0))
        return view

    # ----------------------------------------------------------------- journal posting

    def add_payment_line(self, journal: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        """A customer payment journal line, validated as the customerPayments page does."""
        customer = self._customer_of(values)
        line_numbers = [
            ln["lineNumber"] for ln in self.journal_lines.values() if ln["journalId"] == journal["id"]
        ]
        invoice = self._applies_to(values, customer)
        line = {
            "id": new_id(),
            "journalId": journal["id"],
            "journalDisplayName": journal["code"],
            "lineNumber": values.get("lineNumber") or (max(line_numbers, default=0) + 10000),
            "customerId": customer["id"],
            "customerNumber": customer["number"],
            "postingDate": values.get("postingDate") or self.clock().date(),
            "documentNumber": values.get("documentNumber") or f"PMT{next(self._payment_numbers):06d}",
            "externalDocumentNumber": values.get("externalDocumentNumber") or "",
            "amount": values.get("amount") if values.get("amount") is not None else Decimal(0),
            "appliesToInvoiceId": invoice["id"] if invoice else None,
            "appliesToInvoiceNumber": invoice["number"] if invoice else "",
            "description": values.get("description") or "",
            "comment": values.get("comment") or "",
        }
        self.stamp(line)
        self.journal_lines[line["id"]] = line
        return line

    def _customer_of(self, values: dict[str, Any]) -> dict[str, Any]:
        cid, number = values.get("customerId"), values.get("customerNumber")
        if cid:
            customer = self.customers.get(str(cid).lower())
            if customer is None:
                raise no_record("Customer", str(cid))
            if number and number != customer["number"]:
                raise dialog("The customerNumber and the customerId do not match to a specific Customer.")
            return customer
        if number:
            found = next((c for c in self.customers.values() if c["number"] == number), None)
            if found is None:
                raise BcError(
                    400,
                    "Internal_InvalidTableRelation",
                    f"The field Account No. of table Gen. Journal Line contains a value ({number}) that "
                    "cannot be found in the related table (Customer).",
                )
            return found
        raise dialog("A customerNumber or a customerID must be provided.")

    def _applies_to(self, values: dict[str, Any], customer: dict[str, Any]) -> dict[str, Any] | None:
        iid, number = values.get("appliesToInvoiceId"), values.get("appliesToInvoiceNumber")
        if not iid and not number:
            return None
        if iid:
            invoice = self.invoices.get(str(iid).lower())
        else:
            invoice = next(
                (i for i in self.invoices.values() if i["number"] == number and i["_posted"]), None
            )
            if invoice is None and any(i["number"] == number for i in self.invoices.values()):
                invoice = next(i for i in self.invoices.values() if i["number"] == number)
        if invoice is None:
            raise no_record("Sales Invoice Header", str(iid or number))
        if not invoice["_posted"]:
            # Payments apply to posted invoices only; a draft has no ledger entry yet.
            raise dialog(
                f"The invoice {invoice['number']} is not posted. Payments can only be applied to "
                "posted invoices."
            )
        if invoice["customerId"] != customer["id"]:
            raise dialog(f"The invoice {invoice['number']} belongs to another customer.")
        return invoice

    def post_journal(self, journal: dict[str, Any]) -> list[dict[str, Any]]:
        """Post every line of a payment journal batch, all or nothing, as Gen. Jnl.-Post Batch does.

        Each line becomes a payment ledger entry; a line that applies to an invoice lowers that
        invoice's remaining amount (and closes it at zero). Applying more than an invoice still
        owes is refused, and nothing of the batch is posted.
        """
        lines = sorted(
            (ln for ln in self.journal_lines.values() if ln["journalId"] == journal["id"]),
            key=lambda ln: ln["lineNumber"],
        )
        applying: dict[str, Decimal] = {}
        for line in lines:
            if line["amount"] <= 0:
                raise dialog(f"Amount must be positive in Gen. Journal Line Line No.='{line['lineNumber']}'.")
            if line["appliesToInvoiceId"]:
                invoice = self.invoices[line["appliesToInvoiceId"]]
                entry = self.entries[invoice["_entry"]]
                applying[entry["id"]] = applying.get(entry["id"], Decimal(0)) + line["amount"]
                if applying[entry["id"]] > entry["remainingAmount"]:
                    raise dialog(
                        f"The amount to apply ({applying[entry['id']]}) is greater than the remaining amount "
                        f"({entry['remainingAmount']}) of Invoice {invoice['number']}."
                    )
        posted = []
        for line in lines:
            customer = self.customers[line["customerId"]]
            remaining = Decimal(0) if line["appliesToInvoiceId"] else -line["amount"]
            payment = self.add_entry(
                customer,
                documentType="Payment",
                documentNumber=line["documentNumber"],
                externalDocumentNumber=line["externalDocumentNumber"],
                postingDate=line["postingDate"],
                dueDate=line["postingDate"],
                description=line["description"] or f"Payment {line['documentNumber']}",
                amount=-line["amount"],
                remainingAmount=remaining,
            )
            posted.append(payment)
            self.notify("customerLedgerEntries", payment["id"], "created")
            if line["appliesToInvoiceId"]:
                invoice = self.invoices[line["appliesToInvoiceId"]]
                entry = self.entries[invoice["_entry"]]
                self.apply(entry, line["amount"])
                self.stamp(invoice)
                self.notify("customerLedgerEntries", entry["id"], "updated")
                self.notify("salesInvoices", invoice["id"], "updated")
            del self.journal_lines[line["id"]]
        return posted

    def apply_payment(self, values: dict[str, Any]) -> dict[str, Any]:
        """Apply an open payment entry to an open invoice entry, as the extension's
        ``paymentApplications`` page does (Apply Entries), and keep the application row.

        The application key and line number are the row's primary key: the same twice is refused.
        """
        key, line_no = values.get("applicationKey") or "", int(values.get("lineNumber") or 0)
        if not key or line_no < 1:
            raise dialog("Application Key and Line No. must have a value in ARB Payment Application.")
        if any(a["applicationKey"] == key and a["lineNumber"] == line_no for a in self.applications.values()):
            raise BcError(
                409,
                "Internal_EntityWithSameKeyExists",
                "The ARB Payment Application already exists. Identification fields and values: "
                f"Application Key='{key}',Line No.='{line_no}'",
            )
        payment = self.get(self.entries, str(values.get("paymentEntryId") or ""), "Cust. Ledger Entry")
        invoice = self.get(self.entries, str(values.get("invoiceEntryId") or ""), "Cust. Ledger Entry")
        amount = values.get("amount") or Decimal(0)
        if payment["documentType"] != "Payment" or not payment["open"]:
            raise dialog(
                f"Document Type must be equal to 'Payment' and Open must be equal to 'Yes' in Cust. Ledger "
                f"Entry: Entry No.={payment['entryNumber']}."
            )
        if invoice["documentType"] != "Invoice" or not invoice["open"]:
            raise dialog(
                f"Document Type must be equal to 'Invoice' and Open must be equal to 'Yes' in Cust. Ledger "
                f"Entry: Entry No.={invoice['entryNumber']}."
            )
        if invoice["customerId"] != payment["customerId"]:
            raise dialog(
                f"The payment {payment['documentNumber']} and the invoice {invoice['documentNumber']} "
                "belong to different customers."
            )
        if amount <= 0 or amount > -payment["remainingAmount"]:
            raise dialog(
                f"Amount to Apply must be positive and not more than the payment's Remaining Amount "
                f"({-payment['remainingAmount']}) in Cust. Ledger Entry: Entry No.={payment['entryNumber']}."
            )
        if amount > invoice["remainingAmount"]:
            raise dialog(
                f"Amount to Apply ({amount}) must not be larger than the Remaining Amount "
                f"({invoice['remainingAmount']}) in Cust. Ledger Entry: Entry No.={invoice['entryNumber']}."
            )
        row = {
            "id": new_id(),
            "applicationKey": key,
            "lineNumber": line_no,
            "paymentEntryId": payment["id"],
            "invoiceEntryId": invoice["id"],
            "amount": amount,
            "postingDate": values.get("postingDate") or self.clock().date(),
        }
        self.stamp(row)
        self.applications[row["id"]] = row
        self.apply(invoice, amount)
        self.apply(payment, -amount)
        self.notify("customerLedgerEntries", invoice["id"], "updated")
        self.notify("customerLedgerEntries", payment["id"], "updated")
        invoice_doc = self.invoices.get(invoice.get("_invoice") or "")
        if invoice_doc is not None:
            self.stamp(invoice_doc)
            self.notify("salesInvoices", invoice_doc["id"], "updated")
        return row

    def add_comment(self, values: dict[str, Any]) -> dict[str, Any]:
        """A comment line of a customer, as the extension's ``customerComments`` page inserts it:
        the customer must exist, a missing line number is the next after the customer's last
        (steps of 10000, as the Comment Sheet numbers them), a taken one is refused by the primary
        key, and a missing date is today's."""
        number = str(values.get("customerNumber") or "").upper()
        if not any(c["number"] == number for c in self.customers.values()):
            raise dialog(f"The Customer {number} does not exist.")
        taken = {c["lineNumber"] for c in self.comments.values() if c["customerNumber"] == number}
        line_no = int(values.get("lineNumber") or 0) or (max(taken, default=0) + 10000)
        if line_no in taken:
            raise BcError(
                409,
                "Internal_EntityWithSameKeyExists",
                "The Comment Line already exists. Identification fields and values: "
                f"Table Name='Customer',No.='{number}',Line No.='{line_no}'",
            )
        row: dict[str, Any] = {
            "id": new_id(),
            "customerNumber": number,
            "lineNumber": line_no,
            "commentDate": values.get("commentDate") or self.clock().date(),
            # A Code field holds upper case: BC converts what it is given.
            "commentCode": str(values.get("commentCode") or "").upper(),
            "comment": values.get("comment") or "",
        }
        self.stamp(row)
        self.comments[row["id"]] = row
        return row

    def customer_comments(self, number: str) -> list[dict[str, Any]]:
        """A customer's comment lines in line order, as the customer card's Comment Sheet lists them."""
        with self.lock:
            rows = [c for c in self.comments.values() if c["customerNumber"] == number.upper()]
            return sorted(rows, key=lambda c: c["lineNumber"])

    def get(self, table: dict[str, dict[str, Any]], key: str, entity: str) -> dict[str, Any]:
        record = table.get(key.lower())
        if record is None:
            raise no_record(entity, key)
        return record
