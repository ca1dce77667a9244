"""Rebuild the sandbox's WSDL/XSD subset from a copy of Oracle's SuiteTalk files.

The sandbox ships only the part of SuiteTalk that arbridge speaks: the operations, headers, records
and fields listed in ``SUBSET`` below. Each kept type keeps Oracle's namespace, name, base type and
the order of its kept elements, so a document valid against the subset is valid against Oracle's
schema (``tests/sandboxes/netsuite/test_schema_subset.py`` proves it). Oracle's files are read from
outside the repository and never copied in whole; rerun this when moving to a new WSDL version::

    python -m sandboxes.netsuite.subset ../shared/specs/netsuite/2023_2
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

from lxml import etree

XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
OUT = Path(__file__).resolve().parent / "wsdl"

ALL = None
# Status detail codes the sandbox answers with (the full list has about 1,400).
STATUS_CODES = [
    "INSUFFICIENT_PERMISSION",
    "INVALID_CSTM_FIELD_REF",
    "INVALID_FLD_VALUE",
    "INVALID_KEY_OR_REF",
    "INVALID_PAGE_INDEX",
    "INVALID_RCRD_TYPE",
    "INVALID_REF_KEY",
    "INVALID_SRCH",
    "INVALID_TRANS_AMT",
    "DUP_RCRD",
    "RCRD_DSNT_EXIST",
    "UNEXPECTED_ERROR",
    "USER_ERROR",
]
RECORD_TYPES = ["creditMemo", "customer", "customerPayment", "invoice"]

# file -> component ("Type", "element:name") -> kept child element names (ALL keeps every one).
SUBSET: dict[str, dict[str, list[str] | None]] = {
    "platform.core.xsd": {
        "TokenPassport": ALL,
        "TokenPassportSignature": ALL,
        "RecordRef": ALL,
        "Record": ALL,
        "element:record": ALL,
        "NullField": ALL,
        "Status": ALL,
        "element:status": ALL,
        "StatusDetail": ALL,
        "SearchResult": [
            "status",
            "totalRecords",
            "pageSize",
            "totalPages",
            "pageIndex",
            "searchId",
            "recordList",
        ],
        "element:searchResult": ALL,
        "RecordList": ALL,
        "element:recordList": ALL,
        "BaseRef": ALL,
        "element:baseRef": ALL,
        "CustomFieldList": ALL,
        "CustomFieldRef": ALL,
        "StringCustomFieldRef": ALL,
        "LongCustomFieldRef": ALL,
        "DoubleCustomFieldRef": ALL,
        "BooleanCustomFieldRef": ALL,
        "DateCustomFieldRef": ALL,
        "SearchRecord": ALL,
        "SearchRecordBasic": ALL,
        "SearchDateField": ALL,
        "SearchEnumMultiSelectField": ALL,
        "SearchMultiSelectField": ALL,
        "SearchBooleanField": ALL,
        "GetDeletedFilter": ["deletedDate", "type"],
        "DeletedRecord": ALL,
        "DeletedRecordList": ALL,
        "element:deletedRecordList": ALL,
        "GetDeletedResult": ALL,
        "element:getDeletedResult": ALL,
    },
    "platform.coreTypes.xsd": {
        "RecordType": RECORD_TYPES,
        "SearchDateFieldOperator": ALL,
        "SearchDate": ALL,
        "SearchEnumMultiSelectFieldOperator": ALL,
        "SearchMultiSelectFieldOperator": ALL,
    },
    "platform.faultTypes.xsd": {
        "StatusDetailType": ALL,
        "StatusDetailCodeType": STATUS_CODES,
        "FaultCodeType": ALL,
    },
    "platform.faults.xsd": {
        "SoapFault": ALL,
        "InsufficientPermissionFault": ALL,
        "element:insufficientPermissionFault": ALL,
        "InvalidCredentialsFault": ALL,
        "element:invalidCredentialsFault": ALL,
        "InvalidSessionFault": ALL,
        "element:invalidSessionFault": ALL,
        "ExceededConcurrentRequestLimitFault": ALL,
        "element:exceededConcurrentRequestLimitFault": ALL,
        "ExceededRequestLimitFault": ALL,
        "element:exceededRequestLimitFault": ALL,
        "ExceededUsageLimitFault": ALL,
        "element:exceededUsageLimitFault": ALL,
        "ExceededRecordCountFault": ALL,
        "element:exceededRecordCountFault": ALL,
        "ExceededRequestSizeFault": ALL,
        "element:exceededRequestSizeFault": ALL,
        "UnexpectedErrorFault": ALL,
        "element:unexpectedErrorFault": ALL,
    },
    "platform.messages.xsd": {
        "ApplicationInfo": ALL,
        "element:applicationInfo": ALL,
        "PartnerInfo": ALL,
        "element:partnerInfo": ALL,
        "DocumentInfo": ALL,
        "element:documentInfo": ALL,
        "Preferences": ALL,
        "element:preferences": ALL,
        "SearchPreferences": ALL,
        "element:searchPreferences": ALL,
        "element:tokenPassport": ALL,
        "WriteResponse": ALL,
        "element:writeResponse": ALL,
        "ReadResponse": ALL,
        "element:readResponse": ALL,
        "WriteResponseList": ALL,
        "element:writeResponseList": ALL,
        "ReadResponseList": ALL,
        "element:readResponseList": ALL,
        "AddResponse": ALL,
        "element:addResponse": ALL,
        "UpdateResponse": ALL,
        "element:updateResponse": ALL,
        "UpdateListResponse": ALL,
        "element:updateListResponse": ALL,
        "UpsertResponse": ALL,
        "element:upsertResponse": ALL,
        "UpsertListResponse": ALL,
        "element:upsertListResponse": ALL,
        "SearchResponse": ALL,
        "element:searchResponse": ALL,
        "SearchMoreWithIdResponse": ALL,
        "element:searchMoreWithIdResponse": ALL,
        "GetResponse": ALL,
        "element:getResponse": ALL,
        "GetListResponse": ALL,
        "element:getListResponse": ALL,
        "GetDeletedResponse": ALL,
        "element:getDeletedResponse": ALL,
        "AddRequest": ALL,
        "element:add": ALL,
        "SearchRequest": ALL,
        "element:search": ALL,
        "SearchMoreWithIdRequest": ALL,
        "element:searchMoreWithId": ALL,
        "UpdateRequest": ALL,
        "element:update": ALL,
        "UpsertRequest": ALL,
        "element:upsert": ALL,
        "UpdateListRequest": ALL,
        "element:updateList": ALL,
        "UpsertListRequest": ALL,
        "element:upsertList": ALL,
        "GetRequest": ALL,
        "element:get": ALL,
        "GetListRequest": ALL,
        "element:getList": ALL,
        "GetDeletedRequest": ALL,
        "element:getDeleted": ALL,
    },
    "platform.common.xsd": {
        "CustomerSearchBasic": ["externalId", "internalId", "isInactive", "lastModifiedDate"],
        "TransactionSearchBasic": ["externalId", "internalId", "lastModifiedDate", "type"],
    },
    "lists.relationships.xsd": {
        "Customer": [
            "entityId",
            "isPerson",
            "firstName",
            "lastName",
            "companyName",
            "parent",
            "phone",
            "email",
            "isInactive",
            "comments",
            "dateCreated",
            "subsidiary",
            "terms",
            "creditLimit",
            "balance",
            "overdueBalance",
            "daysOverdue",
            "currency",
            "lastModifiedDate",
            "customFieldList",
        ],
    },
    "transactions.sales.xsd": {
        "Invoice": [
            "createdDate",
            "lastModifiedDate",
            "entity",
            "tranDate",
            "tranId",
            "terms",
            "subsidiary",
            "currency",
            "dueDate",
            "discountDate",
            "discountAmount",
            "otherRefNum",
            "memo",
            "amountPaid",
            "amountRemaining",
            "currencyName",
            "total",
            "status",
            "customFieldList",
        ],
    },
    "transactions.customers.xsd": {
        "CreditMemo": [
            "createdDate",
            "lastModifiedDate",
            "currency",
            "entity",
            "tranDate",
            "tranId",
            "createdFrom",
            "subsidiary",
            "otherRefNum",
            "memo",
            "amountPaid",
            "currencyName",
            "amountRemaining",
            "unapplied",
            "applied",
            "total",
            "status",
            "applyList",
            "customFieldList",
        ],
        "CreditMemoApplyList": ALL,
        "CreditMemoApply": ALL,
        "CustomerPayment": [
            "createdDate",
            "lastModifiedDate",
            "arAcct",
            "customer",
            "currency",
            "payment",
            "autoApply",
            "tranDate",
            "tranId",
            "paymentMethod",
            "memo",
            "checkNum",
            "currencyName",
            "exchangeRate",
            "subsidiary",
            "total",
            "applied",
            "unapplied",
            "status",
            "applyList",
            "creditList",
            "customFieldList",
        ],
        "CustomerPaymentApplyList": ALL,
        "CustomerPaymentApply": ALL,
        "CustomerPaymentCreditList": ALL,
        "CustomerPaymentCredit": ALL,
    },
}

OPERATIONS = [
    "add",
    "update",
    "upsert",
    "updateList",
    "upsertList",
    "get",
    "getList",
    "getDeleted",
    "search",
    "searchMoreWithId",
]
HEADER_PARTS = [
    "applicationInfo",
    "partnerInfo",
    "documentInfo",
    "preferences",
    "searchPreferences",
    "tokenPassport",
]
FAULTS = [
    "InsufficientPermissionFault",
    "InvalidSessionFault",
    "InvalidCredentialsFault",
    "ExceededConcurrentRequestLimitFault",
    "ExceededRequestLimitFault",
    "ExceededUsageLimitFault",
    "ExceededRecordCountFault",
    "ExceededRequestSizeFault",
    "UnexpectedErrorFault",
]


def _q(tag: str, ns: str = XS) -> str:
    return f"{{{ns}}}{tag}"


def _strip(el: etree._Element) -> None:
    """Drop Oracle's annotations and comments: the subset documents itself in this module."""
    for node in list(el.iter(_q("annotation"), etree.Comment)):
        parent = node.getparent()
        if parent is not None:
            parent.remove(node)


