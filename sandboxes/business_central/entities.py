"""The entity sets the sandbox serves, with their properties written out as BC's ``$metadata`` states them.

Two APIs: Microsoft's standard API v2.0 (``api/v2.0``) and the arbridge extension's pages
(``api/arbridge/collections/v1.0``). The standard entity types list every property Microsoft's
own ``$metadata`` gives them, in the same order, with the same EDM types and lengths; a fidelity
test reads Microsoft's file from the specs folder and proves it. Read-only properties (``-``) are
those the AL page declares ``Editable = false``. The extension's entity types are what its AL pages
in ``connectors/business_central/extension`` declare; another test parses the AL and compares.

Spec syntax: ``name:Type(maxLength)`` with ``!`` for not nullable and ``-`` for read-only; types
are EDM names without ``Edm.``, or ``@enum`` for an enum type of the service's schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "API_V2",
    "ENUMS",
    "EXTENSION",
    "Api",
    "EntitySet",
    "Property",
]


@dataclass(frozen=True)
class Property:
    name: str
    type: str
    max_length: int | None = None
    nullable: bool = True
    read_only: bool = False

    @property
    def is_enum(self) -> bool:
        return self.type.startswith("@")

    @property
    def edm_type(self) -> str:
        """The type as ``$metadata`` writes it: ``Edm.String`` or ``Microsoft.NAV.customerBlocked``."""
        return f"Microsoft.NAV.{self.type[1:]}" if self.is_enum else f"Edm.{self.type}"


_SPEC = re.compile(r"^(?P<name>\w+):(?P<type>@?\w+)(?:\((?P<len>\d+)\))?(?P<flags>[!-]*)$")


def _props(spec: str) -> tuple[Property, ...]:
    out = []
    for token in spec.split():
        m = _SPEC.match(token)
        if not m:
            raise ValueError(f"bad property spec {token!r}")
        out.append(
            Property(
                m["name"],
                m["type"],
                int(m["len"]) if m["len"] else None,
                nullable="!" not in m["flags"],
                read_only="-" in m["flags"],
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class EntitySet:
    """One entity set: its name, its entity type, its key, what it allows, and its bound actions."""

    name: str
    entity_type: str
    properties: tuple[Property, ...]
    key: str = "id"
    insertable: bool = False
    updatable: bool = False
    deletable: bool = False
    in_company: bool = True
    actions: tuple[str, ...] = ()
    children: dict[str, str] = field(default_factory=dict)

    def prop(self, name: str) -> Property | None:
        return next((p for p in self.properties if p.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties)


@dataclass(frozen=True)
class Api:
    """One API route (``v2.0`` or ``arbridge/collections/v1.0``) and its entity sets."""

    route: str
    entity_sets: dict[str, EntitySet]
    enums: tuple[str, ...]


ENUMS: dict[str, tuple[str, ...]] = {
    "contactType": ("Company", "Person"),
    "customerBlocked": ("_x0020_", "Ship", "Invoice", "All"),
    "invoiceEntityAggregateStatus": (
        "_x0020_",
        "Draft",
        "In_x0020_Review",
        "Open",
        "Paid",
        "Canceled",
        "Corrective",
    ),
    "salesCrMemoEntityBufferStatus": ("Draft", "In_x0020_Review", "Open", "Canceled", "Corrective", "Paid"),
    "genJournalDocumentType": (
        "_x0020_",
        "Payment",
        "Invoice",
        "Credit_x0020_Memo",
        "Finance_x0020_Charge_x0020_Memo",
        "Reminder",
        "Refund",
    ),
    # The extension's enum "ARB Collection Status", named the way BC names AL enums in $metadata.
    "aRBCollectionStatus": (
        "_x0020_",
        "Current",
        "Reminded",
        "Escalated",
        "Promised",
        "Disputed",
        "On_x0020_Hold",
        "Collections_x0020_Agency",
        "Paid",
    ),
}

_COMPANY = _props("""
    id:Guid!- systemVersion:String- timestamp:Int64- name:String(30)- displayName:String(250)-
    businessProfileId:String(250)- systemCreatedAt:DateTimeOffset- systemCreatedBy:Guid-
    systemModifiedAt:DateTimeOffset- systemModifiedBy:Guid-
