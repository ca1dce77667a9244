"""One SAP Business One company database, as the Service Layer shows it: partners, documents, payments,
activities, UDFs.

Records are kept in the Service Layer's JSON shape (property names from SAP's metadata). The
company stamps ``UpdateDate`` (the day, as ``…T00:00:00Z``) and ``UpdateTime`` (``HH:MM:SS``) in its
own local time, as B1 does, and bumps each record's version (its ETag) on every change. Incoming
payments reduce the open amount of the invoices they pay (``PaidToDate``), close an invoice paid
in full (``DocumentStatus``), and are refused when they apply more than is open. Activities (the
calls, meetings and notes B1 users log on a business partner) belong to an existing partner and,
when linked to an A/R invoice or credit note, to one of that partner's documents.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sandboxes.sap_business_one.errors import B1Error, business_rule, not_found

__all__ = ["ENTITY_SETS", "UDF_TABLES", "Company"]

#: The entity sets the sandbox holds, with their key property and whether they carry ETags
#: (SAP's metadata annotates BusinessPartners, Invoices and CreditNotes with OptimisticConcurrency).
ENTITY_SETS: dict[str, tuple[str, bool]] = {
    "BusinessPartners": ("CardCode", True),
    "Invoices": ("DocEntry", True),
    "CreditNotes": ("DocEntry", True),
    "IncomingPayments": ("DocEntry", False),
    "Activities": ("ActivityCode", True),
}
#: An activity's ``DocType`` (B1's object type) → the entity set of the document it is linked to.
ACTIVITY_DOCUMENTS = {"13": "Invoices", "14": "CreditNotes"}
#: Tables a user-defined field may be created on, and the Service Layer type it then appears on.
#: A field on one marketing-document header table is created on all of them (SAP's guide, 3.14).
UDF_TABLES: dict[str, str] = {
    "OCRD": "BusinessPartner",
    "OINV": "Document",
    "ORIN": "Document",
    "ORCT": "Payment",
    "OCLG": "Activity",
}
UDF_EDM = {
    "db_Alpha": "Edm.String",
    "db_Memo": "Edm.String",
    "db_Numeric": "Edm.Int32",
    "db_Date": "Edm.DateTimeOffset",
    "db_Float": "Edm.Double",
}


#: BusinessPartner header property → the BPAddress property B1 copies into it from the bill-to row.
_BILL_TO_HEADER = {
    "Address": "Street",
    "Block": "Block",
    "BillToBuildingFloorRoom": "BuildingFloorRoom",
    "ZipCode": "ZipCode",
    "City": "City",
    "County": "County",
    "BillToState": "State",
    "Country": "Country",
}


def etag_of(entity_set: str, key: Any, version: int) -> str:
    digest = hashlib.sha1(f"{entity_set}:{key}:{version}".encode()).hexdigest().upper()
    return f'W/"{digest}"'


class Company:
    """The company's records and the rules the Service Layer applies to them."""

    def __init__(self, clock: Callable[[], datetime], zone: str = "UTC") -> None:
        self.clock = clock
        self.zone = ZoneInfo(zone)
        self.lock = threading.RLock()
        self.tables: dict[str, dict[Any, dict[str, Any]]] = {name: {} for name in ENTITY_SETS}
        self.udfs: list[dict[str, Any]] = []
        self._next_entry: dict[str, int] = {name: 1 for name in ENTITY_SETS}

    # -- time and versions -----------------------------------------------------------------------

    def local_now(self) -> datetime:
        return self.clock().astimezone(self.zone)

    def stamp(self, record: dict[str, Any], when: datetime | None = None) -> None:
        """Mark a change: the local day and time of it, and a new version."""
        local = (when or self.clock()).astimezone(self.zone)
        record["UpdateDate"] = local.strftime("%Y-%m-%dT00:00:00Z")
        record["UpdateTime"] = local.strftime("%H:%M:%S")
        record["_version"] = int(record.get("_version", 0)) + 1

    @staticmethod
    def copy_bill_to(partner: dict[str, Any]) -> None:
        """Keep a business partner's header billing fields equal to its default bill-to address.

        B1 does this on every save: the row of BPAddresses named by BilltoDefault (OCRD.BillToDef)
        is copied into OCRD's Address, Block, Building, ZipCode, City, County, State1 and Country,
        which is what the header's properties and the fast read's columns show.
        """
        rows = [a for a in partner.get("BPAddresses") or [] if a.get("AddressType") == "bo_BillTo"]
        if not rows:
            return
        default = next((a for a in rows if a.get("AddressName") == partner.get("BilltoDefault")), rows[0])
        partner["BilltoDefault"] = default.get("AddressName")
        for header, row in _BILL_TO_HEADER.items():
            partner[header] = default.get(row)

    def etag(self, entity_set: str, record: dict[str, Any]) -> str | None:
        key, has_etag = ENTITY_SETS[entity_set]
        return etag_of(entity_set, record[key], int(record.get("_version", 0))) if has_etag else None

    def view(self, entity_set: str, record: dict[str, Any]) -> dict[str, Any]:
        """The record as the Service Layer serves it (ETag first, no private keys)."""
        out: dict[str, Any] = {}
        etag = self.etag(entity_set, record)
        if etag:
            out["@odata.etag"] = etag
        out.update({k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")})
        return out

    def next_entry(self, entity_set: str) -> int:
        value = self._next_entry[entity_set]
        self._next_entry[entity_set] = value + 1
        return value

    # -- user-defined fields ---------------------------------------------------------------------

    def udf_properties(self, type_name: str) -> dict[str, str]:
        """``U_<Name>`` → EDM type of every field created on a table of ``type_name``."""
        return {
            f"U_{u['Name']}": UDF_EDM.get(str(u.get("Type")), "Edm.String")
            for u in self.udfs
            if UDF_TABLES.get(str(u["TableName"])) == type_name
        }

    def add_udf(self, body: dict[str, Any]) -> dict[str, Any]:
        table = str(body.get("TableName") or "")
        name = str(body.get("Name") or "")
        if table not in UDF_TABLES:
            raise business_rule(f"Table '{table}' does not take user-defined fields in this company")
        if not name or len(name) > 18:
            raise business_rule("Field name must have 1 to 18 characters")
        if any(u["TableName"] == table and u["Name"] == name for u in self.udfs):
            raise business_rule(f"Field '{name}' already exists in table '{table}'")
        field_id = sum(1 for u in self.udfs if u["TableName"] == table)
        record = {
            "Name": name,
            "Type": body.get("Type", "db_Alpha"),
            "Size": body.get("Size", 10 if body.get("Type", "db_Alpha") == "db_Alpha" else None),
            "Description": body.get("Description", name),
            "SubType": body.get("SubType", "st_None"),
            "LinkedTable": None,
            "DefaultValue": body.get("DefaultValue"),
            "TableName": table,
            "FieldID": field_id,
            "EditSize": body.get("EditSize", body.get("Size")),
            "Mandatory": body.get("Mandatory", "tNO"),
            "LinkedUDO": None,
            "ValidValuesMD": body.get("ValidValuesMD", []),
        }
        self.udfs.append(record)
        return record

    # -- payments --------------------------------------------------------------------------------

    def open_amount(self, doc: dict[str, Any]) -> float:
        return round(float(doc.get("DocTotal") or 0) - float(doc.get("PaidToDate") or 0), 2)

    def add_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        """Post an incoming payment: check every line, then reduce each document's open amount."""
        card = str(body.get("CardCode") or "")
        partner = self.tables["BusinessPartners"].get(card)
        if partner is None:
            raise business_rule(f"Business partner '{card}' does not exist")
        means = round(sum(float(body.get(k) or 0) for k in ("CashSum", "TransferSum")), 2)
        if means <= 0:
            raise business_rule("Enter a payment means: CashSum or TransferSum")
        if float(body.get("TransferSum") or 0) and not body.get("TransferAccount"):
            raise business_rule("Enter the G/L account of the bank transfer (TransferAccount)")
        lines = list(body.get("PaymentInvoices") or [])
        applied: list[tuple[dict[str, Any], float]] = []
        total = 0.0
        for n, line in enumerate(lines):
            kind = line.get("InvoiceType", "it_Invoice")
            table = {"it_Invoice": "Invoices", "it_CredItnote": "CreditNotes"}.get(str(kind))
            if table is None:
                raise business_rule(f"PaymentInvoices[{n}]: document type {kind} is not served here")
            doc = self.tables[table].get(line.get("DocEntry"))
            if doc is None:
                raise business_rule(f"PaymentInvoices[{n}]: document {line.get('DocEntry')} does not exist")
            if doc.get("CardCode") != card:
                raise business_rule(
                    f"PaymentInvoices[{n}]: document {doc['DocNum']} belongs to another partner"
                )
            if doc.get("Cancelled") == "tYES" or doc.get("DocumentStatus") == "bost_Close":
                raise business_rule(f"PaymentInvoices[{n}]: document {doc['DocNum']} is closed")
            amount = round(float(line.get("SumApplied") or 0) + float(line.get("TotalDiscount") or 0), 2)
            if amount <= 0:
                raise business_rule(f"PaymentInvoices[{n}]: SumApplied must be positive")
            if amount > self.open_amount(doc) + 0.005:
                raise business_rule(
                    f"PaymentInvoices[{n}]: amount {amount:.2f} exceeds the open amount "
                    f"{self.open_amount(doc):.2f} of document {doc['DocNum']}"
                )
            sign = -1 if table == "CreditNotes" else 1
            total += sign * float(line.get("SumApplied") or 0)
            applied.append((doc, amount))
        if round(total, 2) > means + 0.005:
            raise business_rule(f"The amount applied ({total:.2f}) exceeds the payment total ({means:.2f})")
        entry = self.next_entry("IncomingPayments")
        record = {k: v for k, v in body.items() if k != "PaymentInvoices"}
        record.update(
            DocEntry=entry,
            DocNum=entry,
            DocType="rCustomer",
            CardName=partner.get("CardName"),
            DocDate=record.get("DocDate") or self.local_now().strftime("%Y-%m-%dT00:00:00Z"),
            DocCurrency=record.get("DocCurrency") or partner.get("Currency") or "EUR",
            Cancelled="tNO",
            PaymentInvoices=[
                {
                    "LineNum": n,
                    "DocEntry": line.get("DocEntry"),
                    "DocNum": doc["DocNum"],
                    "SumApplied": float(line.get("SumApplied") or 0),
                    "InvoiceType": line.get("InvoiceType", "it_Invoice"),
                    "TotalDiscount": float(line.get("TotalDiscount") or 0),
                }
                for n, (line, (doc, _)) in enumerate(zip(lines, applied, strict=True))
            ],
        )
        for doc, amount in applied:
            self._pay(doc, amount)
        self.tables["IncomingPayments"][entry] = record
        return record

    def _pay(self, doc: dict[str, Any], amount: float) -> None:
        doc["PaidToDate"] = round(float(doc.get("PaidToDate") or 0) + amount, 2)
        doc["DocumentStatus"] = "bost_Close" if self.open_amount(doc) <= 0.005 else "bost_Open"
        self.stamp(doc)

    def cancel_payment(self, entry: int) -> None:
        """Cancel an incoming payment: the documents it paid are open again by what it applied."""
        payment = self.tables["IncomingPayments"].get(entry)
        if payment is None:
            raise not_found(f"IncomingPayments({entry})")
        if payment.get("Cancelled") == "tYES":
            raise business_rule("Document is already cancelled")
        payment["Cancelled"] = "tYES"
        for line in payment.get("PaymentInvoices") or []:
            table = "CreditNotes" if line.get("InvoiceType") == "it_CredItnote" else "Invoices"
            doc = self.tables[table].get(line.get("DocEntry"))
            if doc is not None:
                self._pay(doc, -(float(line["SumApplied"]) + float(line.get("TotalDiscount") or 0)))

    # -- activities ------------------------------------------------------------------------------

    def add_activity(self, body: dict[str, Any]) -> dict[str, Any]:
        """Log an activity on a business partner, linked to one of its documents when DocType says so."""
        card = str(body.get("CardCode") or "")
        if card not in self.tables["BusinessPartners"]:
            raise business_rule(f"Business partner '{card}' does not exist")
        doc_type = body.get("DocType")
        if doc_type not in (None, "", "-1"):
            table = ACTIVITY_DOCUMENTS.get(str(doc_type))
            if table is None:
                raise business_rule(f"Linked document type {doc_type} is not served here")
            entry = str(body.get("DocEntry") or "")
            doc = self.tables[table].get(int(entry)) if entry.isdigit() else None
            if doc is None:
                raise business_rule(f"Linked document {entry or '(none)'} does not exist")
            if doc.get("CardCode") != card:
                raise business_rule(f"Linked document {doc['DocNum']} belongs to another partner")
        code = self.next_entry("Activities")
        record = {
            "ActivityCode": code,
            "ActivityProperty": "cn_Conversation",
            "ActivityDate": self.local_now().strftime("%Y-%m-%dT00:00:00Z"),
            "Closed": "tNO",
            **body,
        }
        record["ActivityCode"] = code
        self.tables["Activities"][code] = record
        return record

    def activities_of(self, card_code: str) -> list[dict[str, Any]]:
        """The partner's activities, in the order they were logged (what B1's activity overview lists)."""
        return [a for _, a in sorted(self.tables["Activities"].items()) if a.get("CardCode") == card_code]

    def get(self, entity_set: str, key: Any) -> dict[str, Any]:
        record = self.tables[entity_set].get(key)
        if record is None:
            raise not_found(f"{entity_set}({key!r})")
        return record


__all__ += ["B1Error", "etag_of"]
