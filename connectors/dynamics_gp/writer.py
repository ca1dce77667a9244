"""Writing back the way GP's own integrations do: eConnect procedures, one transaction per operation.

- A **payment application** to a customer becomes a cash receipt (``taRMCashReceiptInsert``) whose
  document number is derived from the outbox key, and its applications (``taRMApply``): credit
  memos netted in are applied to the invoices first, then the receipt. All of it is one
  transaction: a process killed between the receipt and its applications leaves nothing, and a
  receipt number found in GP means its applications are there too. That number is looked up
  before anything is sent, so a key is applied once.
- A payment application to an existing payment applies it (``taRMApply``), conditional on the
  payment's version.
- A **collection status** goes into the customer's field the admin chose (``USERDEF1`` by default)
  through ``taUpdateCreateCustomerRcd``; an invoice's status goes to its customer, conditional on
  the invoice's version. A field already showing the text is not written again.
- A **note** is refused (``NOTES_OFF`` says why): GP keeps a customer's note text in SY03900, which
  is not among the vendor files, so a note could neither keep the text already there nor be
  found again after a lost answer.

eConnect answers a refusal with an error number (``@O_iErrorState``) and the numbers of every
problem (``@oErrString``); the transaction is then rolled back and the operation's result is a
``BadRecordError`` carrying the numbers. The connector checks what it can first (documents open,
amounts within what remains), so the common refusals come with a sentence instead of a number.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyodbc

from connectors.base import (
    BadRecordError,
    ConflictError,
    ConnectorError,
    OutboundOp,
    PermanentError,
    WriteResult,
)
from connectors.dynamics_gp import schema as gp
from connectors.dynamics_gp.reader import doc_id, parse_doc_id, version_of
from connectors.dynamics_gp.settings import GpSettings
from connectors.odbc import Database
from connectors.odbc.dialect import Dialect
from mapping.models import (
    CollectionStatus,
    CollectionStatusUpdate,
    Note,
    PaymentApplication,
    Stream,
    TargetType,
)

__all__ = ["NOTES_OFF", "EConnectRefusal", "GpWriter", "receipt_number", "status_text"]

#: Why notes are not written to GP. eConnect's taUpdateCreateCustomerRcd takes a @I_vNOTETEXT, but the
#: text lands in SY03900 (by RM00101.NOTEINDX), whose layout is not among the vendor files: without
#: reading it back a note could neither keep the customer's earlier note text nor be found after a
#: lost answer, so a resend could write it twice.
NOTES_OFF = (
    "notes are not written to Dynamics GP: GP keeps a customer's note text in SY03900, which arbridge "
    "does not read, so a note could overwrite the customer's earlier note or land twice; the call "
    "stays in arbridge's call log"
)
RECEIPT_PREFIX = "AR"
CASH_RECEIPT_TYPES = {"check": 0, "cash": 1, "credit_card": 2}
STATUS_LABELS = {
    CollectionStatus.CURRENT: "CURRENT",
    CollectionStatus.REMINDED: "REMINDED",
    CollectionStatus.ESCALATED: "ESCALATED",
    CollectionStatus.PROMISED: "PROMISED",
    CollectionStatus.DISPUTED: "DISPUTED",
    CollectionStatus.ON_HOLD: "ON HOLD",
    CollectionStatus.COLLECTIONS_AGENCY: "AGENCY",
    CollectionStatus.PAID: "PAID",
}


def receipt_number(key: str) -> str:
    """The cash receipt's ``DOCNUMBR`` for outbox key ``key``: 20 characters, the most eConnect takes."""
    digest = base64.b32encode(hashlib.sha256(key.encode()).digest()).decode()
    return RECEIPT_PREFIX + digest[:18]


