"""Incoming payments posted through SAP's journal-entry SOAP service, with zeep.

``JournalEntryCreateRequestConfirmation_In`` (communication scenario SAP_COM_0002) posts a
journal entry synchronously. A payment becomes one entry: the bank line (debit) and one customer
line (credit) per invoice it pays, each carrying that invoice's assignment (and payment reference)
so SAP's automatic clearing closes the invoice with the payment line. The service does not
de-duplicate: the outbox key goes into the message header (``ID``, ``UUID``) and, shortened, into
the document's reference (``DocumentReferenceID``), where the connector looks it up before any
resend.

SAP also offers a journal-entry *clearing* service (Journal Entry - Clearing, asynchronous). Its
WSDL was not found in public material, so it is not called: ``ClearingService`` is the extension
point for a system that exposes it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import requests

from connectors.errors import BadRecordError, ConnectorError, TransientError, classify_http
from connectors.http import classify_transport_error

__all__ = [
    "BINDING",
    "ClearingService",
    "DebtorLine",
    "GlLine",
    "JournalEntry",
    "JournalEntryPoster",
    "Posted",
    "reference_for",
]

BINDING = "{http://sap.com/xi/SAPSCORE/SFIN}binding"


def reference_for(key: str) -> str:
    """The 16-character document reference (``DocumentReferenceID``) derived from an outbox key."""
    return "AR" + hashlib.sha256(key.encode()).hexdigest()[:14].upper()


def message_uuid(key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"arbridge:{key}"))


@dataclass(frozen=True)
class GlLine:
    gl_account: str
    amount: Decimal  # signed: debit positive
    text: str = ""
    house_bank: str | None = None
    house_bank_account: str | None = None


@dataclass(frozen=True)
class DebtorLine:
    customer: str
    amount: Decimal  # signed: credit negative
    assignment: str = ""
    payment_reference: str = ""
    text: str = ""


@dataclass(frozen=True)
class JournalEntry:
    """One journal entry to post, with the outbox key it carries."""

    key: str
    company_code: str
    document_type: str
    posting_date: str
    currency: str
    created_by: str
    gl_lines: list[GlLine]
    debtor_lines: list[DebtorLine]
    header_text: str = ""

    @property
    def reference(self) -> str:
        return reference_for(self.key)


@dataclass(frozen=True)
class Posted:
    """SAP's confirmation of one entry: the document, or the log that says why not."""

    key: str
    document: tuple[str, str, str] | None
    notes: list[str]


class ClearingService(Protocol):
    """Extension point: clear invoices directly where a system exposes SAP's clearing service.

    Not implemented here: its WSDL (Journal Entry - Clearing) was not found in public material
    and its fields are not guessed. An implementation gets the posted payment and the items it
    pays and returns whether SAP accepted the clearing request.
    """

    def clear(self, company_code: str, document: tuple[str, str, str], items: list[str]) -> bool: ...


def _amount(value: Decimal, currency: str) -> dict[str, Any]:
    return {"_value_1": value, "currencyCode": currency}


def _code(amount: Decimal) -> str:
    return "S" if amount > 0 else "H"


