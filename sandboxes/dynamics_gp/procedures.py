"""Stand-ins for GP's eConnect procedures, with the vendor's parameter lists, doing what eConnect does.

Each procedure is generated from the vendor file: every parameter with its name, its type and its
default, the OUTPUT pair ``@O_iErrorState``/``@oErrString`` as INOUT parameters (PostgreSQL's
``CALL`` answers them as one row, as the T-SQL batch's ``SELECT`` does). T-SQL silently cuts a
``char(n)`` argument to ``n`` characters and reads ``''`` as the date 1900-01-01; the stand-ins do
the same.

What they do, as eConnect does:

- ``taRMCashReceiptInsert`` records a cash receipt for a customer (refused: missing required
  values, an amount that is not positive, an unknown customer, a document number already used).
  eConnect puts the receipt into the batch ``BACHNUMB`` of the work table (RM10201) until a user
  posts the batch; that table is not in the vendor file, so the stand-in records it as posted,
  in RM20101, which is where it lives once the batch is posted.
- ``taRMApply`` applies a receipt, credit memo or return to an invoice, debit memo, finance charge,
  service/repair or warranty: one RM20201 row per pair (a second apply of the pair adds to it), and
  the remaining amount (``CURTRXAM``) of both documents lowered; discount taken and write-off lower
  the apply-to document too. Refused: unknown documents, different customers or currencies,
  amounts that are not positive, and over-application of either document.
- ``taUpdateCreateCustomerRcd`` creates a customer, or updates one when ``@I_vUpdateIfExists`` is 1:
  a parameter left NULL keeps the customer's value (how eConnect updates master records). The
  ``@I_vUSRDEFND1``–``5`` parameters are not stored by any of them: eConnect hands them to the
  ``…Pre``/``…Post`` procedures for a site's own logic.

Refusals come back as eConnect's do: ``@O_iErrorState`` is the (first) error number and
``@oErrString`` lists every number, space-separated; nothing is changed. The numbers are the
stand-in's own (``ERRORS``): GP's real numbers live in ``DYNAMICS..taErrorCode``, which the vendor
files do not hold.

Every call is also written, with the outbox key the caller passed in ``@I_vUSRDEFND4``, into
``arbridge_sandbox_calls`` — the sandbox's ledger, not a GP table — in the caller's transaction, so
a call rolled back leaves no line.
"""

from __future__ import annotations

from sandboxes.dynamics_gp.ddl import BLANK_DATE, blank_sql, pg_type, quote, type_category
from sandboxes.dynamics_gp.vendor import Parameter, Procedure, Table, VendorSchema, split_type

__all__ = ["ERRORS", "LEDGER", "customer_columns", "procedure_sql", "stand_in_parameters"]

LEDGER = "arbridge_sandbox_calls"
# A slow eConnect, for tests that must catch a call in flight (``GpSandbox.slow_econnect``).
DELAY = (
    "PERFORM pg_sleep(coalesce(nullif(current_setting('arbridge.econnect_delay', true), ''), '0')::float8);"
)
PG_MAX_ARGS = 100

