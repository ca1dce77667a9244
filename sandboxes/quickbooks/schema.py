"""The slice of Intuit's QBO v3 schema the sandbox accepts and emits, and a validator for JSON bodies.

The table below is written out by hand (the vendor XSD never ships with arbridge); a fidelity test
loads Intuit's ``Finance.xsd`` and proves every field here exists in Intuit's type, with a
compatible simple type, in the same relative order (XML output follows this order, and Intuit's
types are ``xs:sequence``). Fields Intuit defines but this table leaves out are refused like
unknown ones, so the sandbox is stricter than QuickBooks there, never looser.

Spec syntax: ``Name:type`` separated by whitespace, ``*`` after the type for a repeated element.
Simple types carry XSD names (``string``, ``decimal``, ``date`` …), complex types the XSD type name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sandboxes.quickbooks.faults import QboFault

SIMPLE_TYPES = frozenset(
    {"string", "id", "boolean", "decimal", "int", "positiveInteger", "date", "dateTime", "anyURI"}
)

ENUMS: dict[str, frozenset[str]] = {
    "GlobalTaxCalculationEnum": frozenset({"TaxInclusive", "TaxExcluded", "NotApplicable"}),
    "PrintStatusEnum": frozenset({"NotSet", "NeedToPrint", "PrintComplete"}),
    "EmailStatusEnum": frozenset({"NotSet", "NeedToSend", "EmailSent"}),
    "EntityStatusEnum": frozenset({"Deleted", "Voided"}),
    "CustomFieldTypeEnum": frozenset({"StringType", "BooleanType", "NumberType", "DateType"}),
    "LineDetailTypeEnum": frozenset(
        {
            "PaymentLineDetail",
            "DiscountLineDetail",
            "TaxLineDetail",
            "SalesItemLineDetail",
            "SubTotalLineDetail",
            "DescriptionOnly",
        }
    ),
}

# Types whose JSON form is {"value": text, <attribute>: ...} (XSD simpleContent with attributes).
VALUE_TYPES: dict[str, tuple[str, ...]] = {
    "ReferenceType": ("name", "type"),
    "MemoRef": ("id",),
}

# XML attributes every IntuitEntity carries; in JSON they are plain keys.
ENTITY_ATTRIBUTES: dict[str, str] = {"domain": "string", "sparse": "boolean", "status": "EntityStatusEnum"}

_SPECS: dict[str, str] = {
    "ModificationMetaData": "CreateTime:dateTime LastUpdatedTime:dateTime",
    "CustomField": "DefinitionId:id Name:string Type:CustomFieldTypeEnum StringValue:string",
    "LinkedTxn": "TxnId:id TxnType:string TxnLineId:id",
    "PhysicalAddress": """
        Id:id Line1:string Line2:string Line3:string Line4:string Line5:string City:string Country:string
        CountrySubDivisionCode:string PostalCode:string Lat:string Long:string Note:string
    """,
    "EmailAddress": "Address:string",
    "TelephoneNumber": "FreeFormNumber:string",
    "WebSiteAddress": "URI:anyURI",
    "SalesItemLineDetail": """
        ItemRef:ReferenceType ClassRef:ReferenceType UnitPrice:decimal Qty:decimal
        ItemAccountRef:ReferenceType TaxCodeRef:ReferenceType ServiceDate:date
    """,
    "SubTotalLineDetail": "ItemRef:ReferenceType",
    "DiscountLineDetail": "PercentBased:boolean DiscountPercent:decimal DiscountAccountRef:ReferenceType",
    "TaxLineDetail": """
        TaxRateRef:ReferenceType PercentBased:boolean TaxPercent:decimal NetAmountTaxable:decimal
    """,
    "Line": """
        Id:id LineNum:positiveInteger Description:string Amount:decimal LinkedTxn:LinkedTxn*
        DetailType:LineDetailTypeEnum DiscountLineDetail:DiscountLineDetail TaxLineDetail:TaxLineDetail
        SalesItemLineDetail:SalesItemLineDetail SubTotalLineDetail:SubTotalLineDetail
        CustomField:CustomField* LineEx:IntuitAnyType
    """,
    "TxnTaxDetail": "TxnTaxCodeRef:ReferenceType TotalTax:decimal TaxLine:Line*",
    "Customer": """
        Id:id SyncToken:string MetaData:ModificationMetaData Title:string GivenName:string MiddleName:string
        FamilyName:string Suffix:string FullyQualifiedName:string CompanyName:string DisplayName:string
        PrintOnCheckName:string Active:boolean PrimaryPhone:TelephoneNumber AlternatePhone:TelephoneNumber
        Mobile:TelephoneNumber Fax:TelephoneNumber PrimaryEmailAddr:EmailAddress WebAddr:WebSiteAddress
        DefaultTaxCodeRef:ReferenceType Taxable:boolean BillAddr:PhysicalAddress ShipAddr:PhysicalAddress
        Notes:string Job:boolean BillWithParent:boolean ParentRef:ReferenceType Level:int
        SalesTermRef:ReferenceType PaymentMethodRef:ReferenceType Balance:decimal OpenBalanceDate:date
        BalanceWithJobs:decimal CreditLimit:decimal AcctNum:string CurrencyRef:ReferenceType
        PreferredDeliveryMethod:string ResaleNum:string ARAccountRef:ReferenceType
        PrimaryTaxIdentifier:string IsProject:boolean
    """,
    "Invoice": """
        Id:id SyncToken:string MetaData:ModificationMetaData CustomField:CustomField* DocNumber:string
        TxnDate:date DepartmentRef:ReferenceType CurrencyRef:ReferenceType ExchangeRate:decimal
        PrivateNote:string TxnStatus:string LinkedTxn:LinkedTxn* Line:Line* TxnTaxDetail:TxnTaxDetail
        TxnSource:string TransactionLocationType:string RecurDataRef:ReferenceType CustomerRef:ReferenceType
        CustomerMemo:MemoRef BillAddr:PhysicalAddress ShipAddr:PhysicalAddress FreeFormAddress:boolean
        ShipFromAddr:PhysicalAddress ClassRef:ReferenceType SalesTermRef:ReferenceType DueDate:date
        SalesRepRef:ReferenceType PONumber:string ShipMethodRef:ReferenceType ShipDate:date
        TrackingNum:string GlobalTaxCalculation:GlobalTaxCalculationEnum TotalAmt:decimal
        HomeTotalAmt:decimal ApplyTaxAfterDiscount:boolean PrintStatus:PrintStatusEnum
        EmailStatus:EmailStatusEnum BillEmail:EmailAddress BillEmailCc:EmailAddress
        BillEmailBcc:EmailAddress ARAccountRef:ReferenceType Balance:decimal HomeBalance:decimal
        TaxExemptionRef:ReferenceType Deposit:decimal AllowIPNPayment:boolean AllowOnlinePayment:boolean
        AllowOnlineCreditCardPayment:boolean AllowOnlineACHPayment:boolean InvoiceLink:string
    """,
    "CreditMemo": """
        Id:id SyncToken:string MetaData:ModificationMetaData CustomField:CustomField* DocNumber:string
        TxnDate:date DepartmentRef:ReferenceType CurrencyRef:ReferenceType ExchangeRate:decimal
        PrivateNote:string TxnStatus:string LinkedTxn:LinkedTxn* Line:Line* TxnTaxDetail:TxnTaxDetail
        TxnSource:string TransactionLocationType:string CustomerRef:ReferenceType CustomerMemo:MemoRef
        BillAddr:PhysicalAddress ShipAddr:PhysicalAddress ClassRef:ReferenceType SalesTermRef:ReferenceType
        GlobalTaxCalculation:GlobalTaxCalculationEnum TotalAmt:decimal HomeTotalAmt:decimal
        ApplyTaxAfterDiscount:boolean PrintStatus:PrintStatusEnum EmailStatus:EmailStatusEnum
        BillEmail:EmailAddress ARAccountRef:ReferenceType Balance:decimal HomeBalance:decimal
        RemainingCredit:decimal
    """,
    "Payment": """
        Id:id SyncToken:string MetaData:ModificationMetaData DocNumber:string TxnDate:date
        CurrencyRef:ReferenceType ExchangeRate:decimal PrivateNote:string TxnStatus:string
        LinkedTxn:LinkedTxn* Line:Line* TxnSource:string TransactionLocationType:string
        CustomerRef:ReferenceType ARAccountRef:ReferenceType DepositToAccountRef:ReferenceType
        PaymentMethodRef:ReferenceType PaymentRefNum:string TotalAmt:decimal UnappliedAmt:decimal
        ProcessPayment:boolean
    """,
    "Term": """
        Id:id SyncToken:string MetaData:ModificationMetaData Name:string Active:boolean Type:string
        DiscountPercent:decimal DueDays:int DiscountDays:int
    """,
    "CompanyInfo": """
        Id:id SyncToken:string MetaData:ModificationMetaData CompanyName:string LegalName:string
        CompanyAddr:PhysicalAddress CompanyEmailAddr:EmailAddress PrimaryPhone:TelephoneNumber
        CompanyStartDate:date Country:string DefaultTimeZone:string
    """,
}


@dataclass(frozen=True)
class Field:
    """One element of a complex type: its XSD type name and whether it repeats."""

    name: str
    type: str
    repeated: bool = False

    @property
    def is_complex(self) -> bool:
        """True for a nested complex type (not a simple type, an enum or a value type)."""
        return self.type in TYPES


def _parse(spec: str) -> dict[str, Field]:
    fields: dict[str, Field] = {}
    for token in spec.split():
        name, _, type_name = token.partition(":")
        repeated = type_name.endswith("*")
        fields[name] = Field(name, type_name.rstrip("*"), repeated)
    return fields


TYPES: dict[str, dict[str, Field]] = {name: _parse(spec) for name, spec in _SPECS.items()}

# The entities the API serves at /v3/company/{realm}/{entity}; lists vs transactions matters for
# deletes (lists are only made inactive) and the default Active filter in queries.
ENTITIES = ("Customer", "Invoice", "CreditMemo", "Payment", "Term", "CompanyInfo")
LIST_ENTITIES = frozenset({"Customer", "Term"})
TRANSACTIONS = frozenset({"Invoice", "CreditMemo", "Payment"})
WRITABLE = frozenset({"Customer", "Invoice", "CreditMemo", "Payment"})

# Read-only fields QuickBooks computes and ignores on input (python-quickbooks sends some of them).
READ_ONLY: dict[str, frozenset[str]] = {
    "Customer": frozenset({"Balance", "BalanceWithJobs", "FullyQualifiedName", "Level", "MetaData"}),
    "Invoice": frozenset(
        {"Balance", "HomeBalance", "TotalAmt", "HomeTotalAmt", "MetaData", "InvoiceLink", "LinkedTxn"}
    ),
    "CreditMemo": frozenset(
        {"Balance", "HomeBalance", "TotalAmt", "HomeTotalAmt", "RemainingCredit", "MetaData"}
    ),
    "Payment": frozenset({"UnappliedAmt", "MetaData", "LinkedTxn"}),
}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_JAVA_TYPES = {
    "decimal": "java.math.BigDecimal",
    "int": "java.lang.Integer",
    "positiveInteger": "java.math.BigInteger",
    "boolean": "java.lang.Boolean",
    "date": "java.util.Date",
    "dateTime": "java.util.Date",
}


def _unsupported(element: str, detail: str) -> QboFault:
    return QboFault(
        "2010",
        "Request has invalid or unsupported property",
        f"Property Name:{detail} specified is unsupported or invalid",
        element=element,
    )


def _unrecognized(type_name: str, key: str) -> QboFault:
    return _unsupported(
        key,
        f'Unrecognized field "{key}" (class com.intuit.schema.finance.v3.{type_name}), '
        "not marked as ignorable",
    )


def _wrong_type(path: str, type_name: str, value: Any) -> QboFault:
    java = _JAVA_TYPES.get(type_name, type_name)
    return _unsupported(
        path, f"Can not deserialize value of type {java} from {value!r}: not a valid representation"
    )


def _check_simple(path: str, type_name: str, value: Any) -> None:
    """Accept what Intuit's JSON reader coerces; refuse the rest with a 2010 fault."""
    if value is None or value == "":
        return  # Intuit's reader treats "" like an absent value; python-quickbooks sends "" for unset fields.
    if isinstance(value, dict | list):
        raise _wrong_type(path, type_name, value)
    if type_name in ENUMS:
        if value not in ENUMS[type_name]:
            raise QboFault("2170", "Invalid Enumeration", f"Invalid Enumeration : {value}", element=path)
        return
    if type_name in ("string", "id", "anyURI"):
        return  # numbers and booleans coerce to text
    if type_name == "boolean":
        if isinstance(value, bool) or value in ("true", "false"):
            return
        raise _wrong_type(path, type_name, value)
    if type_name in ("decimal", "int", "positiveInteger"):
        if isinstance(value, bool):
            raise _wrong_type(path, type_name, value)
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise _wrong_type(path, type_name, value) from None
        if not number.is_finite():
            raise _wrong_type(path, type_name, value)
        if type_name != "decimal" and number != number.to_integral_value():
            raise _wrong_type(path, type_name, value)
        if type_name == "positiveInteger" and number < 1:
            raise _wrong_type(path, type_name, value)
        return
    if type_name == "date":
        if isinstance(value, str) and _DATE.match(value):
            try:
                date.fromisoformat(value)
                return
            except ValueError:
                pass
        raise _wrong_type(path, type_name, value)
    if type_name == "dateTime":
        if isinstance(value, str) and _DATETIME.match(value):
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
                return
            except ValueError:
                pass
        raise _wrong_type(path, type_name, value)
    raise AssertionError(f"unhandled simple type {type_name}")  # the table only uses the types above


