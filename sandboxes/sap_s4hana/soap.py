"""The journal-entry SOAP service (``JournalEntryCreateRequestConfirmation_In``) against SAP's WSDL.

Every request body is validated against the schema embedded in SAP's WSDL (read from the vendor
specs folder at run time, never copied); a message the schema refuses gets a SOAP fault and posts
nothing. Each ``JournalEntryCreateRequest`` of an accepted bulk message is posted on its own and
confirmed with its own log, as SAP does: a journal entry SAP refuses does not stop the others.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import xmlschema
from lxml import etree

from sandboxes.sap_s4hana.book import Book, PostedLine, Posting, PostingError

__all__ = [
    "SFIN",
    "SOAP_ENV",
    "WSDL_FILE",
    "JournalEntryService",
    "SoapFault",
    "load_schema",
    "wsdl_for",
]

SFIN = "http://sap.com/xi/SAPSCORE/SFIN"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
WSDL_FILE = "JOURNALENTRYCREATEREQUESTCONFI.wsdl"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


class SoapFault(Exception):
    """Answered as a SOAP 1.1 fault."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def wsdl_path(specs: Path) -> Path:
    return specs / "sap-s4hana" / "wsdl" / WSDL_FILE


@functools.lru_cache(maxsize=4)
def load_schema(path: str) -> xmlschema.XMLSchema:
    """The XML schema embedded in SAP's WSDL, for validating request and confirmation bodies."""
    root = etree.parse(path, _PARSER).getroot()
    schema = root.find(f"{{{WSDL_NS}}}types/{{{XSD_NS}}}schema")
    if schema is None:
        raise ValueError(f"{path}: no embedded xsd:schema")
    return xmlschema.XMLSchema(etree.tostring(schema).decode("utf-8"))


def wsdl_for(specs: Path, address: str) -> bytes:
    """SAP's WSDL with every ``soap:address`` pointing at ``address`` (served at ``?wsdl``)."""
    root = etree.parse(str(wsdl_path(specs)), _PARSER).getroot()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.endswith("}address") and element.get("location"):
            element.set("location", address)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _text(element: etree._Element | None, path: str) -> str:
    if element is None:
        return ""
    found = element.find(path)
    return (found.text or "").strip() if found is not None and found.text else ""