def _keep_children(comp: etree._Element, keep: list[str]) -> None:
    for el in list(comp.iter(_q("element"))):
        name = el.get("name") or (el.get("ref") or "").split(":")[-1]
        if name not in keep:
            parent = el.getparent()
            assert parent is not None
            parent.remove(el)
    for enum in list(comp.iter(_q("enumeration"))):
        if enum.get("value") not in keep:
            parent = enum.getparent()
            assert parent is not None
            parent.remove(enum)


def build_xsd(src: Path, name: str, spec: dict[str, list[str] | None]) -> etree._Element:
    """One subset schema document from Oracle's file ``name``."""
    tree = etree.parse(str(src / "xsd" / name))
    root = tree.getroot()
    out = etree.Element(root.tag, nsmap=root.nsmap)
    for key, value in root.attrib.items():
        out.set(key, value)
    wanted = {k.split(":", 1)[1] if k.startswith("element:") else k: k.startswith("element:") for k in spec}
    for child in root:
        if not isinstance(child.tag, str):
            continue
        local = etree.QName(child).localname
        if local == "import":
            target = Path(child.get("schemaLocation", "")).name
            if target in SUBSET:
                imp = copy.deepcopy(child)
                imp.set("schemaLocation", target)
                out.append(imp)
            continue
        cname = child.get("name")
        if cname not in wanted or wanted[cname] != (local == "element"):
            continue
        comp = copy.deepcopy(child)
        _strip(comp)
        keep = spec["element:" + cname if local == "element" else cname]
        if keep is not None:
            _keep_children(comp, keep)
        out.append(comp)
    missing = set(wanted) - {c.get("name") for c in out}
    if missing:
        raise SystemExit(f"{name}: not found in Oracle's file: {sorted(missing)}")
    return out


