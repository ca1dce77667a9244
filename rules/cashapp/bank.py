"""Bank statement readers: camt.053 (ISO 20022), MT940 and BAI2 credit lines as payments to match.

Only incoming, booked, non-reversed credits become payments: debits, pending entries and reversals
are not cash the customer sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import mt940
from bai2 import bai2 as bai2_io
from bai2.constants import TypeCodeLevel, TypeCodeTransaction
from lxml import etree

from rules.cashapp.model import PaymentInput

# The parser logs each line it cannot read with its whole regular expression; StatementError says
# which line of which file instead.
logging.getLogger("mt940").setLevel(logging.CRITICAL)


class StatementError(ValueError):
    """A statement file that cannot be read; the message says which file and what is wrong.

    ``line`` is the line of the file the problem is on, when the reader can tell.
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _read_bytes(source: str | Path | bytes) -> bytes:
    if isinstance(source, bytes):
        return source
    return Path(source).read_bytes()


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    value = " ".join(text.split())
    return value or None


# --------------------------------------------------------------------------------------------------
# camt.053
# --------------------------------------------------------------------------------------------------

_CAMT_NS = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.0([2-9])$")


class _Camt:
    """Namespace-aware paths for one camt.053 version."""

    def __init__(self, ns: str) -> None:
        self.ns = ns

    def path(self, path: str) -> str:
        return "/".join(f"{{{self.ns}}}{step}" for step in path.split("/"))

    def find(self, el: Any, path: str) -> Any:
        return el.find(self.path(path))

    def text(self, el: Any, *paths: str) -> str | None:
        for path in paths:
            found = el.find(self.path(path))
            if found is not None and found.text and found.text.strip():
                return str(found.text.strip())
        return None

    def texts(self, el: Any, path: str) -> list[str]:
        return [str(e.text.strip()) for e in el.iterfind(self.path(path)) if e.text and e.text.strip()]


