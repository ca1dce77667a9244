"""Bank statement readers: camt.053 (ISO 20022), MT940 and BAI2 credit lines as payments to match.

Only incoming, booked, non-reversed credits become payments: debits, pending entries and reversals
are not cash the customer sent.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import mt940
from bai2 import bai2 as bai2_io
from bai2.constants import TypeCodeLevel, TypeCodeTransaction
from lxml import etree

from mapping.money import check_amount, minor_units, parse_amount
from rules.cashapp.model import PaymentInput


class StatementError(ValueError):
    """A statement file that cannot be read; the message says which file and what is wrong."""


@dataclass(frozen=True)
class RejectedLine:
    """A statement line set aside, with where it is in the file and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


class StatementLines(list[PaymentInput]):
    """The credit lines of a statement; ``rejected`` holds the lines that could not be used.

    One bad line (an amount of ``NaN``, ``1E+30``, a negative credit) is set aside with the
    reason; the rest of the file is read.
    """

    def __init__(self, lines: Iterable[PaymentInput] = (), rejected: Iterable[RejectedLine] = ()) -> None:
        super().__init__(lines)
        self.rejected: list[RejectedLine] = list(rejected)


def _collect(items: Iterable[PaymentInput | RejectedLine]) -> StatementLines:
    out = StatementLines()
    for item in items:
        if isinstance(item, RejectedLine):
            out.rejected.append(item)
        else:
            out.append(item)
    return out


def credit_amount(value: Decimal | str, currency: str | None) -> Decimal:
    """A statement credit's amount: a usable amount in the currency, and more than zero.

    Raises:
        ValueError: why the line cannot be used.
    """
    amount = parse_amount(value, currency) if isinstance(value, str) else check_amount(value, currency)
    if amount <= 0:
        raise ValueError(f"a credit of {amount} is not money received")
    return amount


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

    def tag(self, name: str) -> str:
        return f"{{{self.ns}}}{name}"

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


def read_camt053(source: str | Path | bytes) -> StatementLines:
    """Credit lines of a camt.053 bank-to-customer statement (versions 001.02 to 001.08).

    A batch-booked entry with several transaction details gives one payment per transaction, since
    each has its own payer and remittance information. A line whose amount cannot be used is in
    ``rejected`` with the reason.

    Raises:
        StatementError: not a camt.053 document or a malformed one.
    """
    return _collect(iter_camt053(source))


def iter_camt053(source: str | Path | bytes) -> Iterator[PaymentInput | RejectedLine]:
    """The credit lines of a camt.053 statement one by one, and each line set aside, as they are read.

    The file is read as a stream of entries (``lxml.etree.iterparse``), each dropped once read, so
    memory stays flat however large the statement is.

    Raises:
        StatementError: not a camt.053 document or a malformed one (raised when reached).
    """
    stream: Any = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    events = etree.iterparse(stream, events=("start", "end"), resolve_entities=False, no_network=True)
    c: _Camt | None = None
    stmt_id, stmt_ccy, s_no, e_no = "", None, 0, 0
    try:
        for event, el in events:
            if event == "start":
                if c is None:
                    c = _Camt(etree.QName(el).namespace or "")
                elif el.tag == c.tag("Stmt"):
                    s_no += 1
                    stmt_id, stmt_ccy, e_no = f"STMT{s_no}", None, 0
                continue
            assert c is not None
            if not _CAMT_NS.match(c.ns):
                # Told at the first element read, so a document broken from the start says so first.
                raise StatementError(
                    f"camt.053: unexpected namespace {c.ns!r} (expected camt.053.001.02 to .08)"
                )
            parent = el.getparent()
            if el.tag == c.tag("Id") and parent is not None and parent.tag == c.tag("Stmt") and el.text:
                stmt_id = el.text.strip() or stmt_id
            elif el.tag == c.tag("Ccy") and parent is not None and parent.tag == c.tag("Acct") and el.text:
                stmt_ccy = el.text.strip()
            elif el.tag == c.tag("Ntry"):
                e_no += 1
                yield from _camt_entry(c, el, stmt_id, stmt_ccy, e_no)
                # The entry is read: free it and the entries before it.
                el.clear(keep_tail=True)
                while el.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        raise StatementError(f"camt.053: not well-formed XML ({exc})") from exc
    if c is None:
        raise StatementError("camt.053: empty document")


