"""The sandbox's company: business partners, their company-code and dunning data, and the journal.

Rows are kept as SAP names them (A_Customer, A_CustomerCompany, A_CustomerDunning and the lines of
A_OperationalAcctgDocItemCube), values as Python values (``datetime`` at midnight for SAP dates,
``Decimal`` amounts, signed: credit items are negative, as in the cube). Every posting is a new
accounting document; automatic clearing closes the open customer items of a group whose amounts
sum to zero, as SAP's clearing program does (F.13 / the "Clear Open Items Automatically" app).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

__all__ = ["Book", "ClearingRun", "PostedLine", "Posting", "PostingError"]

Row = dict[str, Any]
KeyT = tuple[Any, ...]

#: The properties automatic clearing groups open items by, besides company code, customer and
#: currency (SAP's customising OB74 lists such criteria per account type; ZUONR is the usual one).
DEFAULT_CLEARING_CRITERIA = ("AssignmentReference",)
#: SAP's number range for a document type: the first document number of each.
NUMBER_RANGES = {"DR": 1800000000, "DG": 1700000000, "DZ": 1400000000, "AB": 100000000, "SA": 100000000}


class PostingError(ValueError):
    """A journal entry SAP's posting checks refuse (unbalanced, unknown customer …)."""


@dataclass
class PostedLine:
    """One line of a journal entry to post: a G/L line or a customer (debtor) line."""

    amount: Decimal  # signed: debit positive, credit negative
    gl_account: str | None = None
    customer: str | None = None
    assignment: str = ""
    payment_reference: str = ""
    item_text: str = ""
    reference1: str = ""
    due_date: datetime | None = None
    invoice_reference: tuple[str, str, str] | None = None  # (fiscal year, document, item)
    billing_document: str = ""


@dataclass
class Posting:
    """A journal entry as SAP receives it (one ``JournalEntryCreateRequest``)."""

    company_code: str
    document_type: str
    posting_date: datetime
    document_date: datetime
    currency: str
    lines: list[PostedLine]
    document_reference: str = ""
    header_text: str = ""
    created_by: str = ""
    message_id: str = ""
    entry_date: datetime | None = None  # when it was entered (seeded history); today otherwise


@dataclass
class ClearingRun:
    """What one run of automatic clearing did: the clearing documents and the items each closed."""

    documents: dict[str, list[KeyT]] = field(default_factory=dict)


def etag_for(row: Row, counter: int) -> str:
    digest = hashlib.sha1(repr((sorted(row.items()), counter)).encode()).hexdigest()[:20]
    return f"W/\"'{digest}'\""