def read_camt053(source: str | Path | bytes) -> list[PaymentInput]:
    """Credit lines of a camt.053 bank-to-customer statement (versions 001.02 to 001.08).

    A batch-booked entry with several transaction details gives one payment per transaction, since
    each has its own payer and remittance information.

    Raises:
        StatementError: not a camt.053 document or a malformed one.
    """
    try:
        root = etree.fromstring(_read_bytes(source), parser=etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError as exc:
        raise StatementError(f"camt.053: not well-formed XML ({exc})", line=exc.lineno) from exc
    ns = etree.QName(root).namespace or ""
    if not _CAMT_NS.match(ns):
        raise StatementError(f"camt.053: unexpected namespace {ns!r} (expected camt.053.001.02 to .08)")
    c = _Camt(ns)
    payments: list[PaymentInput] = []
    for s_no, stmt in enumerate(root.iterfind(c.path("BkToCstmrStmt/Stmt")), start=1):
        stmt_id = c.text(stmt, "Id") or f"STMT{s_no}"
        stmt_ccy = c.text(stmt, "Acct/Ccy")
        for e_no, entry in enumerate(stmt.iterfind(c.path("Ntry")), start=1):
            if c.text(entry, "CdtDbtInd") != "CRDT" or c.text(entry, "RvslInd") in ("true", "1"):
                continue
            status = c.text(entry, "Sts", "Sts/Cd")
            if status is not None and status.upper() not in ("BOOK", "BOOKED"):
                continue
            entry_amt = c.find(entry, "Amt")
            booked = c.text(entry, "ValDt/Dt", "BookgDt/Dt", "ValDt/DtTm", "BookgDt/DtTm")
            if booked is None:
                raise StatementError(f"camt.053 {stmt_id} entry {e_no}: no booking or value date")
            when = date.fromisoformat(booked[:10])
            entry_ref = c.text(entry, "AcctSvcrRef", "NtryRef")
            entry_info = c.text(entry, "AddtlNtryInf")
            details = list(entry.iterfind(c.path("NtryDtls/TxDtls")))
            for t_no, tx in enumerate(details or [None], start=1):
                amt_el = None
                if tx is not None:
                    if c.text(tx, "CdtDbtInd") == "DBIT":
                        continue
                    amt_el = c.find(tx, "Amt")
                    if amt_el is None:
                        amt_el = c.find(tx, "AmtDtls/TxAmt/Amt")
                if amt_el is None and len(details) <= 1:
                    amt_el = entry_amt
                if amt_el is None or not amt_el.text:
                    raise StatementError(f"camt.053 {stmt_id} entry {e_no}: no amount for transaction {t_no}")
                try:
                    amount = Decimal(amt_el.text.strip())
                except InvalidOperation as exc:
                    raise StatementError(
                        f"camt.053 {stmt_id} entry {e_no}: bad amount {amt_el.text!r}"
                    ) from exc
                currency = amt_el.get("Ccy") or stmt_ccy or ""
                name = account = None
                refs: list[str] = []
                tx_ref = None
                if tx is not None:
                    name = c.text(tx, "RltdPties/Dbtr/Nm", "RltdPties/Dbtr/Pty/Nm",
                                  "RltdPties/UltmtDbtr/Nm", "RltdPties/UltmtDbtr/Pty/Nm")
                    account = c.text(tx, "RltdPties/DbtrAcct/Id/IBAN", "RltdPties/DbtrAcct/Id/Othr/Id")
                    refs += c.texts(tx, "RmtInf/Ustrd")
                    refs += c.texts(tx, "RmtInf/Strd/RfrdDocInf/Nb")
                    refs += c.texts(tx, "RmtInf/Strd/CdtrRefInf/Ref")
                    refs += c.texts(tx, "RmtInf/Strd/AddtlRmtInf")
                    e2e = c.text(tx, "Refs/EndToEndId")
                    if e2e and e2e.upper() != "NOTPROVIDED":
                        refs.append(e2e)
                    info = c.text(tx, "AddtlTxInf")
                    if info:
                        refs.append(info)
                    tx_ref = c.text(tx, "Refs/AcctSvcrRef", "Refs/TxId")
                if not refs and entry_info:
                    refs.append(entry_info)
                pid = tx_ref or (f"{entry_ref}-{t_no}" if entry_ref and len(details) > 1 else entry_ref)
                payments.append(PaymentInput(
                    payment_id=pid or f"{stmt_id}-{e_no}-{t_no}",
                    date=when,
                    amount=amount,
                    currency=currency,
                    payer_name=_clean(name),
                    payer_account=_clean(account),
                    reference=_clean(" ".join(refs)),
                ))
    return payments


# --------------------------------------------------------------------------------------------------
# MT940
# --------------------------------------------------------------------------------------------------

_SWIFT_KEYS = ("TRTP", "IBAN", "BIC", "NAME", "REMI", "EREF", "MARF", "CSID", "ORDP", "ID", "ADDR",
               "CDTRREFTP", "CDTRREF", "PURP", "ISDT", "RTRN", "SVCL", "BENM", "ULTD", "ULTB")
_SWIFT_SPLIT = re.compile(r"/(" + "|".join(_SWIFT_KEYS) + r")/")


def _swift_fields(text: str) -> dict[str, str]:
    """``/KEY/value`` pairs of an unstructured-by-'?' :86: field (the Dutch and SWIFT convention)."""
    parts = _SWIFT_SPLIT.split(text)
    fields: dict[str, str] = {}
    for i in range(1, len(parts) - 1, 2):
        value = parts[i + 1].strip("/ ")
        if parts[i] == "REMI":
            value = re.sub(r"^(USTD|STRD)//?", "", value)
        fields.setdefault(parts[i], value)
    return fields


def read_mt940(source: str | Path | bytes) -> list[PaymentInput]:
    """Credit lines of an MT940 statement, via the ``mt-940`` package.

    Understands both ways banks fill ``:86:``: German ``?20``-style sub-fields (payer name in
    ``?32/?33``, account in ``?31``, purpose in ``?20-?29``) and SWIFT ``/NAME/…/REMI/…`` keys.

    Raises:
        StatementError: the file is not MT940.
    """
    raw = _read_bytes(source)
    text = raw.decode("utf-8-sig", errors="replace") if raw[:3] == b"\xef\xbb\xbf" else raw.decode("latin-1")
    try:
        statements = mt940.parse(text, options=mt940.Options.all())
    except Exception as exc:  # the parser raises plain exceptions of several kinds
        fragment = next((a for a in _strings(exc.args) if a.strip() and a in text), None)
        if fragment is None:
            raise StatementError(f"MT940: cannot parse ({type(exc).__name__})") from exc
        line = text[: text.index(fragment)].count("\n") + 1
        raise StatementError(f"MT940: cannot read {fragment.strip()!r}", line=line) from exc
    payments: list[PaymentInput] = []
    account_id = str(statements.data.get("account_identification") or "")
    for n, tx in enumerate(statements, start=1):
        data = tx.data
        amount = data["amount"].amount
        status = str(data.get("status") or "")
        if amount <= 0 or "D" in status.upper():
            continue
        details = str(data.get("transaction_details") or "")
        name = data.get("applicant_name")
        account = data.get("applicant_iban") or data.get("gvc_applicant_iban")
        purpose = data.get("purpose")
        refs: list[str] = []
        if purpose:
            refs.append(str(purpose))
        if data.get("additional_purpose"):
            refs.append(str(data["additional_purpose"]))
        if not purpose and details:
            fields = _swift_fields(details)
            if fields:
                name = name or fields.get("NAME")
                account = account or fields.get("IBAN")
                refs.append(fields.get("REMI") or "")
                if fields.get("EREF", "").upper() not in ("", "NOTPROVIDED"):
                    refs.append(fields["EREF"])
            else:
                refs.append(details)
        cref = data.get("customer_reference")
        if cref and str(cref).upper() not in ("NONREF", "NOTPROVIDED"):
            refs.append(str(cref))
        d = data["date"]
        bank_ref = data.get("bank_reference")
        payments.append(PaymentInput(
            payment_id=str(bank_ref) if bank_ref and bank_ref != "NONREF" else f"{account_id}-{n}",
            date=date(d.year, d.month, d.day),
            amount=Decimal(amount),
            currency=str(data["amount"].currency or data.get("currency")),
            payer_name=_clean(str(name)) if name else None,
            payer_account=_clean(str(account)) if account else None,
            reference=_clean(" ".join(r for r in refs if r)),
        ))
    return payments


# --------------------------------------------------------------------------------------------------
# BAI2
# --------------------------------------------------------------------------------------------------

_MINOR_UNITS = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}
_BAI_NAME = re.compile(
    r"(?:ORIG CO NAME[:=]|ORIGINATOR[:=]|ORG=|B/O[:=]?|BY ORDER OF[:=]?|IND NAME[:=])\s*"
    r"(.+?)(?=\s+(?:ORIG ID|CO ID|ENTRY DESC|ENTRY|SEC|IND ID|IND NAME|OBI|RMT|REF|BBI|OGB|BNF|ORIG)\b[:=]"
    r"|\s+(?:CHECK|CHK|INV|INVOICE)\b|$)"
)