def _camt_entry(
    c: _Camt, entry: Any, stmt_id: str, stmt_ccy: str | None, e_no: int
) -> Iterator[PaymentInput | RejectedLine]:
    if c.text(entry, "CdtDbtInd") != "CRDT" or c.text(entry, "RvslInd") in ("true", "1"):
        return
    status = c.text(entry, "Sts", "Sts/Cd")
    if status is not None and status.upper() not in ("BOOK", "BOOKED"):
        return
    where = f"camt.053 {stmt_id} entry {e_no}"
    entry_amt = c.find(entry, "Amt")
    booked = c.text(entry, "ValDt/Dt", "BookgDt/Dt", "ValDt/DtTm", "BookgDt/DtTm")
    if booked is None:
        yield RejectedLine(where, "no booking or value date")
        return
    try:
        when = date.fromisoformat(booked[:10])
    except ValueError:
        yield RejectedLine(where, f"booking date {booked!r} is not a date")
        return
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
        here = where if len(details) <= 1 else f"{where} transaction {t_no}"
        if amt_el is None or not amt_el.text:
            yield RejectedLine(here, "no amount")
            continue
        currency = amt_el.get("Ccy") or stmt_ccy or ""
        try:
            amount = credit_amount(amt_el.text, currency)
        except ValueError as exc:
            yield RejectedLine(here, str(exc))
            continue
        name = account = None
        refs: list[str] = []
        tx_ref = None
        if tx is not None:
            name = c.text(tx, "RltdPties/Dbtr/Nm", "RltdPties/Dbtr/Pty/Nm",
                          "RltdPties/UltmtDbtr/Nm", "RltdPties/UltmtDbtr/Pty/Nm")  # fmt: skip
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
        yield PaymentInput(
            payment_id=pid or f"{stmt_id}-{e_no}-{t_no}",
            date=when,
            amount=amount,
            currency=currency,
            payer_name=_clean(name),
            payer_account=_clean(account),
            reference=_clean(" ".join(refs)),
        )


# --------------------------------------------------------------------------------------------------
# MT940
# --------------------------------------------------------------------------------------------------

_SWIFT_KEYS = (
    "TRTP",
    "IBAN",
    "BIC",
    "NAME",
    "REMI",
    "EREF",
    "MARF",
    "CSID",
    "ORDP",
    "ID",
    "ADDR",
    "CDTRREFTP",
    "CDTRREF",
    "PURP",
    "ISDT",
    "RTRN",
    "SVCL",
    "BENM",
    "ULTD",
    "ULTB",
)
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


_TAG = re.compile(r"^:(\d\d[A-Z]?):")
# Field 61 as SWIFT defines it: date, [entry date], mark (C, D, RC, RD), [funds code], amount with a
# decimal comma, transaction type. The mt-940 package reads a damaged amount (``1O0,0X``) as part
# of one, so each field 61 is checked here first.
_FIELD_61 = re.compile(r"^:61:\d{6}(?:\d{4})?(R?[CD])[A-Z]?(\d{1,15},\d*)[SNF][A-Z0-9]{3}")
_OPENING = re.compile(r"^:60[FM]:[CD]\d{6}([A-Z]{3})")


def _screen_mt940(text: str) -> tuple[str, list[RejectedLine]]:
    """The statement without its unusable field-61 lines (each with its :86:), and those lines.

    A field 61 whose amount is not SWIFT's digits-and-comma, has more decimals than the account's
    currency, or is a credit of zero is set aside with its line number; the rest is read as usual.
    """
    lines = text.splitlines()
    kept: list[str] = []
    rejected: list[RejectedLine] = []
    currency: str | None = None
    skipping = False
    for n, line in enumerate(lines, start=1):
        tag = _TAG.match(line)
        if tag is None:
            if not skipping:
                kept.append(line)
            continue
        if tag.group(1) == "86" and skipping:
            continue  # the rejected line's details go with it
        skipping = False
        opening = _OPENING.match(line)
        if opening:
            currency = opening.group(1)
        if tag.group(1) == "61":
            reason = _field_61_problem(line, currency)
            if reason is not None:
                rejected.append(RejectedLine(f"MT940 line {n}", reason))
                skipping = True
                continue
        kept.append(line)
    return "\n".join(kept) + "\n", rejected


def _field_61_problem(line: str, currency: str | None) -> str | None:
    found = _FIELD_61.match(line)
    if found is None:
        return f"field 61 {line[4:40]!r}: the amount is not digits with a decimal comma"
    mark, amount_text = found.groups()
    try:
        if mark in ("C", "RD"):
            credit_amount(amount_text.replace(",", "."), currency)
        else:
            check_amount(Decimal(amount_text.replace(",", ".")), currency)
    except ValueError as exc:
        return str(exc)
    return None


def read_mt940(source: str | Path | bytes) -> StatementLines:
    """Credit lines of an MT940 statement, via the ``mt-940`` package.

    Understands both ways banks fill ``:86:``: German ``?20``-style sub-fields (payer name in
    ``?32/?33``, account in ``?31``, purpose in ``?20-?29``) and SWIFT ``/NAME/…/REMI/…`` keys.
    A field 61 whose amount cannot be used is in ``rejected`` with its line and the reason.

    Raises:
        StatementError: the file is not MT940.
    """
    raw = _read_bytes(source)
    text = raw.decode("utf-8-sig", errors="replace") if raw[:3] == b"\xef\xbb\xbf" else raw.decode("latin-1")
    text, rejected = _screen_mt940(text)
    try:
        statements = mt940.parse(text, options=mt940.Options.all())
    except Exception as exc:  # the parser raises plain exceptions of several kinds
        raise StatementError(f"MT940: cannot parse ({exc})") from exc
    payments = StatementLines(rejected=rejected)
    account_id = str(statements.data.get("account_identification") or "")
    for n, tx in enumerate(statements, start=1):
        data = tx.data
        amount = data["amount"].amount
        status = str(data.get("status") or "")
        if amount <= 0 or "D" in status.upper():
            continue
        currency = str(data["amount"].currency or data.get("currency"))
        try:
            amount = credit_amount(Decimal(amount), currency)
        except ValueError as exc:
            payments.rejected.append(RejectedLine(f"MT940 transaction {n}", str(exc)))
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
        payments.append(
            PaymentInput(
                payment_id=str(bank_ref) if bank_ref and bank_ref != "NONREF" else f"{account_id}-{n}",
                date=date(d.year, d.month, d.day),
                amount=amount,
                currency=currency,
                payer_name=_clean(str(name)) if name else None,
                payer_account=_clean(str(account)) if account else None,
                reference=_clean(" ".join(r for r in refs if r)),
            )
        )
    return payments


