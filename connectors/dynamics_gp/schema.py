"""Every GP table, column, eConnect procedure and parameter the connector uses, declared once.

The connector builds its statements only from these lists; the fidelity tests check each against
the vendor's own table and procedure definitions (``specs/dynamics-gp``), so nothing here is a
guess. GP's document types (``RMDTYPAL``) and what they are to arbridge are here too.
"""

from __future__ import annotations

from mapping.models import Stream, TargetType

__all__ = [
    "APPLY_COLUMNS",
    "APPLY_TABLES",
    "CUSTOMER_COLUMNS",
    "DOCUMENT_COLUMNS",
    "DOCUMENT_TABLES",
    "DOC_TYPES",
    "KEYS",
    "PROCEDURES",
    "STATUS_FIELDS",
    "TYPE_NAMES",
]

# RMDTYPAL: 1 sales/invoice, 3 debit memo, 4 finance charge, 5 service/repair, 6 warranty,
# 7 credit memo, 8 return, 9 payment (0 balance carried forward and 2 scheduled payments are not read).
DOC_TYPES: dict[Stream, tuple[int, ...]] = {
    Stream.INVOICES: (1, 3, 4, 5, 6),
    Stream.CREDIT_MEMOS: (7, 8),
    Stream.PAYMENTS: (9,),
}
TYPE_NAMES = {
    1: "invoice",
    3: "debit memo",
    4: "finance charge",
    5: "service/repair",
    6: "warranty",
    7: "credit memo",
    8: "return",
    9: "payment",
}
TARGET_OF_TYPE = {
    **{t: TargetType.INVOICE for t in DOC_TYPES[Stream.INVOICES]},
    **{t: TargetType.CREDIT_MEMO for t in DOC_TYPES[Stream.CREDIT_MEMOS]},
    9: TargetType.PAYMENT,
}

# Customer master (RM00101): one row per customer.
CUSTOMER_TABLE = "RM00101"
# The customer's fields an admin may hold the collection status in (taUpdateCreateCustomerRcd
# parameters of the same name write them; RM00101 columns of the same name read them).
STATUS_FIELDS = ("USERDEF1", "USERDEF2", "COMMENT1", "COMMENT2")
CUSTOMER_COLUMNS = (
    "CUSTNMBR",
    "CUSTNAME",
    "STMTNAME",
    "CPRCSTNM",
    "PHONE1",
    # The customer's primary address (ADRSCODE's), where dunning letters go.
    "ADDRESS1",
    "ADDRESS2",
    "ADDRESS3",
    "CITY",
    "STATE",
    "ZIP",
    "COUNTRY",
    "PYMTRMID",
    "CURNCYID",
    "CRLMTTYP",
    "CRLMTAMT",
    "INACTIVE",
    "HOLD",
    *STATUS_FIELDS,
    "DEX_ROW_TS",
)

# Open (RM20101) and history (RM30101) documents: the same columns, one row per document.
DOCUMENT_TABLES = ("RM20101", "RM30101")
DOCUMENT_COLUMNS = (
    "CUSTNMBR",
    "RMDTYPAL",
    "DOCNUMBR",
    "DOCDATE",
    "DUEDATE",
    "ORTRXAMT",
    "CURTRXAM",
    "CURNCYID",
    "TRXDSCRN",
    "CHEKNMBR",
    "CSHRCTYP",
    "VOIDSTTS",
    "DEX_ROW_TS",
)

# Open (RM20201) and history (RM30201) applications: no DEX_ROW_TS; read with their apply-from document.
APPLY_TABLES = ("RM20201", "RM30201")
APPLY_COLUMNS = (
    "APFRDCTY",
    "APFRDCNM",
    "APTODCTY",
    "APTODCNM",
    "APPTOAMT",
    "DISTKNAM",
    "WROFAMNT",
    "DATE1",
)

# The primary keys (the vendor's PK<table> constraints) order every keyset read.
KEYS: dict[str, tuple[str, ...]] = {
    "RM00101": ("CUSTNMBR",),
    "RM20101": ("CUSTNMBR", "RMDTYPAL", "DOCNUMBR"),
    "RM30101": ("CUSTNMBR", "RMDTYPAL", "DOCNUMBR"),
    "RM20201": ("APFRDCTY", "APFRDCNM", "APTODCTY", "APTODCNM"),
    "RM30201": ("APFRDCTY", "APFRDCNM", "APTODCTY", "APTODCNM"),
}

# eConnect procedures and the parameters the connector passes (name → SQL type, as the vendor
# declares them), plus the OUTPUT pair every one of them has.
OUTPUTS = (("@O_iErrorState", "int"), ("@oErrString", "varchar(255)"))
PROCEDURES: dict[str, dict[str, str]] = {
    "taRMCashReceiptInsert": {
        "@I_vCUSTNMBR": "char(15)",
        "@I_vDOCNUMBR": "char(20)",
        "@I_vDOCDATE": "datetime",
        "@I_vORTRXAMT": "numeric(19,5)",
        "@I_vGLPOSTDT": "datetime",
        "@I_vBACHNUMB": "char(15)",
        "@I_vCSHRCTYP": "smallint",
        "@I_vCHEKBKID": "char(15)",
        "@I_vCHEKNMBR": "char(20)",
        "@I_vTRXDSCRN": "char(30)",
        "@I_vCURNCYID": "char(15)",
        "@I_vUSRDEFND4": "varchar(8000)",
    },
    "taRMApply": {
        "@I_vAPTODCNM": "char(21)",
        "@I_vAPFRDCNM": "char(21)",
        "@I_vAPPTOAMT": "numeric(19,5)",
        "@I_vAPFRDCTY": "integer",
        "@I_vAPTODCTY": "integer",
        "@I_vDISTKNAM": "numeric(19,5)",
        "@I_vWROFAMNT": "numeric(19,5)",
        "@I_vAPPLYDATE": "datetime",
        "@I_vGLPOSTDT": "datetime",
        "@I_vUSRDEFND4": "varchar(8000)",
    },
    "taUpdateCreateCustomerRcd": {
        "@I_vCUSTNMBR": "char(15)",
        "@I_vUSERDEF1": "char(20)",
        "@I_vUSERDEF2": "char(20)",
        "@I_vCOMMENT1": "char(30)",
        "@I_vCOMMENT2": "char(30)",
        "@I_vUpdateIfExists": "tinyint",
        "@I_vUSRDEFND4": "varchar(8000)",
    },
}


def text_length(sql_type: str) -> int | None:
    """The length of a ``char(n)``/``varchar(n)`` type, else None."""
    if sql_type.startswith(("char(", "varchar(")):
        return int(sql_type.split("(")[1].rstrip(")"))
    return None