def _date(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d")


def _amount(element: etree._Element) -> tuple[Decimal, str]:
    node = element.find("AmountInTransactionCurrency")
    if node is None or node.text is None:
        raise PostingError("AmountInTransactionCurrency is missing")
    return Decimal(node.text.strip()), node.get("currencyCode", "")


@dataclass
class Confirmation:
    message_id: str
    message_uuid: str
    document: tuple[str, str, str] | None
    notes: list[tuple[str, str]]  # (severity, note)


class JournalEntryService:
    """Posts journal entries into a ``Book`` from SOAP requests SAP's schema accepts.

    Attributes:
        received: every request body received (bytes), for tests that validate what was sent.
    """

    def __init__(self, book: Book, specs: Path) -> None:
        self.book = book
        self.specs = specs
        self.schema = load_schema(str(wsdl_path(specs)))
        self.received: list[bytes] = []

    def handle(self, body: bytes, user: str) -> bytes:
        """Answer one SOAP request: the confirmation envelope, or a fault envelope.

        Raises:
            SoapFault: the envelope is not XML, not SOAP, or its body breaks SAP's schema.
        """
        self.received.append(body)
        try:
            envelope = etree.fromstring(body, _PARSER)
        except etree.XMLSyntaxError as exc:
            raise SoapFault("soap-env:Client", f"XML parsing error: {exc}") from None
        ns = etree.QName(envelope).namespace
        if etree.QName(envelope).localname != "Envelope" or ns not in (SOAP_ENV, SOAP12_ENV):
            raise SoapFault("soap-env:VersionMismatch", "The message is not a SOAP envelope")
        body_el = envelope.find(f"{{{ns}}}Body")
        request = next(iter(body_el), None) if body_el is not None else None
        if request is None or request.tag != f"{{{SFIN}}}JournalEntryBulkCreateRequest":
            raise SoapFault(
                "soap-env:Client",
                "Operation not found: the body must hold n0:JournalEntryBulkCreateRequest",
            )
        try:
            self.schema.validate(request)
        except xmlschema.XMLSchemaValidationError as exc:
            raise SoapFault(
                "soap-env:Client",
                f"Schema violation at {exc.path or '/'}: {exc.reason or exc.message}",
            ) from None
        confirmations = [self._post_one(msg, user) for msg in request.iterfind("JournalEntryCreateRequest")]
        return self._confirmation_envelope(_text(request, "MessageHeader/ID"), confirmations)

    def _post_one(self, message: etree._Element, user: str) -> Confirmation:
        header = message.find("MessageHeader")
        message_id = _text(header, "ID")
        message_uuid = _text(header, "UUID")
        entry = message.find("JournalEntry")
        try:
            posting = self._posting(entry, user, message_id)
            document = self.book.post(posting)
        except PostingError as exc:
            return Confirmation(message_id, message_uuid, None, [("3", str(exc)[:200])])
        note = f"Document posted successfully: BKPFF {document[2]}{document[0]}{document[1]} {user}"
        return Confirmation(message_id, message_uuid, document, [("1", note[:200])])

    def _posting(self, entry: etree._Element | None, user: str, message_id: str) -> Posting:
        if entry is None:
            raise PostingError("JournalEntry is missing")
        lines: list[PostedLine] = []
        currencies: set[str] = set()
        for item in entry.iterfind("Item"):
            amount, currency = _amount(item)
            currencies.add(currency)
            code = _text(item, "DebitCreditCode")
            if code and (code == "S") != (amount > 0):
                raise PostingError(f"DebitCreditCode {code} does not match the sign of {amount}")
            lines.append(
                PostedLine(
                    amount=amount,
                    gl_account=_text(item, "GLAccount"),
                    assignment=_text(item, "AssignmentReference"),
                    item_text=_text(item, "DocumentItemText"),
                )
            )
        for item in entry.iterfind("DebtorItem"):
            amount, currency = _amount(item)
            currencies.add(currency)
            code = _text(item, "DebitCreditCode")
            if code and (code == "S") != (amount > 0):
                raise PostingError(f"DebitCreditCode {code} does not match the sign of {amount}")
            lines.append(
                PostedLine(
                    amount=amount,
                    customer=_text(item, "Debtor"),
                    assignment=_text(item, "AssignmentReference"),
                    payment_reference=_text(item, "PaymentDetails/PaymentReference"),
                    item_text=_text(item, "DocumentItemText"),
                    reference1=_text(item, "Reference1IDByBusinessPartner"),
                )
            )
        if entry.find("CreditorItem") is not None:
            raise PostingError("Supplier items are not posted by this system")
        if len(currencies) != 1:
            raise PostingError(f"All items must be in one transaction currency, got {sorted(currencies)}")
        return Posting(
            company_code=_text(entry, "CompanyCode"),
            document_type=_text(entry, "AccountingDocumentType"),
            posting_date=_date(_text(entry, "PostingDate")),
            document_date=_date(_text(entry, "DocumentDate")),
            currency=currencies.pop(),
            lines=lines,
            document_reference=_text(entry, "DocumentReferenceID"),
            header_text=_text(entry, "DocumentHeaderText"),
            created_by=_text(entry, "CreatedByUser") or user,
            message_id=message_id,
        )

    def _confirmation_envelope(self, bulk_id: str, confirmations: list[Confirmation]) -> bytes:
        nsmap = {"soap-env": SOAP_ENV, "n0": SFIN}
        envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=nsmap)
        etree.SubElement(envelope, f"{{{SOAP_ENV}}}Header")
        body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
        bulk = etree.SubElement(body, f"{{{SFIN}}}JournalEntryBulkCreateConfirmation")
        _header(bulk, bulk_id)
        etree.SubElement(
            bulk, "ConfirmationInterfaceOrignName"
        ).text = "JournalEntryCreateRequestConfirmation_In"
        worst = "1"
        for conf in confirmations:
            node = etree.SubElement(bulk, "JournalEntryCreateConfirmation")
            _header(node, conf.message_id, conf.message_uuid)
            doc = etree.SubElement(node, "JournalEntryCreateConfirmation")
            company, year, number = conf.document or ("", "0000", "0000000000")
            etree.SubElement(doc, "AccountingDocument").text = number
            etree.SubElement(doc, "CompanyCode").text = company or "0000"
            etree.SubElement(doc, "FiscalYear").text = year
            severity = max(s for s, _ in conf.notes)
            worst = max(worst, severity)
            _log(node, conf.notes)
        _log(bulk, [(worst, "Bulk message processed")])
        return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def _header(parent: etree._Element, message_id: str, message_uuid: str = "") -> None:
    header = etree.SubElement(parent, "MessageHeader")
    etree.SubElement(header, "ID").text = (uuid.uuid4().hex.upper())[:35]
    if message_uuid:
        etree.SubElement(header, "UUID").text = str(uuid.uuid4())
    if message_id:
        etree.SubElement(header, "ReferenceID").text = message_id
    if message_uuid:
        etree.SubElement(header, "ReferenceUUID").text = message_uuid
    etree.SubElement(header, "CreationDateTime").text = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _log(parent: etree._Element, notes: list[tuple[str, str]]) -> None:
    log = etree.SubElement(parent, "Log")
    worst = max(s for s, _ in notes)
    etree.SubElement(log, "BusinessDocumentProcessingResultCode").text = "5" if worst >= "3" else "3"
    etree.SubElement(log, "MaximumLogItemSeverityCode").text = worst
    for severity, note in notes:
        item = etree.SubElement(log, "Item")
        etree.SubElement(item, "TypeID").text = "614(RW)" if severity < "3" else "609(RW)"
        etree.SubElement(item, "SeverityCode").text = severity
        etree.SubElement(item, "Note").text = note


def fault_envelope(fault: SoapFault) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap-env": SOAP_ENV})
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Header")
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    node = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(node, "faultcode").text = fault.code
    etree.SubElement(
        node, "faultstring", {"{http://www.w3.org/XML/1998/namespace}lang": "en"}
    ).text = fault.message
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def confirmation_documents(xml: bytes) -> list[dict[str, Any]]:
    """Read a confirmation envelope back (tests): per journal entry the document and the log notes."""
    root = etree.fromstring(xml, _PARSER)
    out = []
    for conf in root.iter("JournalEntryCreateConfirmation"):
        doc = conf.find("JournalEntryCreateConfirmation")
        if doc is None:
            continue
        out.append(
            {
                "document": _text(doc, "AccountingDocument"),
                "company_code": _text(doc, "CompanyCode"),
                "fiscal_year": _text(doc, "FiscalYear"),
                "notes": [n.text for n in conf.iterfind("Log/Item/Note")],
            }
        )
    return out