def read_bai2(source: str | Path | bytes) -> list[PaymentInput]:
    """Credit detail lines of a BAI2 file, via the ``bai2`` package (control totals are checked).

    Amounts carry no decimal point in BAI2; they are scaled by the currency's minor units.

    Raises:
        StatementError: the file is not valid BAI2 or its totals do not add up.
    """
    text = _read_bytes(source).decode("latin-1")
    try:
        parsed = bai2_io.parse_from_string(text)
    except Exception as exc:  # the package raises its own and plain exceptions
        raise StatementError(f"BAI2: cannot parse ({exc})") from exc
    payments: list[PaymentInput] = []
    for group in parsed.children:
        as_of = group.header.as_of_date
        for account in group.children:
            currency = account.header.currency or group.header.currency or "USD"
            for n, tx in enumerate(account.children, start=1):
                code = tx.type_code
                if code.transaction != TypeCodeTransaction.credit or code.level != TypeCodeLevel.detail:
                    continue
                units = _MINOR_UNITS.get(currency, 2)
                amount = Decimal(int(tx.amount or 0)).scaleb(-units)
                if amount <= 0:
                    continue
                text_field = _clean(tx.text) or ""
                match = _BAI_NAME.search(text_field)
                refs = [r for r in (tx.customer_reference, text_field) if r]
                payments.append(PaymentInput(
                    payment_id=tx.bank_reference or f"{account.header.customer_account_number}-{as_of}-{n}",
                    date=as_of,
                    amount=amount,
                    currency=currency,
                    payer_name=_clean(match.group(1)) if match else None,
                    reference=_clean(" ".join(refs)),
                ))
    return payments


def _strings(args: Any) -> Iterator[str]:
    """The strings among an exception's (nested) arguments: where a parser says what it choked on."""
    for arg in args:
        if isinstance(arg, str):
            yield arg
        elif isinstance(arg, tuple | list):
            yield from _strings(arg)


def sniff_format(head: bytes) -> str:
    """Which payments format a file's first bytes look like: ``camt053``, ``bai2``, ``mt940`` or ``csv``."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<"):
        return "camt053"
    if text.startswith(b"01,"):
        return "bai2"
    if text.startswith((b":20:", b"{1:", b":940:")) or b"\n:61:" in head or b"\n:20:" in head:
        return "mt940"
    return "csv"


def read_statement(source: str | Path) -> list[PaymentInput]:
    """Read any supported bank statement file, chosen by its content, not its name."""
    raw = _read_bytes(source)
    kind = sniff_format(raw[:4096])
    readers = {"camt053": read_camt053, "bai2": read_bai2, "mt940": read_mt940}
    if kind not in readers:
        raise StatementError(f"{source}: not a camt.053, BAI2 or MT940 file")
    try:
        return readers[kind](raw)
    except StatementError as exc:
        where = f"{source}:{exc.line}" if exc.line else str(source)
        raise StatementError(f"{where}: {exc}", line=exc.line) from exc