""")

_CUSTOMER = _props("""
    id:Guid!- number:String(20) displayName:String(100)! type:@contactType addressLine1:String(100)
    addressLine2:String(50) city:String(30) state:String(30) country:String(10)
    postalCode:String(20) phoneNumber:String(30) email:String(80) website:String(80)
    salespersonCode:String(20) balanceDue:Decimal- creditLimit:Decimal taxLiable:Boolean
    taxAreaId:Guid taxAreaDisplayName:String- taxRegistrationNumber:String currencyId:Guid
    currencyCode:String paymentTermsId:Guid shipmentMethodId:Guid paymentMethodId:Guid
    blocked:@customerBlocked lastModifiedDateTime:DateTimeOffset-
""")

_SALES_INVOICE = _props("""
    id:Guid!- number:String(20)- externalDocumentNumber:String(35) invoiceDate:Date postingDate:Date
    dueDate:Date promisedPayDate:Date customerPurchaseOrderReference:String(35) customerId:Guid
    customerNumber:String(20)! customerName:String(100)- billToName:String(100)-
    billToCustomerId:Guid billToCustomerNumber:String(20)! shipToName:String(100)
    shipToContact:String(100) sellToAddressLine1:String(100) sellToAddressLine2:String(50)
    sellToCity:String(30) sellToCountry:String(10) sellToState:String(30) sellToPostCode:String(20)
    billToAddressLine1:String(100)- billToAddressLine2:String(50)- billToCity:String(30)-
    billToCountry:String(10)- billToState:String(30)- billToPostCode:String(20)-
    shipToAddressLine1:String(100) shipToAddressLine2:String(50) shipToCity:String(30)
    shipToCountry:String(10) shipToState:String(30) shipToPostCode:String(20) currencyId:Guid
    shortcutDimension1Code:String(20) shortcutDimension2Code:String(20) currencyCode:String
    orderId:Guid- orderNumber:String(20)- paymentTermsId:Guid shipmentMethodId:Guid
    salesperson:String(20) disputeStatusId:Guid disputeStatus:String(10) pricesIncludeTax:Boolean-
    remainingAmount:Decimal- discountAmount:Decimal discountAppliedBeforeTax:Boolean-
    totalAmountExcludingTax:Decimal- totalTaxAmount:Decimal- totalAmountIncludingTax:Decimal-
    status:@invoiceEntityAggregateStatus- lastModifiedDateTime:DateTimeOffset-
    phoneNumber:String(30) email:String(80)
""")

_SALES_CREDIT_MEMO = _props("""
    id:Guid!- number:String(20)- externalDocumentNumber:String(35) creditMemoDate:Date
    postingDate:Date dueDate:Date customerId:Guid customerNumber:String(20)!
    customerName:String(100)- billToName:String(100)- billToCustomerId:Guid
    billToCustomerNumber:String(20)! sellToAddressLine1:String(100) sellToAddressLine2:String(50)
    sellToCity:String(30) sellToCountry:String(10) sellToState:String(30) sellToPostCode:String(20)
    billToAddressLine1:String(100) billToAddressLine2:String(50) billToCity:String(30)
    billToCountry:String(10) billToState:String(30) billToPostCode:String(20)
    shortcutDimension1Code:String(20) shortcutDimension2Code:String(20) currencyId:Guid
    currencyCode:String paymentTermsId:Guid shipmentMethodId:Guid salesperson:String(20)
    pricesIncludeTax:Boolean- discountAmount:Decimal discountAppliedBeforeTax:Boolean-
    totalAmountExcludingTax:Decimal- totalTaxAmount:Decimal- totalAmountIncludingTax:Decimal-
    status:@salesCrMemoEntityBufferStatus- lastModifiedDateTime:DateTimeOffset- invoiceId:Guid
    invoiceNumber:String(20) phoneNumber:String(30) email:String(80) customerReturnReasonId:Guid
""")

_PAYMENT_JOURNAL = _props("""
    id:Guid!- code:String(10)! displayName:String(100) lastModifiedDateTime:DateTimeOffset
    balancingAccountId:Guid balancingAccountNumber:String(20)-
""")

_CUSTOMER_PAYMENT = _props("""
    id:Guid!- journalId:Guid journalDisplayName:String(10) lineNumber:Int32 customerId:Guid
    customerNumber:String(20) postingDate:Date documentNumber:String(20)
    externalDocumentNumber:String(35) amount:Decimal appliesToInvoiceId:Guid
    appliesToInvoiceNumber:String description:String(100) comment:String(250)
    lastModifiedDateTime:DateTimeOffset-