class Book:
    """Everything the sandbox's SAP system holds, guarded by one lock.

    Args:
        clock: the system's local time (SAP dates are the system's dates).
        clearing_criteria: item properties automatic clearing groups by.
    """

    def __init__(
        self,
        clock: Callable[[], datetime],
        clearing_criteria: Iterable[str] = DEFAULT_CLEARING_CRITERIA,
    ) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.clearing_criteria = tuple(clearing_criteria)
        # entity set → key tuple → row
        self.tables: dict[str, dict[KeyT, Row]] = {
            "A_Customer": {},
            "A_CustomerCompany": {},
            "A_CustomerDunning": {},
            "A_CustomerText": {},
            "A_CustomerCompanyText": {},
            "A_BusinessPartnerAddress": {},
            "A_OperationalAcctgDocItemCube": {},
        }
        self.etags: dict[tuple[str, KeyT], str] = {}
        self.company_codes: dict[str, dict[str, str]] = {}
        self._numbers: dict[tuple[str, str, int], itertools.count[int]] = {}
        self._versions = itertools.count(1)
        #: every posted journal entry: message id, document key, and the posting
        self.journal: list[dict[str, Any]] = []

    # -- master data --------------------------------------------------------------------------

    def today(self) -> datetime:
        now = self.clock()
        return datetime(now.year, now.month, now.day)

    def add_company_code(self, code: str, name: str, currency: str, chart: str = "YCOA") -> None:
        self.company_codes[code] = {"name": name, "currency": currency, "chart": chart}

    def put(self, entity_set: str, key: KeyT, row: Row) -> None:
        """Insert or replace a row and give it a new ETag."""
        with self.lock:
            self.tables[entity_set][key] = row
            self.etags[(entity_set, key)] = etag_for(row, next(self._versions))

    def etag(self, entity_set: str, key: KeyT) -> str | None:
        return self.etags.get((entity_set, key))

    def update(self, entity_set: str, key: KeyT, changes: Row) -> Row:
        """Apply changed properties to a row (a PATCH/MERGE); the row gets a new ETag."""
        with self.lock:
            row = dict(self.tables[entity_set][key])
            row.update(changes)
            self.put(entity_set, key, row)
            return row

    # -- the journal --------------------------------------------------------------------------

    def next_document(self, company_code: str, document_type: str, fiscal_year: int) -> str:
        with self.lock:
            counter = self._numbers.setdefault(
                (company_code, document_type, fiscal_year),
                itertools.count(NUMBER_RANGES.get(document_type, 100000000) + 1),
            )
            return str(next(counter))

    def post(self, posting: Posting) -> tuple[str, str, str]:
        """Post a journal entry; returns (company code, fiscal year, accounting document).

        Raises:
            PostingError: what SAP's checks would refuse: unknown company code or customer,
                a currency other than the items', an entry that does not balance.
        """
        with self.lock:
            if posting.company_code not in self.company_codes:
                raise PostingError(f"Company code {posting.company_code} is not defined")
            if not posting.lines:
                raise PostingError("The journal entry has no items")
            total = sum((line.amount for line in posting.lines), Decimal(0))
            if total != 0:
                raise PostingError(f"Balance in transaction currency is not zero: {total}")
            for line in posting.lines:
                if line.customer is not None and (
                    (line.customer, posting.company_code) not in self.tables["A_CustomerCompany"]
                ):
                    raise PostingError(
                        f"Customer {line.customer} is not defined in company code {posting.company_code}"
                    )
            year = posting.posting_date.year
            document = self.next_document(posting.company_code, posting.document_type, year)
            today = posting.entry_date or self.today()
            company = self.company_codes[posting.company_code]
            for number, line in enumerate(posting.lines, start=1):
                key = (posting.company_code, str(year), document, f"{number:03d}")
                row: Row = {
                    "CompanyCode": posting.company_code,
                    "FiscalYear": str(year),
                    "AccountingDocument": document,
                    "AccountingDocumentItem": f"{number:03d}",
                    "CompanyCodeName": company["name"],
                    "ChartOfAccounts": company["chart"],
                    "FinancialAccountType": "D" if line.customer else "S",
                    "Customer": line.customer or "",
                    "GLAccount": line.gl_account or "",
                    "DebitCreditCode": "S" if line.amount > 0 else "H",
                    "AmountInTransactionCurrency": line.amount,
                    "TransactionCurrency": posting.currency,
                    "AmountInCompanyCodeCurrency": line.amount,
                    "CompanyCodeCurrency": company["currency"],
                    "AccountingDocumentType": posting.document_type,
                    "PostingDate": posting.posting_date,
                    "DocumentDate": posting.document_date,
                    "NetDueDate": line.due_date or posting.posting_date,
                    "DueCalculationBaseDate": posting.posting_date,
                    "AccountingDocumentCreationDate": today,
                    "LastChangeDate": None,
                    "AssignmentReference": line.assignment,
                    "PaymentReference": line.payment_reference,
                    "DocumentItemText": line.item_text,
                    "DocumentReferenceID": posting.document_reference,
                    "AccountingDocumentHeaderText": posting.header_text,
                    "AccountingDocCreatedByUser": posting.created_by,
                    "IsCleared": False,
                    "ClearingAccountingDocument": "",
                    "ClearingDate": None,
                    "ClearingCreationDate": None,
                    "ClearingDocFiscalYear": "",
                    "InvoiceReference": line.invoice_reference[1] if line.invoice_reference else "",
                    "InvoiceReferenceFiscalYear": line.invoice_reference[0] if line.invoice_reference else "",
                    "InvoiceItemReference": line.invoice_reference[2] if line.invoice_reference else "",
                    "BillingDocument": line.billing_document,
                    "DunningLevel": "0",
                    "DunningBlockingReason": "",
                    "LastDunningDate": None,
                    "SpecialGLCode": "",
                    "IsOpenItemManaged": "X",
                    "IsReversal": False,
                    "IsReversed": False,
                    "ReverseDocument": "",
                    "ReverseDocumentFiscalYear": "",
                }
                self.tables["A_OperationalAcctgDocItemCube"][key] = row
            self.journal.append(
                {
                    "message_id": posting.message_id,
                    "document": (posting.company_code, str(year), document),
                    "reference": posting.document_reference,
                    "posting": posting,
                }
            )
            return posting.company_code, str(year), document

    def open_items(self) -> list[tuple[KeyT, Row]]:
        return [
            (k, r)
            for k, r in self.tables["A_OperationalAcctgDocItemCube"].items()
            if r.get("FinancialAccountType") == "D" and not r.get("IsCleared")
        ]

    def clear_items(self, keys: list[KeyT], when: datetime | None = None) -> str:
        """Close ``keys`` with one clearing document (type AB), as a clearing posting does."""
        with self.lock:
            rows = self.tables["A_OperationalAcctgDocItemCube"]
            first = rows[keys[0]]
            when = when or self.today()
            document = self.next_document(first["CompanyCode"], "AB", when.year)
            for key in keys:
                row = rows[key]
                row.update(
                    IsCleared=True,
                    ClearingAccountingDocument=document,
                    ClearingDate=when,
                    ClearingCreationDate=when,
                    ClearingDocFiscalYear=str(when.year),
                )
            return document

    def reverse(self, company_code: str, fiscal_year: str, document: str, reason: str = "01") -> str:
        """Reverse a posted document as FB08 does; returns the reversal document's number.

        The reversal posts every line again with the opposite sign (IsReversal), marks the
        original's lines reversed (IsReversed, ReverseDocument), and clears the original's open
        customer items with the reversal's: a reversed document is void, never deleted.

        Raises:
            PostingError: the document does not exist or was reversed already.
        """
        with self.lock:
            rows = self.tables["A_OperationalAcctgDocItemCube"]
            keys = sorted(k for k in rows if k[:3] == (company_code, fiscal_year, document))
            if not keys:
                raise PostingError(f"Document {document} does not exist in company code {company_code}")
            if any(rows[k].get("IsReversed") for k in keys):
                raise PostingError(f"Document {document} has already been reversed")
            if any(rows[k]["FinancialAccountType"] == "D" and rows[k].get("IsCleared") for k in keys):
                # FB08 refuses: the clearing must be reset first (FBRA).
                raise PostingError(f"Document {document} contains cleared items; reset the clearing first")
            first = rows[keys[0]]
            lines = [
                PostedLine(
                    amount=-rows[k]["AmountInTransactionCurrency"],
                    gl_account=rows[k]["GLAccount"] or None,
                    customer=rows[k]["Customer"] or None,
                    assignment=rows[k]["AssignmentReference"],
                    item_text=rows[k]["DocumentItemText"],
                )
                for k in keys
            ]
            today = self.today()
            _, year, reversal = self.post(
                Posting(
                    company_code=company_code,
                    document_type=first["AccountingDocumentType"],
                    posting_date=today,
                    document_date=today,
                    currency=first["TransactionCurrency"],
                    lines=lines,
                    document_reference=first["DocumentReferenceID"],
                )
            )
            reversal_keys = sorted(k for k in rows if k[:3] == (company_code, year, reversal))
            for key in reversal_keys:
                rows[key].update(IsReversal=True, ReversalReason=reason)
            for key in keys:
                rows[key].update(
                    IsReversed=True,
                    ReverseDocument=reversal,
                    ReverseDocumentFiscalYear=year,
                    ReversalReason=reason,
                )
            for key in keys + reversal_keys:
                if rows[key]["FinancialAccountType"] == "D":
                    rows[key].update(
                        IsCleared=True,
                        ClearingAccountingDocument=reversal,
                        ClearingDate=today,
                        ClearingCreationDate=today,
                        ClearingDocFiscalYear=year,
                    )
            return reversal

    def run_automatic_clearing(self) -> ClearingRun:
        """Clear every group of open customer items whose amounts sum to zero.

        A group shares company code, customer, transaction currency and the clearing criteria
        (the assignment by default); items with an empty criterion are not grouped, and a group
        needs at least one debit and one credit.
        """
        run = ClearingRun()
        with self.lock:
            groups: dict[KeyT, list[KeyT]] = {}
            for key, row in sorted(self.open_items()):
                criteria = tuple(row.get(c) or "" for c in self.clearing_criteria)
                if not all(criteria):
                    continue
                group = (row["CompanyCode"], row["Customer"], row["TransactionCurrency"], *criteria)
                groups.setdefault(group, []).append(key)
            rows = self.tables["A_OperationalAcctgDocItemCube"]
            for keys in groups.values():
                amounts = [rows[k]["AmountInTransactionCurrency"] for k in keys]
                if len(keys) < 2 or sum(amounts, Decimal(0)) != 0:
                    continue
                if not any(a > 0 for a in amounts) or not any(a < 0 for a in amounts):
                    continue
                run.documents[self.clear_items(keys)] = keys
        return run

    def documents_with_reference(self, reference: str) -> list[tuple[str, str, str]]:
        """Accounting documents whose header reference (``DocumentReferenceID``) is ``reference``."""
        with self.lock:
            found = {
                (r["CompanyCode"], r["FiscalYear"], r["AccountingDocument"])
                for r in self.tables["A_OperationalAcctgDocItemCube"].values()
                if r.get("DocumentReferenceID") == reference
            }
        return sorted(found)