ERRORS: dict[int, str] = {
    1001: "taRMCashReceiptInsert: the customer number (CUSTNMBR) is empty",
    1002: "taRMCashReceiptInsert: the document number (DOCNUMBR) is empty",
    1003: "taRMCashReceiptInsert: the document date or GL posting date is empty",
    1004: "taRMCashReceiptInsert: the batch number (BACHNUMB) is empty",
    1005: "taRMCashReceiptInsert: the amount (ORTRXAMT) must be greater than zero",
    1006: "taRMCashReceiptInsert: the cash receipt type (CSHRCTYP) must be 0, 1 or 2",
    1007: "taRMCashReceiptInsert: the customer does not exist in RM00101",
    1008: "taRMCashReceiptInsert: the document number already exists in RM20101 or RM30101",
    2001: "taRMApply: the apply-to or apply-from document number is empty",
    2002: "taRMApply: the apply-from document type (APFRDCTY) must be 7, 8 or 9",
    2003: "taRMApply: the apply-to document type (APTODCTY) must be 1, 3, 4, 5 or 6",
    2004: "taRMApply: the apply-from document does not exist in RM20101",
    2005: "taRMApply: the apply-to document does not exist in RM20101",
    2006: "taRMApply: the documents belong to different customers",
    2007: "taRMApply: the documents are in different currencies",
    2008: "taRMApply: the apply amount must be greater than zero; discount and write-off not negative",
    2009: "taRMApply: the apply amount is more than the apply-from document has remaining",
    2010: "taRMApply: apply amount, discount and write-off are more than the apply-to document has remaining",
    2011: "taRMApply: a voided document cannot be applied",
    3001: "taUpdateCreateCustomerRcd: the customer number (CUSTNMBR) is empty",
    3002: "taUpdateCreateCustomerRcd: the customer exists and UpdateIfExists is 0",
    3003: "taUpdateCreateCustomerRcd: a new customer needs a name (CUSTNAME)",
}

# Parameters of taUpdateCreateCustomerRcd whose RM00101 column has another name.
_CUSTOMER_COLUMN = {"PHNUMBR1": "PHONE1", "PHNUMBR2": "PHONE2", "PHNUMBR3": "PHONE3", "ZIPCODE": "ZIP"}


def _p(name: str) -> str:
    """A parameter inside the body (``@I_vCUSTNMBR`` → ``"I_vCUSTNMBR"``)."""
    return quote(name.lstrip("@"))


def _default(parameter: Parameter) -> str:
    if parameter.output or parameter.default is None or parameter.default.lower() == "null":
        return "NULL"
    text = parameter.default
    if text == "''":
        return f"TIMESTAMP '{BLANK_DATE}'" if type_category(parameter.sql_type) == "date" else "''"
    return text


def stand_in_parameters(procedure: Procedure) -> tuple[Parameter, ...]:
    """The vendor's parameters the stand-in declares: all of them, but for PostgreSQL's limit.

    PostgreSQL takes at most 100 arguments; taUpdateCreateCustomerRcd has 105. Its eleven GL
    account-number strings (``@I_v…ACTNUMST``) resolve against GL00105, which is not among the
    vendor's tables, so the stand-in could not store them anyway: they are left out (a call passing
    one is refused by PostgreSQL as naming an unknown parameter).
    """
    kept = tuple(
        p
        for p in procedure.parameters
        if len(procedure.parameters) <= PG_MAX_ARGS or not p.bare.endswith("ACTNUMST")
    )
    if len(kept) > PG_MAX_ARGS:
        raise ValueError(f"{procedure.name} has {len(kept)} parameters; PostgreSQL takes {PG_MAX_ARGS}")
    return kept


def _signature(procedure: Procedure) -> str:
    parts = []
    for parameter in stand_in_parameters(procedure):
        kind = "INOUT" if parameter.output else "IN"
        base, _ = split_type(parameter.sql_type)
        pg = "text" if base in ("char", "varchar") else pg_type(parameter.sql_type).split("(")[0]
        if base == "datetime":
            pg = "timestamp"
        default = "" if parameter.required else f" DEFAULT {_default(parameter)}"
        parts.append(f"{kind} {_p(parameter.name)} {pg}{default}")
    return ",\n  ".join(parts)


def _prelude(procedure: Procedure) -> str:
    """T-SQL cuts char(n)/varchar(n) arguments to n characters without a word; so do we."""
    lines = []
    for parameter in stand_in_parameters(procedure):
        base, args = split_type(parameter.sql_type)
        if parameter.output or base not in ("char", "varchar") or not args:
            continue
        p = _p(parameter.name)
        trimmed = f"rtrim(left({p}, {args[0]}))" if base == "char" else f"left({p}, {args[0]})"
        lines.append(f"{p} := {trimmed};")
    lines += ['"O_iErrorState" := 0;', "\"oErrString\" := '';"]
    return "\n  ".join(lines)