# --------------------------------------------------------------------------------------------------
# BAI2
# --------------------------------------------------------------------------------------------------

_BAI_NAME = re.compile(
    r"(?:ORIG CO NAME[:=]|ORIGINATOR[:=]|ORG=|B/O[:=]?|BY ORDER OF[:=]?|IND NAME[:=])\s*"
    r"(.+?)(?=\s+(?:ORIG ID|CO ID|ENTRY DESC|ENTRY|SEC|IND ID|IND NAME|OBI|RMT|REF|BBI|OGB|BNF|ORIG)\b[:=]"
    r"|\s+(?:CHECK|CHK|INV|INVOICE)\b|$)"
)


def _screen_bai2(text: str) -> tuple[str, list[RejectedLine]]:
    """The file without its detail records whose amount is not a whole number, and those records.

    A BAI2 amount is digits only (minor units). A record with anything else cannot count towards
    its account's control total either, so once one is set aside the totals are not checked.
    """
    kept: list[str] = []
    rejected: list[RejectedLine] = []
    skipping = False
    for n, line in enumerate(text.splitlines(), start=1):
        code = line.split(",", 1)[0].strip()
        if code == "88" and skipping:
            continue
        skipping = False
        if code == "16":
            fields = line.split(",")
            amount = fields[2].strip() if len(fields) > 2 else ""
            if amount and not amount.isdigit():
                rejected.append(
                    RejectedLine(f"BAI2 line {n}", f"amount {amount!r} is not a whole number of minor units")
                )
                skipping = True
                continue
        kept.append(line)
    return "\n".join(kept) + "\n", rejected


def read_bai2(source: str | Path | bytes) -> StatementLines:
    """Credit detail lines of a BAI2 file, via the ``bai2`` package (control totals are checked).

    Amounts carry no decimal point in BAI2; they are scaled by the currency's minor units. A detail
    record whose amount cannot be used is in ``rejected`` with its line and the reason.

    Raises:
        StatementError: the file is not valid BAI2 or its totals do not add up.
    """
    text, rejected = _screen_bai2(_read_bytes(source).decode("latin-1"))
    try:
        parsed = bai2_io.parse_from_string(text, check_integrity=not rejected)
    except Exception as exc:  # the package raises its own and plain exceptions
        raise StatementError(f"BAI2: cannot parse ({exc})") from exc
    payments = StatementLines(rejected=rejected)
    for group in parsed.children:
        as_of = group.header.as_of_date
        for account in group.children:
            currency = account.header.currency or group.header.currency or "USD"
            for n, tx in enumerate(account.children, start=1):
                code = tx.type_code
                if code.transaction != TypeCodeTransaction.credit or code.level != TypeCodeLevel.detail:
                    continue
                if not tx.amount:
                    continue
                try:
                    amount = credit_amount(Decimal(int(tx.amount)).scaleb(-minor_units(currency)), currency)
                except ValueError as exc:
                    where = tx.bank_reference or f"{account.header.customer_account_number} detail {n}"
                    payments.rejected.append(RejectedLine(f"BAI2 {where}", str(exc)))
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
                ))  # fmt: skip
    return payments


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


def read_statement(source: str | Path) -> StatementLines:
    """Read any supported bank statement file, chosen by its content, not its name."""
    return _collect(iter_statement(source))


def iter_statement(source: str | Path) -> Iterator[PaymentInput | RejectedLine]:
    """The lines of any supported statement file as they are read (a camt.053 is streamed).

    Raises:
        StatementError: the file is not a camt.053, BAI2 or MT940 statement, or cannot be read.
    """
    with open(source, "rb") as fh:
        kind = sniff_format(fh.read(4096))
    if kind == "camt053":
        yield from iter_camt053(source)
        return
    if kind not in ("bai2", "mt940"):
        raise StatementError(f"{source}: not a camt.053, BAI2 or MT940 file")
    # BAI2 and MT940 files are small (a day's lines of one account) and their parsers take text.
    lines = read_bai2(source) if kind == "bai2" else read_mt940(source)
    yield from lines
    yield from lines.rejected