class JournalEntryPoster:
    """Builds and sends ``JournalEntryBulkCreateRequest`` messages through zeep.

    Args:
        session: the connection's ``SapSession`` (limiter, TLS, auth).
        wsdl: the service's WSDL (URL or file).
        address: the service endpoint.
        timeout: seconds per call.
    """

    def __init__(self, session: requests.Session, wsdl: str, address: str, *, timeout: float = 60.0) -> None:
        self.session = session
        self.wsdl = wsdl
        self.address = address
        self.timeout = timeout
        self._service: Any = None
        self.calls = 0
        self.sent: list[bytes] = []

    def _proxy(self) -> Any:
        if self._service is None:
            from zeep import Client, Plugin, Settings
            from zeep.transports import Transport

            poster = self

            class _Capture(Plugin):
                def egress(
                    self, envelope: Any, http_headers: Any, operation: Any, binding_options: Any
                ) -> Any:
                    from lxml import etree

                    poster.sent.append(etree.tostring(envelope))
                    return envelope, http_headers

            try:
                self.calls += 1
                client = Client(
                    self.wsdl,
                    transport=Transport(
                        session=self.session, timeout=self.timeout, operation_timeout=self.timeout
                    ),
                    settings=Settings(xml_huge_tree=True),
                    plugins=[_Capture()],
                )
            except requests.RequestException as exc:
                raise classify_transport_error(exc, "journal entry WSDL") from None
            except Exception as exc:  # zeep raises its own errors for unreachable or odd WSDLs
                raise _zeep_error(exc, "journal entry WSDL") from None
            self._service = client.create_service(BINDING, self.address)
        return self._service

    def post(self, entries: list[JournalEntry]) -> list[Posted]:
        """Post ``entries`` in one bulk message; one ``Posted`` per entry, in order.

        Raises:
            ConnectorError: the whole call failed (SOAP fault, HTTP error, network); nothing in it
                can be assumed posted or not (the caller looks the references up before resending).
        """
        service = self._proxy()
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        messages = [self._message(entry, now) for entry in entries]
        bulk_id = hashlib.sha256("\n".join(e.key for e in entries).encode()).hexdigest()[:35].upper()
        self.calls += 1
        try:
            answer = service.JournalEntryCreateRequestConfirmation_In(
                MessageHeader={"ID": {"_value_1": bulk_id}, "CreationDateTime": now},
                JournalEntryCreateRequest=messages,
            )
        except requests.RequestException as exc:
            raise classify_transport_error(exc, "journal entry post") from None
        except Exception as exc:
            raise _zeep_error(exc, "journal entry post") from None
        confirmations = list(getattr(answer, "JournalEntryCreateConfirmation", None) or [])
        out: list[Posted] = []
        for entry, conf in zip(entries, confirmations, strict=False):
            doc = getattr(conf, "JournalEntryCreateConfirmation", None)
            log = getattr(conf, "Log", None)
            notes = [str(getattr(i, "Note", "")) for i in (getattr(log, "Item", None) or [])]
            number = str(getattr(doc, "AccountingDocument", "") or "") if doc is not None else ""
            if doc is not None and number.strip("0"):
                document = (str(doc.CompanyCode), str(doc.FiscalYear), number)
                out.append(Posted(entry.key, document, notes))
            else:
                out.append(Posted(entry.key, None, notes))
        for entry in entries[len(out) :]:
            out.append(Posted(entry.key, None, ["SAP's confirmation has no entry for this message"]))
        return out

    @staticmethod
    def _message(entry: JournalEntry, now: str) -> dict[str, Any]:
        items = []
        for n, line in enumerate(entry.gl_lines, start=1):
            item: dict[str, Any] = {
                "ReferenceDocumentItem": str(n),
                "GLAccount": {"_value_1": line.gl_account},
                "AmountInTransactionCurrency": _amount(line.amount, entry.currency),
                "DebitCreditCode": _code(line.amount),
            }
            if line.text:
                item["DocumentItemText"] = line.text[:50]
            if line.house_bank:
                item["HouseBank"] = line.house_bank
            if line.house_bank_account:
                item["HouseBankAccount"] = line.house_bank_account
            items.append(item)
        debtors = []
        for n, debtor_line in enumerate(entry.debtor_lines, start=len(items) + 1):
            debtor: dict[str, Any] = {
                "ReferenceDocumentItem": str(n),
                "Debtor": debtor_line.customer,
                "AmountInTransactionCurrency": _amount(debtor_line.amount, entry.currency),
                "DebitCreditCode": _code(debtor_line.amount),
            }
            if debtor_line.text:
                debtor["DocumentItemText"] = debtor_line.text[:50]
            if debtor_line.assignment:
                debtor["AssignmentReference"] = debtor_line.assignment[:18]
            if debtor_line.payment_reference:
                debtor["PaymentDetails"] = {"PaymentReference": debtor_line.payment_reference[:30]}
            debtors.append(debtor)
        journal: dict[str, Any] = {
            "OriginalReferenceDocumentType": "BKPFF",
            "BusinessTransactionType": "RFBU",
            "AccountingDocumentType": entry.document_type,
            "DocumentReferenceID": entry.reference,
            "CreatedByUser": entry.created_by[:12],
            "CompanyCode": entry.company_code,
            "DocumentDate": entry.posting_date,
            "PostingDate": entry.posting_date,
            "Item": items,
            "DebtorItem": debtors,
        }
        if entry.header_text:
            journal["DocumentHeaderText"] = entry.header_text[:25]
        return {
            "MessageHeader": {
                "ID": {"_value_1": entry.key[:35]},
                "UUID": {"_value_1": message_uuid(entry.key)},
                "CreationDateTime": now,
            },
            "JournalEntry": journal,
        }


def _zeep_error(exc: Exception, what: str) -> ConnectorError:
    from zeep.exceptions import Fault, TransportError, ValidationError, XMLSyntaxError

    if isinstance(exc, Fault):
        code = str(exc.code or "")
        message = f"{what}: SOAP fault {code}: {exc.message}"
        if "Client" in code:
            return BadRecordError(message, erp_code=code)
        return TransientError(message, erp_code=code)
    if isinstance(exc, TransportError):
        error = classify_http(int(exc.status_code or 500), None, str(exc.message or "")[:300])
        return error or TransientError(f"{what}: {exc}")
    if isinstance(exc, ValidationError):
        return BadRecordError(f"{what}: the message breaks SAP's schema: {exc}")
    if isinstance(exc, XMLSyntaxError):
        return TransientError(f"{what}: unreadable answer: {exc}")
    return TransientError(f"{what}: {type(exc).__name__}: {exc}")