def _fail(number: int, condition: str) -> str:
    return (
        f"IF {condition} THEN\n"
        f'    IF "O_iErrorState" = 0 THEN "O_iErrorState" := {number}; END IF;\n'
        f'    "oErrString" := ltrim("oErrString" || \' {number}\');\n  END IF;'
    )


def _insert(schema: str, table: Table, values: dict[str, str]) -> str:
    columns = [c for c in table.columns if not c.identity and c.name != "DEX_ROW_TS"]
    unknown = set(values) - {c.name for c in columns}
    if unknown:
        raise KeyError(f"{table.name} has no columns {sorted(unknown)}")
    names = ", ".join(quote(c.name) for c in columns)
    exprs = ", ".join(values.get(c.name, blank_sql(c)) for c in columns)
    return f"INSERT INTO {quote(schema)}.{quote(table.name)} ({names}) VALUES ({exprs});"


def _ledger(schema: str, procedure: str, document: str) -> str:
    return (
        f"INSERT INTO {quote(schema)}.{LEDGER} (proc, outbox_key, document) "
        f"VALUES ('{procedure}', nullif(\"I_vUSRDEFND4\", ''), {document});"
    )


def _wrap(schema: str, procedure: Procedure, declare: str, body: str) -> str:
    return (
        f"CREATE PROCEDURE {quote(schema)}.{quote(procedure.name)}(\n  {_signature(procedure)}\n)\n"
        f"LANGUAGE plpgsql SECURITY DEFINER SET search_path = {quote(schema)}, pg_catalog AS $proc$\n"
        f"DECLARE\n  {declare}\nBEGIN\n  {DELAY}\n  {_prelude(procedure)}\n  {body}\nEND\n$proc$"
    )


def _cash_receipt(schema: str, vendor: VendorSchema) -> str:
    procedure = vendor.procedures["taRMCashReceiptInsert"]
    rm20101 = vendor.tables["RM20101"]
    amount = '"I_vORTRXAMT"'
    values = {
        "CUSTNMBR": '"I_vCUSTNMBR"',
        "CPRCSTNM": 'cust."CPRCSTNM"',
        "DOCNUMBR": '"I_vDOCNUMBR"',
        "CHEKNMBR": "coalesce(\"I_vCHEKNMBR\", '')",
        "BACHNUMB": '"I_vBACHNUMB"',
        "BCHSOURC": "'RM_Cash'",
        "RMDTYPAL": "9",
        "CSHRCTYP": '"I_vCSHRCTYP"',
        "CBKIDCHK": "CASE WHEN \"I_vCSHRCTYP\" = 0 THEN coalesce(\"I_vCHEKBKID\", '') ELSE '' END",
        "CBKIDCSH": "CASE WHEN \"I_vCSHRCTYP\" = 1 THEN coalesce(\"I_vCHEKBKID\", '') ELSE '' END",
        "CBKIDCRD": "CASE WHEN \"I_vCSHRCTYP\" = 2 THEN coalesce(\"I_vCRCARDID\", '') ELSE '' END",
        "DUEDATE": '"I_vDOCDATE"',
        "DOCDATE": '"I_vDOCDATE"',
        "POSTDATE": "CAST(now() AS date)",
        "PSTUSRID": "coalesce(nullif(\"I_vLSTUSRED\", ''), 'sa')",
        "GLPOSTDT": '"I_vGLPOSTDT"',
        "LSTEDTDT": "CAST(now() AS date)",
        "LSTUSRED": "coalesce(nullif(\"I_vLSTUSRED\", ''), 'sa')",
        "ORTRXAMT": amount,
        "CURTRXAM": amount,
        "CASHAMNT": amount,
        "TRXDSCRN": "coalesce(\"I_vTRXDSCRN\", '')",
        "CURNCYID": 'coalesce(nullif("I_vCURNCYID", \'\'), cust."CURNCYID")',
        "ADRSCODE": 'cust."ADRSCODE"',
    }
    t = f"{quote(schema)}.{quote('RM20101')}"
    h = f"{quote(schema)}.{quote('RM30101')}"
    body = "\n  ".join(
        [
            _fail(1001, "coalesce(\"I_vCUSTNMBR\", '') = ''"),
            _fail(1002, "coalesce(\"I_vDOCNUMBR\", '') = ''"),
            _fail(1003, '"I_vDOCDATE" IS NULL OR "I_vGLPOSTDT" IS NULL'),
            _fail(1004, "coalesce(\"I_vBACHNUMB\", '') = ''"),
            _fail(1005, 'coalesce("I_vORTRXAMT", 0) <= 0'),
            _fail(1006, 'coalesce("I_vCSHRCTYP", -1) NOT IN (0, 1, 2)'),
            f'SELECT * INTO cust FROM {quote(schema)}.{quote("RM00101")} WHERE "CUSTNMBR" = "I_vCUSTNMBR";',
            _fail(1007, "NOT FOUND AND coalesce(\"I_vCUSTNMBR\", '') <> ''"),
            _fail(
                1008,
                f'EXISTS (SELECT 1 FROM {t} WHERE "RMDTYPAL" = 9 AND "DOCNUMBR" = "I_vDOCNUMBR") '
                f'OR EXISTS (SELECT 1 FROM {h} WHERE "RMDTYPAL" = 9 AND "DOCNUMBR" = "I_vDOCNUMBR")',
            ),
            'IF "O_iErrorState" <> 0 THEN RETURN; END IF;',
            _insert(schema, rm20101, values),
            _ledger(schema, procedure.name, '"I_vDOCNUMBR"'),
        ]
    )
    return _wrap(schema, procedure, f"cust {quote(schema)}.{quote('RM00101')}%ROWTYPE;", body)