""")

_SUBSCRIPTION = _props("""
    subscriptionId:String(150)!- notificationUrl:String! resource:String! timestamp:Int64- userId:Guid-
    lastModifiedDateTime:DateTimeOffset- clientState:String(2048) expirationDateTime:DateTimeOffset-
    systemCreatedAt:DateTimeOffset- systemCreatedBy:Guid- systemModifiedAt:DateTimeOffset-
    systemModifiedBy:Guid-
""")

API_V2 = Api(
    route="v2.0",
    entity_sets={
        s.name: s
        for s in (
            EntitySet("companies", "company", _COMPANY, in_company=False),
            EntitySet(
                "subscriptions",
                "subscriptions",
                _SUBSCRIPTION,
                key="subscriptionId",
                insertable=True,
                updatable=True,
                deletable=True,
                in_company=False,
            ),
            EntitySet("customers", "customer", _CUSTOMER, insertable=True, updatable=True, deletable=True),
            EntitySet(
                "salesInvoices",
                "salesInvoice",
                _SALES_INVOICE,
                insertable=True,
                updatable=True,
                deletable=True,
                actions=(
                    "post",
                    "postAndSend",
                    "send",
                    "cancel",
                    "cancelAndSend",
                    "makeCorrectiveCreditMemo",
                ),
            ),
            EntitySet(
                "salesCreditMemos",
                "salesCreditMemo",
                _SALES_CREDIT_MEMO,
                insertable=True,
                updatable=True,
                deletable=True,
            ),
            EntitySet(
                "customerPaymentJournals",
                "customerPaymentJournal",
                _PAYMENT_JOURNAL,
                insertable=True,
                updatable=True,
                deletable=True,
                children={"customerPayments": "customerPayments"},
            ),
            EntitySet(
                "customerPayments",
                "customerPayment",
                _CUSTOMER_PAYMENT,
                insertable=True,
                updatable=True,
                deletable=True,
            ),
        )
    },
    enums=("contactType", "customerBlocked", "invoiceEntityAggregateStatus", "salesCrMemoEntityBufferStatus"),
)

_EXT_CUSTOMER = _props("""
    id:Guid!- number:String(20)- displayName:String(100)- collectionStatus:@aRBCollectionStatus
    dunningLevel:Int32 nextActionDate:Date promiseToPayDate:Date disputed:Boolean
    lastModifiedDateTime:DateTimeOffset-
""")

_EXT_LEDGER_ENTRY = _props("""
    id:Guid!- entryNumber:Int32- customerId:Guid- customerNumber:String(20)-
    documentType:@genJournalDocumentType- documentNumber:String(20)- externalDocumentNumber:String(35)-
    postingDate:Date- dueDate:Date- description:String(100)- currencyCode:String(10)- amount:Decimal-
    remainingAmount:Decimal- open:Boolean- lastIssuedReminderLevel:Int32- onHold:String(3)-
    collectionStatus:@aRBCollectionStatus dunningLevel:Int32 nextActionDate:Date promiseToPayDate:Date
    disputed:Boolean lastModifiedDateTime:DateTimeOffset-
""")

_EXT_PAYMENT_JOURNAL = _props("""
    id:Guid!- code:String(10)- templateName:String(10)- displayName:String(100)-
    lastModifiedDateTime:DateTimeOffset-
""")

_EXT_PAYMENT_APPLICATION = _props("""
    id:Guid!- applicationKey:String(35) lineNumber:Int32 paymentEntryId:Guid invoiceEntryId:Guid
    amount:Decimal postingDate:Date lastModifiedDateTime:DateTimeOffset-
""")

_EXT_CUSTOMER_COMMENT = _props("""
    id:Guid!- customerNumber:String(20) lineNumber:Int32 commentDate:Date commentCode:String(10)
    comment:String(80) lastModifiedDateTime:DateTimeOffset-
""")

EXTENSION = Api(
    route="arbridge/collections/v1.0",
    entity_sets={
        s.name: s
        for s in (
            EntitySet("companies", "company", _COMPANY, in_company=False),
            EntitySet("customers", "customer", _EXT_CUSTOMER, updatable=True),
            EntitySet("customerLedgerEntries", "customerLedgerEntry", _EXT_LEDGER_ENTRY, updatable=True),
            EntitySet("paymentJournals", "paymentJournal", _EXT_PAYMENT_JOURNAL, actions=("post",)),
            EntitySet("paymentApplications", "paymentApplication", _EXT_PAYMENT_APPLICATION, insertable=True),
            EntitySet("customerComments", "customerComment", _EXT_CUSTOMER_COMMENT, insertable=True),
        )
    },
    enums=("genJournalDocumentType", "aRBCollectionStatus"),
)