def _check_value_type(path: str, type_name: str, value: Any) -> None:
    if value is None or value == "":
        return
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        raise _wrong_type(path, type_name, value)  # Intuit's reader wants {"value": ...} for a reference
    if not isinstance(value, dict):
        raise _wrong_type(path, type_name, value)
    allowed = {"value", *VALUE_TYPES[type_name]}
    for key, item in value.items():
        if key not in allowed:
            raise _unrecognized(type_name, key)
        if isinstance(item, dict | list):
            raise _wrong_type(f"{path}.{key}", "string", item)


def validate(type_name: str, body: Any, path: str = "", *, entity: bool = False) -> None:
    """Check a JSON body against the embedded table the way QuickBooks' JSON reader does.

    Args:
        type_name: the complex type the body should be (``"Invoice"``, ``"Line"`` …).
        body: the decoded JSON value.
        path: dotted path of the body inside the request, for the fault's ``element``.
        entity: the body is a top-level entity, so ``domain``/``sparse``/``status`` are allowed.

    Raises:
        QboFault: code 2010 for unknown elements or values of the wrong type, 2170 for a bad enum value.
    """
    if not isinstance(body, dict):
        raise _wrong_type(path or type_name, type_name, body)
    fields = TYPES[type_name]
    for key, value in body.items():
        where = f"{path}.{key}" if path else key
        if entity and key in ENTITY_ATTRIBUTES:
            _check_simple(where, ENTITY_ATTRIBUTES[key], value)
            continue
        field = fields.get(key)
        if field is None:
            raise _unrecognized(type_name, key)
        if field.repeated:
            if value is None:
                continue
            if not isinstance(value, list):
                raise _wrong_type(where, f"java.util.List<{field.type}>", value)
            for index, item in enumerate(value):
                _check_field(field, item, f"{where}[{index}]")
        else:
            _check_field(field, value, where)


def _check_field(field: Field, value: Any, where: str) -> None:
    if field.type == "IntuitAnyType":
        if value is not None and not isinstance(value, dict):
            raise _wrong_type(where, field.type, value)
    elif field.type in VALUE_TYPES:
        _check_value_type(where, field.type, value)
    elif field.is_complex:
        if value is None or value == "":
            return
        validate(field.type, value, where)
    else:
        _check_simple(where, field.type, value)


def fields_of(type_name: str) -> Mapping[str, Field]:
    """The fields of one type in schema order."""
    return TYPES[type_name]