def _apply(schema: str, vendor: VendorSchema) -> str:
    procedure = vendor.procedures["taRMApply"]
    rm20201 = vendor.tables["RM20201"]
    t = f"{quote(schema)}.{quote('RM20101')}"
    a = f"{quote(schema)}.{quote('RM20201')}"
    values = {
        "CUSTNMBR": 'tod."CUSTNMBR"',
        "CPRCSTNM": 'tod."CPRCSTNM"',
        "DATE1": "adate",
        "TIME1": "CAST(now() AS timestamp(3))",
        "GLPOSTDT": "gdate",
        "POSTED": "1",
        "APTODCNM": 'tod."DOCNUMBR"',
        "APTODCTY": 'tod."RMDTYPAL"',
        "APTODCDT": 'tod."DOCDATE"',
        "ApplyToGLPostDate": 'tod."GLPOSTDT"',
        "CURNCYID": 'tod."CURNCYID"',
        "APPTOAMT": '"I_vAPPTOAMT"',
        "DISTKNAM": "disc",
        "WROFAMNT": "wrof",
        "ORAPTOAM": '"I_vAPPTOAMT"',
        "ORDISTKN": "disc",
        "ORWROFAM": "wrof",
        "APFRDCNM": 'frm."DOCNUMBR"',
        "APFRDCTY": 'frm."RMDTYPAL"',
        "APFRDCDT": 'frm."DOCDATE"',
        "ApplyFromGLPostDate": 'frm."GLPOSTDT"',
        "FROMCURR": 'frm."CURNCYID"',
        "APFRMAPLYAMT": '"I_vAPPTOAMT"',
        "ActualApplyToAmount": '"I_vAPPTOAMT"',
        "ActualDiscTakenAmount": "disc",
        "ActualWriteOffAmount": "wrof",
    }
    pair = (
        '"APFRDCTY" = frm."RMDTYPAL" AND "APFRDCNM" = frm."DOCNUMBR" '
        'AND "APTODCTY" = tod."RMDTYPAL" AND "APTODCNM" = tod."DOCNUMBR"'
    )
    body = "\n  ".join(
        [
            _fail(2001, "coalesce(\"I_vAPTODCNM\", '') = '' OR coalesce(\"I_vAPFRDCNM\", '') = ''"),
            _fail(2002, 'coalesce("I_vAPFRDCTY", 0) NOT IN (7, 8, 9)'),
            _fail(2003, 'coalesce("I_vAPTODCTY", 0) NOT IN (1, 3, 4, 5, 6)'),
            f'SELECT * INTO frm FROM {t} WHERE "RMDTYPAL" = "I_vAPFRDCTY" '
            'AND "DOCNUMBR" = "I_vAPFRDCNM" FOR UPDATE;',
            _fail(2004, "NOT FOUND AND coalesce(\"I_vAPFRDCNM\", '') <> ''"),
            f'SELECT * INTO tod FROM {t} WHERE "RMDTYPAL" = "I_vAPTODCTY" '
            'AND "DOCNUMBR" = "I_vAPTODCNM" FOR UPDATE;',
            _fail(2005, "NOT FOUND AND coalesce(\"I_vAPTODCNM\", '') <> ''"),
            'IF "O_iErrorState" <> 0 THEN RETURN; END IF;',
            'disc := coalesce("I_vDISTKNAM", 0); wrof := coalesce("I_vWROFAMNT", 0);',
            _fail(2011, 'frm."VOIDSTTS" <> 0 OR tod."VOIDSTTS" <> 0'),
            _fail(2006, 'frm."CUSTNMBR" <> tod."CUSTNMBR"'),
            _fail(2007, 'frm."CURNCYID" <> tod."CURNCYID"'),
            _fail(2008, 'coalesce("I_vAPPTOAMT", 0) <= 0 OR disc < 0 OR wrof < 0'),
            _fail(2009, '"I_vAPPTOAMT" > frm."CURTRXAM"'),
            _fail(2010, '"I_vAPPTOAMT" + disc + wrof > tod."CURTRXAM"'),
            'IF "O_iErrorState" <> 0 THEN RETURN; END IF;',
            f"adate := coalesce(nullif(\"I_vAPPLYDATE\", TIMESTAMP '{BLANK_DATE}'), CAST(now() AS date));",
            f"gdate := coalesce(nullif(\"I_vGLPOSTDT\", TIMESTAMP '{BLANK_DATE}'), adate);",
            f"IF EXISTS (SELECT 1 FROM {a} WHERE {pair}) THEN",
            f'  UPDATE {a} SET "APPTOAMT" = "APPTOAMT" + "I_vAPPTOAMT",'
            ' "ORAPTOAM" = "ORAPTOAM" + "I_vAPPTOAMT",'
            ' "APFRMAPLYAMT" = "APFRMAPLYAMT" + "I_vAPPTOAMT",'
            ' "ActualApplyToAmount" = "ActualApplyToAmount" + "I_vAPPTOAMT",'
            ' "DISTKNAM" = "DISTKNAM" + disc, "ORDISTKN" = "ORDISTKN" + disc,'
            ' "ActualDiscTakenAmount" = "ActualDiscTakenAmount" + disc,'
            ' "WROFAMNT" = "WROFAMNT" + wrof, "ORWROFAM" = "ORWROFAM" + wrof,'
            ' "ActualWriteOffAmount" = "ActualWriteOffAmount" + wrof,'
            f' "DATE1" = adate, "GLPOSTDT" = gdate WHERE {pair};',
            "ELSE",
            "  " + _insert(schema, rm20201, values),
            "END IF;",
            f'UPDATE {t} SET "CURTRXAM" = "CURTRXAM" - "I_vAPPTOAMT" '
            'WHERE "CUSTNMBR" = frm."CUSTNMBR" AND "RMDTYPAL" = frm."RMDTYPAL" '
            'AND "DOCNUMBR" = frm."DOCNUMBR";',
            f'UPDATE {t} SET "CURTRXAM" = "CURTRXAM" - ("I_vAPPTOAMT" + disc + wrof),'
            ' "DISTKNAM" = "DISTKNAM" + disc, "WROFAMNT" = "WROFAMNT" + wrof,'
            ' "DINVPDOF" = CASE WHEN "CURTRXAM" - ("I_vAPPTOAMT" + disc + wrof) = 0'
            ' THEN adate ELSE "DINVPDOF" END'
            ' WHERE "CUSTNMBR" = tod."CUSTNMBR" AND "RMDTYPAL" = tod."RMDTYPAL"'
            ' AND "DOCNUMBR" = tod."DOCNUMBR";',
            _ledger(schema, procedure.name, '"I_vAPFRDCNM" || \' > \' || "I_vAPTODCNM"'),
        ]
    )
    declare = (
        f"frm {quote(schema)}.{quote('RM20101')}%ROWTYPE;\n"
        f"  tod {quote(schema)}.{quote('RM20101')}%ROWTYPE;\n"
        "  disc numeric; wrof numeric; adate timestamp; gdate timestamp;"
    )
    return _wrap(schema, procedure, declare, body)