def build_wsdl(src: Path) -> etree._Element:
    """The WSDL subset: the operations arbridge uses, their headers and faults, one service."""
    root = copy.deepcopy(etree.parse(str(src / "netsuite.wsdl")).getroot())
    _strip(root)
    schema = root.find(f"{_q('types', WSDL)}/{_q('schema')}")
    assert schema is not None
    for imp in list(schema):
        if Path(imp.get("schemaLocation", "")).name not in SUBSET:
            schema.remove(imp)
        else:
            imp.set("schemaLocation", "xsd/" + Path(imp.get("schemaLocation", "")).name)
    keep_msgs = {"headers"} | set(FAULTS)
    for op in OPERATIONS:
        keep_msgs |= {op + "Request", op + "Response"}
    for msg in root.findall(_q("message", WSDL)):
        if msg.get("name") not in keep_msgs:
            root.remove(msg)
        elif msg.get("name") == "headers":
            for part in list(msg):
                if part.get("name") not in HEADER_PARTS:
                    msg.remove(part)
    for container in [*root.findall(_q("portType", WSDL)), *root.findall(_q("binding", WSDL))]:
        for op in list(container.findall(_q("operation", WSDL))):
            if op.get("name") not in OPERATIONS:
                container.remove(op)
                continue
            for fault in list(op.findall(_q("fault", WSDL))):
                if fault.get("name") not in FAULTS:
                    op.remove(fault)
            for header in list(op.iter(_q("header", SOAP))):
                if header.get("part") not in HEADER_PARTS:
                    parent = header.getparent()
                    assert parent is not None
                    parent.remove(header)
    address = root.find(f".//{_q('address', SOAP)}")
    assert address is not None
    # Rewritten to the sandbox's own endpoint when served.
    address.set("location", "http://localhost/services/NetSuitePort_2023_2")
    return root


def _write(el: etree._Element, path: Path) -> None:
    etree.indent(el, space="  ")
    path.write_bytes(etree.tostring(el, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def main(argv: list[str] | None = None) -> int:
    """Write ``wsdl/netsuite.wsdl`` and ``wsdl/xsd/*.xsd`` from Oracle's files in ``argv[0]``."""
    args = sys.argv[1:] if argv is None else argv
    src = Path(args[0] if args else "../shared/specs/netsuite/2023_2")
    (OUT / "xsd").mkdir(parents=True, exist_ok=True)
    for name, spec in SUBSET.items():
        _write(build_xsd(src, name, spec), OUT / "xsd" / name)
    _write(build_wsdl(src), OUT / "netsuite.wsdl")
    version = re.search(r"(\d{4}_\d)", src.name)
    print(f"wrote the subset of SuiteTalk {version.group(1) if version else src.name} to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