def status_text(op: CollectionStatusUpdate, width: int) -> str:
    """``ESCALATED L3 2026-12-01``: status, level, next action date, dropped from the end to fit."""
    parts = [STATUS_LABELS[op.collection_status]]
    if op.dunning_level is not None:
        parts.append(f"L{op.dunning_level}")
    if op.next_action_date is not None:
        parts.append(op.next_action_date.isoformat())
    while len(" ".join(parts)) > width and len(parts) > 1:
        parts.pop()
    return " ".join(parts)[:width]


class EConnectRefusal(BadRecordError):
    """An eConnect procedure refused the operation (``@O_iErrorState`` not 0)."""

    def __init__(self, procedure: str, state: int, numbers: str) -> None:
        listed = " ".join(numbers.split()) or str(state)
        super().__init__(
            f"eConnect {procedure} refused the operation with error {state} (all errors: {listed}); "
            "GP's descriptions of the numbers are in DYNAMICS..taErrorCode",
            erp_code=f"{procedure}:{state}",
        )
        self.procedure = procedure
        self.state = state
        self.numbers = listed


@dataclass
class _Due:
    row: dict[str, Any]
    amount: Decimal
    discount: Decimal
    writeoff: Decimal


def _at_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


class GpWriter:
    """Turns outbound operations into eConnect calls over the company database."""

    def __init__(self, db: Database, settings: GpSettings) -> None:
        self.db = db
        self.settings = settings
        self.schema = settings.schema_name

    @property
    def dialect(self) -> Dialect:
        return self.db.dialect

    # -- eConnect ----------------------------------------------------------------------------

    def econnect(self, cursor: pyodbc.Cursor, procedure: str, arguments: dict[str, Any], key: str) -> None:
        """Call one eConnect procedure inside the caller's transaction.

        Raises:
            BadRecordError: a value longer than the parameter takes (T-SQL would cut it silently).
            EConnectRefusal: the procedure answered an error state.
        """
        declared = gp.PROCEDURES[procedure]
        arguments = {**arguments, "@I_vUSRDEFND4": key}
        for name, value in arguments.items():
            if name not in declared:
                raise KeyError(f"{procedure} takes no {name} the connector declares")
            width = gp.text_length(declared[name])
            if width is not None and isinstance(value, str) and len(value) > width:
                raise BadRecordError(
                    f"{procedure} {name} takes {width} characters; {value!r} has {len(value)}"
                )
        names = list(arguments)
        sql = self.dialect.call(self.dialect.table(self.schema, procedure), names, gp.OUTPUTS)
        cursor.execute(sql, *[arguments[n] for n in names])
        while cursor.description is None and cursor.nextset():
            pass
        row = cursor.fetchone()
        if row is None:
            raise ConnectorError(f"eConnect {procedure} answered no error state")
        state, numbers = int(row[0] or 0), str(row[1] or "")
        if state != 0:
            raise EConnectRefusal(procedure, state, numbers)

    # -- look-ups ------------------------------------------------------------------------------

    def _rows(
        self, cursor: pyodbc.Cursor, table: str, columns: Sequence[str], where: dict[str, Any]
    ) -> list[dict[str, Any]]:
        q = self.dialect.quote
        sql = self.dialect.select(
            columns, self.dialect.table(self.schema, table), where=[f"{q(c)} = ?" for c in where]
        )
        cursor.execute(sql, *where.values())
        return [
            {c: v.rstrip() if isinstance(v, str) else v for c, v in zip(columns, row, strict=True)}
            for row in cursor.fetchall()
        ]

    def receipt_in_gp(self, cursor: pyodbc.Cursor, customer: str, number: str) -> bool:
        """Whether a receipt numbered ``number`` is in GP: posted, in history, or applied.

        The applications count too: eConnect enters a receipt into its batch (RM10201) until the
        batch is posted, while its applications are in RM20201 at once.
        """
        for table in gp.DOCUMENT_TABLES:
            if self._rows(
                cursor, table, ("DOCNUMBR",), {"CUSTNMBR": customer, "RMDTYPAL": 9, "DOCNUMBR": number}
            ):
                return True
        return any(
            self._rows(cursor, table, ("APFRDCNM",), {"APFRDCTY": 9, "APFRDCNM": number})
            for table in gp.APPLY_TABLES
        )

    def document(
        self, cursor: pyodbc.Cursor, remote_id: str, *, open_only: bool
    ) -> tuple[str, dict[str, Any]] | None:
        """(table, row) of a document by its id, open table first."""
        doc_type, number = parse_doc_id(remote_id)
        tables = gp.DOCUMENT_TABLES[:1] if open_only else gp.DOCUMENT_TABLES
        for table in tables:
            rows = self._rows(cursor, table, gp.DOCUMENT_COLUMNS, {"RMDTYPAL": doc_type, "DOCNUMBR": number})
            if rows:
                return table, rows[0]
        return None

    def customer(self, cursor: pyodbc.Cursor, customer: str) -> dict[str, Any] | None:
        rows = self._rows(cursor, gp.CUSTOMER_TABLE, gp.CUSTOMER_COLUMNS, {"CUSTNMBR": customer})
        return rows[0] if rows else None

    # -- operations ----------------------------------------------------------------------------

    def write(self, item: OutboundOp) -> WriteResult:
        """One operation in one transaction; its failure is its result unless the database is unreachable."""
        op = item.op
        try:
            if isinstance(op, PaymentApplication):
                if op.target_type is TargetType.PAYMENT or op.payment_id:
                    return self._apply_existing(item, op)
                return self._new_receipt(item, op)
            if isinstance(op, CollectionStatusUpdate):
                return self._collection_status(item, op)
            if isinstance(op, Note):
                return WriteResult(item.key, ok=False, error=PermanentError(NOTES_OFF))
            raise BadRecordError(f"GP write-back does not take {type(op).__name__} operations")
        except (BadRecordError, ConflictError) as exc:
            return WriteResult(item.key, ok=False, error=exc)
        except ValueError as exc:
            return WriteResult(item.key, ok=False, error=BadRecordError(str(exc)))

    def find(self, item: OutboundOp) -> WriteResult | None:
        """Whether ``item`` reached GP (see ``Connector.find_written``)."""
        op = item.op
        with self.db.transaction("looking up a write in GP") as cursor:
            if isinstance(op, PaymentApplication) and not (
                op.target_type is TargetType.PAYMENT or op.payment_id
            ):
                number = receipt_number(item.key)
                landed = self.receipt_in_gp(cursor, op.customer_remote_id, number)
                return WriteResult(item.key, ok=landed, remote_id=doc_id(9, number) if landed else None)
            if isinstance(op, PaymentApplication):
                return self._existing_landed(cursor, item, op)
            if isinstance(op, CollectionStatusUpdate):
                customer = self._status_customer(cursor, op)
                row = self.customer(cursor, customer) if customer else None
                field = self.settings.collection_status_field
                width = gp.text_length(gp.PROCEDURES["taUpdateCreateCustomerRcd"][f"@I_v{field}"]) or 20
                if row is not None and row[field] == status_text(op, width):
                    return WriteResult(item.key, ok=True, remote_id=customer, version=version_of(row))
                return None
        return None

    def _new_receipt(self, item: OutboundOp, op: PaymentApplication) -> WriteResult:
        number = receipt_number(item.key)
        try:
            return self._enter_receipt(item, op, number)
        except BadRecordError as exc:
            if not (exc.erp_code or "").startswith("23"):
                raise
            # A unique key refused the receipt: another process entered this number at the same moment.
            with self.db.transaction(f"looking up payment {number}") as cursor:
                if self.receipt_in_gp(cursor, op.customer_remote_id, number):
                    return WriteResult(item.key, ok=True, remote_id=doc_id(9, number), duplicate=True)
            raise

    def _enter_receipt(self, item: OutboundOp, op: PaymentApplication, number: str) -> WriteResult:
        customer = op.customer_remote_id
        with self.db.transaction(f"writing payment {number}") as cursor:
            if self.receipt_in_gp(cursor, customer, number):
                return WriteResult(item.key, ok=True, remote_id=doc_id(9, number), duplicate=True)
            if self.customer(cursor, customer) is None:
                raise BadRecordError(f"customer {customer} does not exist in GP (RM00101)")
            plan, currency = self._plan(cursor, op)
            on = _at_midnight(op.date)
            reference = (op.reference or "").strip()
            arguments: dict[str, Any] = {
                "@I_vCUSTNMBR": customer,
                "@I_vDOCNUMBR": number,
                "@I_vDOCDATE": on,
                "@I_vORTRXAMT": op.amount,
                "@I_vGLPOSTDT": on,
                "@I_vBACHNUMB": self.settings.batch_number,
                "@I_vCSHRCTYP": CASH_RECEIPT_TYPES[self.settings.cash_receipt_type],
                "@I_vCHEKBKID": self.settings.checkbook_id,
                "@I_vCHEKNMBR": reference[:20],
                "@I_vTRXDSCRN": ("arbridge " + reference)[:30].rstrip(),
                "@I_vCURNCYID": currency,
            }
            self.econnect(cursor, "taRMCashReceiptInsert", arguments, item.key)
            for from_type, from_number, to_type, to_number, amount, discount, writeoff in plan:
                self.econnect(
                    cursor,
                    "taRMApply",
                    {
                        "@I_vAPTODCNM": to_number,
                        "@I_vAPFRDCNM": number if from_type == 9 else from_number,
                        "@I_vAPPTOAMT": amount,
                        "@I_vAPFRDCTY": from_type,
                        "@I_vAPTODCTY": to_type,
                        "@I_vDISTKNAM": discount,
                        "@I_vWROFAMNT": writeoff,
                        "@I_vAPPLYDATE": on,
                        "@I_vGLPOSTDT": on,
                    },
                    item.key,
                )
        return WriteResult(item.key, ok=True, remote_id=doc_id(9, number))

    def _plan(
        self, cursor: pyodbc.Cursor, op: PaymentApplication
    ) -> tuple[list[tuple[int, str, int, str, Decimal, Decimal, Decimal]], str]:
        """The applications to make (credit memos first) and the GP currency ID, after checking the documents.

        Returns:
            (from type, from number, to type, to number, amount, discount, write-off) per apply, and
            the currency ID of the documents.
        """
        invoices: list[tuple[dict[str, Any], Decimal, Decimal, Decimal]] = []
        credits: list[tuple[dict[str, Any], Decimal]] = []
        currencies = set()
        for allocation in op.allocations:
            found = self.document(cursor, allocation.target_id, open_only=True)
            kind = "invoice" if allocation.target_type is TargetType.INVOICE else "credit memo"
            if found is None:
                raise BadRecordError(f"{kind} {allocation.target_id} is not open in GP (not in RM20101)")
            _, row = found
            doc_type = int(row["RMDTYPAL"])
            expected = gp.DOC_TYPES[Stream.INVOICES if kind == "invoice" else Stream.CREDIT_MEMOS]
            if doc_type not in expected:
                raise BadRecordError(
                    f"{allocation.target_id} is a GP {gp.TYPE_NAMES.get(doc_type)}, not an {kind}"
                )
            if row["CUSTNMBR"] != op.customer_remote_id:
                raise BadRecordError(
                    f"{kind} {allocation.target_id} belongs to customer {row['CUSTNMBR']}, "
                    f"not {op.customer_remote_id}"
                )
            if row["VOIDSTTS"]:
                raise BadRecordError(f"{kind} {allocation.target_id} is voided in GP")
            currencies.add(row["CURNCYID"])
            if kind == "invoice":
                discount, writeoff = allocation.discount or Decimal(0), allocation.writeoff or Decimal(0)
                if allocation.amount + discount + writeoff > row["CURTRXAM"]:
                    raise BadRecordError(
                        f"invoice {allocation.target_id} has {row['CURTRXAM'].normalize():f} open; "
                        "the payment applies "
                        f"{(allocation.amount + discount + writeoff).normalize():f}"
                    )
                invoices.append((row, allocation.amount, discount, writeoff))
            else:
                credit = -allocation.amount if allocation.amount < 0 else allocation.amount
                if credit > row["CURTRXAM"]:
                    raise BadRecordError(
                        f"credit memo {allocation.target_id} has {row['CURTRXAM'].normalize():f} left; "
                        f"the payment nets in {credit.normalize():f}"
                    )
                credits.append((row, credit))
        if len(currencies) > 1:
            raise BadRecordError(f"the documents are in different GP currencies: {sorted(currencies)}")
        plan: list[tuple[int, str, int, str, Decimal, Decimal, Decimal]] = []
        # What each invoice still takes in cash after the credit memos: [row, amount, discount, write-off].
        left: list[_Due] = [
            _Due(row, amount, discount, writeoff) for row, amount, discount, writeoff in invoices
        ]
        for credit_row, credit in credits:
            for due in left:
                if credit <= 0:
                    break
                take = min(credit, due.amount)
                if take <= 0:
                    continue
                plan.append(
                    (
                        int(credit_row["RMDTYPAL"]),
                        credit_row["DOCNUMBR"],
                        int(due.row["RMDTYPAL"]),
                        due.row["DOCNUMBR"],
                        take,
                        Decimal(0),
                        Decimal(0),
                    )
                )
                due.amount -= take
                credit -= take
            if credit > 0:
                raise BadRecordError("the credit memos net in more than the invoices of the payment take")
        cash = sum((due.amount for due in left), Decimal(0))
        if cash > op.amount:
            raise BadRecordError(f"the payment applies {cash.normalize():f} but is {op.amount.normalize():f}")
        for due in left:
            if due.amount > 0 or due.discount or due.writeoff:
                if due.amount <= 0:
                    raise BadRecordError(
                        f"invoice {doc_id(due.row['RMDTYPAL'], due.row['DOCNUMBR'])}: "
                        "a discount or write-off needs cash applied"
                    )
                plan.append(
                    (
                        9,
                        "",
                        int(due.row["RMDTYPAL"]),
                        due.row["DOCNUMBR"],
                        due.amount,
                        due.discount,
                        due.writeoff,
                    )
                )
        return plan, (next(iter(currencies)) if currencies else "")

    def _apply_existing(self, item: OutboundOp, op: PaymentApplication) -> WriteResult:
        payment_id = op.payment_id or op.target_id
        doc_type, number = parse_doc_id(payment_id)
        with self.db.transaction(f"applying payment {payment_id}") as cursor:
            found = self.document(cursor, payment_id, open_only=True)
            if found is None or doc_type != 9:
                raise BadRecordError(f"payment {payment_id} is not open in GP (not in RM20101)")
            _, row = found
            if op.base_version is not None and version_of(row) != op.base_version:
                landed = self._existing_landed(cursor, item, op)
                if landed is not None and landed.ok:
                    return WriteResult(item.key, ok=True, remote_id=payment_id, duplicate=True)
                raise ConflictError(f"payment {payment_id} changed in GP since the decision")
            plan, _ = self._plan(cursor, op.model_copy(update={"customer_remote_id": row["CUSTNMBR"]}))
            if any(p[0] != 9 for p in plan):
                raise BadRecordError("credit memos cannot be netted into an existing payment's application")
            on = _at_midnight(op.date)
            for _, _, to_type, to_number, amount, discount, writeoff in plan:
                self.econnect(
                    cursor,
                    "taRMApply",
                    {
                        "@I_vAPTODCNM": to_number,
                        "@I_vAPFRDCNM": number,
                        "@I_vAPPTOAMT": amount,
                        "@I_vAPFRDCTY": 9,
                        "@I_vAPTODCTY": to_type,
                        "@I_vDISTKNAM": discount,
                        "@I_vWROFAMNT": writeoff,
                        "@I_vAPPLYDATE": on,
                        "@I_vGLPOSTDT": on,
                    },
                    item.key,
                )
        return WriteResult(item.key, ok=True, remote_id=payment_id)

    def _existing_landed(
        self, cursor: pyodbc.Cursor, item: OutboundOp, op: PaymentApplication
    ) -> WriteResult | None:
        """Applications of an existing payment carry no key: they landed if every pair holds its amount."""
        payment_id = op.payment_id or op.target_id
        _, number = parse_doc_id(payment_id)
        for allocation in op.allocations:
            to_type, to_number = parse_doc_id(allocation.target_id)
            applied = Decimal(0)
            for table in gp.APPLY_TABLES:
                for row in self._rows(
                    cursor,
                    table,
                    ("APPTOAMT",),
                    {"APFRDCTY": 9, "APFRDCNM": number, "APTODCTY": to_type, "APTODCNM": to_number},
                ):
                    applied += row["APPTOAMT"]
            if applied < allocation.amount:
                found = self.document(cursor, payment_id, open_only=False)
                if (
                    found is not None
                    and op.base_version is not None
                    and version_of(found[1]) == op.base_version
                ):
                    return WriteResult(item.key, ok=False)
                return None
        return WriteResult(item.key, ok=True, remote_id=payment_id)

    def _status_customer(self, cursor: pyodbc.Cursor, op: CollectionStatusUpdate) -> str | None:
        if op.target_type is TargetType.CUSTOMER:
            return op.target_id
        found = self.document(cursor, op.target_id, open_only=False)
        return found[1]["CUSTNMBR"] if found else None

    def _collection_status(self, item: OutboundOp, op: CollectionStatusUpdate) -> WriteResult:
        field = self.settings.collection_status_field
        parameter = f"@I_v{field}"
        width = gp.text_length(gp.PROCEDURES["taUpdateCreateCustomerRcd"][parameter]) or 20
        text = status_text(op, width)
        with self.db.transaction(
            f"writing the collection status of {op.target_type.value} {op.target_id}"
        ) as cursor:
            if op.target_type is TargetType.CUSTOMER:
                target = self.customer(cursor, op.target_id)
                if target is None:
                    raise BadRecordError(f"customer {op.target_id} does not exist in GP (RM00101)")
                customer_id = op.target_id
            elif op.target_type is TargetType.INVOICE:
                found = self.document(cursor, op.target_id, open_only=False)
                if found is None:
                    raise BadRecordError(f"invoice {op.target_id} does not exist in GP (RM20101, RM30101)")
                target = found[1]
                customer_id = target["CUSTNMBR"]
            else:
                raise BadRecordError(
                    f"GP keeps the collection status on the customer; "
                    f"a {op.target_type.value} has no such field"
                )
            customer = self.customer(cursor, customer_id)
            if customer is None:
                raise BadRecordError(f"customer {customer_id} does not exist in GP (RM00101)")
            if customer[field] == text:
                return WriteResult(
                    item.key, ok=True, remote_id=customer_id, version=version_of(customer), duplicate=True
                )
            if op.base_version is not None and version_of(target) != op.base_version:
                raise ConflictError(
                    f"{op.target_type.value} {op.target_id} changed in GP since the decision was made"
                )
            self.econnect(
                cursor,
                "taUpdateCreateCustomerRcd",
                {"@I_vCUSTNMBR": customer_id, parameter: text, "@I_vUpdateIfExists": 1},
                item.key,
            )
            after = self.customer(cursor, customer_id)
        return WriteResult(
            item.key, ok=True, remote_id=customer_id, version=version_of(after) if after else None
        )