def customer_columns(vendor: VendorSchema) -> dict[str, str]:
    """Parameter → RM00101 column for what taUpdateCreateCustomerRcd stores on the customer row.

    A parameter is stored when RM00101 has a column of that name (or of its known other name) holding
    the same kind of value; the rest (addresses of RM00102, account strings, e-mail) are accepted
    and not stored by the stand-in.
    """
    table = vendor.tables["RM00101"]
    names = set(table.names)
    out = {}
    for parameter in stand_in_parameters(vendor.procedures["taUpdateCreateCustomerRcd"]):
        if parameter.output or not parameter.bare.startswith("I_v"):
            continue
        column = _CUSTOMER_COLUMN.get(parameter.field, parameter.field)
        if column in names and type_category(table.column(column).sql_type) == type_category(
            parameter.sql_type
        ):
            out[parameter.name] = column
    return out


def _customer(schema: str, vendor: VendorSchema) -> str:
    procedure = vendor.procedures["taUpdateCreateCustomerRcd"]
    table = vendor.tables["RM00101"]
    stored = customer_columns(vendor)
    r = f"{quote(schema)}.{quote('RM00101')}"
    sets = ", ".join(f"{quote(col)} = coalesce({_p(param)}, {quote(col)})" for param, col in stored.items())
    values = {col: f"coalesce({_p(param)}, {blank_sql(table.column(col))})" for param, col in stored.items()}
    values["CREATDDT"] = "CAST(now() AS date)"
    values["MODIFDT"] = "CAST(now() AS date)"
    body = "\n  ".join(
        [
            _fail(3001, "coalesce(\"I_vCUSTNMBR\", '') = ''"),
            'IF "O_iErrorState" <> 0 THEN RETURN; END IF;',
            f'IF EXISTS (SELECT 1 FROM {r} WHERE "CUSTNMBR" = "I_vCUSTNMBR") THEN',
            "  " + _fail(3002, 'coalesce("I_vUpdateIfExists", 1) = 0'),
            '  IF "O_iErrorState" <> 0 THEN RETURN; END IF;',
            f'  UPDATE {r} SET {sets}, "MODIFDT" = CAST(now() AS date) WHERE "CUSTNMBR" = "I_vCUSTNMBR";',
            "ELSE",
            "  " + _fail(3003, "coalesce(\"I_vCUSTNAME\", '') = ''"),
            '  IF "O_iErrorState" <> 0 THEN RETURN; END IF;',
            "  " + _insert(schema, table, values),
            "END IF;",
            _ledger(schema, procedure.name, '"I_vCUSTNMBR"'),
        ]
    )
    return _wrap(schema, procedure, "unused integer;", body)


def procedure_sql(schema: str, vendor: VendorSchema) -> list[str]:
    """The statements creating the sandbox's ledger and the three eConnect stand-ins in ``schema``."""
    return [
        f"CREATE TABLE {quote(schema)}.{LEDGER} (id bigserial PRIMARY KEY, proc text NOT NULL, "
        "outbox_key text, document text, "
        "called_at timestamp NOT NULL DEFAULT (clock_timestamp() AT TIME ZONE 'UTC'))",
        _cash_receipt(schema, vendor),
        _apply(schema, vendor),
        _customer(schema, vendor),
    ]
